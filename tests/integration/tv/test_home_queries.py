"""The TV home's cheap path: one query for a household's figures, box sightings written together later."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.exc import OperationalError

from core.clock import LOCAL_TZ, UTC, to_local
from core.community import checkins, market, notices, points
from core.community.tvboxes import mark_seen
from core.community.tvhome import home_facts
from core.db import transaction
from core.models.tvbox import TvBox
from core.people.directory import place_of_household
from core.phone import helpcalls
from core.requests import followup, reminders
from core.requests.followup import followup_sweep
from core.requests.workorders import resolve_request, submit_request
from tests.integration.tv.conftest import pair_client
from tvportal import seen as seen_module
from tvportal.seen import SeenBoxes, seen_boxes_for


def _by_services(session, household_id: int, now: dt.datetime) -> tuple:
    """What each service answers on its own for one household."""
    place = place_of_household(session, household_id)
    return (
        place, points.balance(session, household_id),
        notices.unread_count(session, now=now, household_id=household_id, place=place),
        checkins.checked_in_today(session, now=now, household_id=household_id) is not None,
        bool(followup.pending_followups_for_household(session, household_id)),
        bool(reminders.reminders_for_household_today(session, household_id, now)),
        helpcalls.active_help_call(session, now=now, household_id=household_id, active_minutes=30) is not None,
        len(market.open_sell_requests(session, household_id)),
    )


def _by_one_query(session, household_id: int, now: dt.datetime) -> tuple:
    facts = home_facts(session, household_id=household_id, now=now, active_call_minutes=30)
    assert facts is not None
    return (facts.place, facts.balance, facts.unread, facts.checked_in, facts.has_followup, facts.has_reminders,
            facts.has_active_call, facts.selling)


def test_the_one_home_query_agrees_with_every_service(services, world_ids, tv_client):
    """Households in different states (points, unread and read notices, check-in, a follow-up question, a
    reminder, a help call going on, two 帮我卖 asks, a notice of another 小院) read the same through the one query."""
    clock = services.clock
    now = clock.now()
    first, second, third = world_ids.households[:3]
    with transaction(services.session_factory) as session:
        points.award_points(session, now=now, household_id=first, delta=7, category="环境卫生", reason="门前干净")
        place = place_of_household(session, first)
        read = notices.post_notice(session, now=now, title="全镇通知", body="", category="policy", audience="town",
                                   town_id=place.town_id)
        notices.post_notice(session, now=now, title="本院通知", body="", category="notice", audience="courtyard",
                            town_id=place.town_id, village_id=place.village_id, courtyard_id=place.courtyard_id)
        notices.mark_read(session, now=now, household_id=first, notice_id=read.id)
        checkins.check_in(session, now=now, household_id=second)
        day = to_local(now).date()
        reminders.create_reminder(session, now=now, actor=None, kind="medication", text="吃药",
                                  at=dt.datetime(day.year, day.month, day.day, 23, tzinfo=LOCAL_TZ).astimezone(UTC),
                                  resident_id=world_ids.residents[0])
        req = submit_request(session, now=now, due_hours=services.settings.requests.due_hours,
                             resident_id=world_ids.residents[0], type="repair", channel="phone", text="水管爆了")
        resolve_request(session, now=now, actor=None, request_id=req.id, note="已修")
    clock.advance(minutes=31)
    followup_sweep(services)
    now = clock.now()
    with transaction(services.session_factory) as session:
        helpcalls.start_help_call(session, now=now, household_id=third)
    for item in ("花椒", "鸡蛋"):
        market.ask_to_sell(services.session_factory, now=now, household_id=second, item=item,
                           due_hours=services.settings.requests.due_hours)
    with services.session_factory() as session:
        answers = {h: _by_services(session, h, now) for h in world_ids.households}
        assert {h: _by_one_query(session, h, now) for h in world_ids.households} == answers
        assert home_facts(session, household_id=10**6, now=now, active_call_minutes=30) is None
    # the states above really differ, so agreeing is not agreeing on zeros
    assert answers[first][1:] == (7, 1, False, True, True, False, 0)
    assert answers[second][3] is True and answers[second][7] == 2 and answers[third][6] is True


def _last_seen(services, box_id: int) -> dt.datetime | None:
    with services.session_factory() as session:
        return session.get(TvBox, box_id).last_seen_at


def _box_id(services, household_id: int) -> int:
    with services.session_factory() as session:
        return session.query(TvBox).filter_by(household_id=household_id).one().id


def test_boxes_seen_again_are_written_together_after_their_pages(app, tv_client, services, world_ids,
                                                                 monkeypatch):
    """Two boxes back after two minutes get their pages without a write; one flush writes both times."""
    other = app.test_client()
    pair_client(other, services, world_ids.households[1])
    boxes = [_box_id(services, h) for h in world_ids.households[:2]]
    seen = seen_boxes_for(services.session_factory)
    seen.flush()
    armed = []
    monkeypatch.setattr(seen, "schedule", lambda delay, action: armed.append(action))  # no real timer here
    before = [_last_seen(services, b) for b in boxes]
    services.clock.advance(minutes=2)
    now = services.clock.now()
    assert tv_client.get("/tv/").status_code == 200 and other.get("/tv/").status_code == 200
    assert [_last_seen(services, b) for b in boxes] == before  # nothing written while the pages were made
    assert len(armed) == 1  # one write armed for both
    armed[0]()
    assert [_last_seen(services, b) for b in boxes] == [now, now]
    services.clock.advance(seconds=30)  # within the minute: not noted again
    tv_client.get("/tv/")
    seen.flush()
    assert _last_seen(services, boxes[0]) == now


def test_one_timer_per_batch_and_a_later_sighting_wins(services, tv_client, world_ids):
    """Many sightings arm one write; a box noted twice keeps its later time; a stored later time stays."""
    armed = []
    seen = SeenBoxes(services.session_factory, delay=2.0, schedule=lambda delay, action: armed.append(action))
    box = _box_id(services, world_ids.households[0])
    now = services.clock.now() + dt.timedelta(minutes=5)
    seen.note(box, now - dt.timedelta(seconds=20))
    seen.note(box, now)
    seen.note(box, now - dt.timedelta(seconds=40))
    assert len(armed) == 1
    armed[0]()
    assert _last_seen(services, box) == now
    with transaction(services.session_factory) as session:
        mark_seen(session, {box: now - dt.timedelta(minutes=3)})  # an older sighting never moves it back
    assert _last_seen(services, box) == now
    seen.note(box, now + dt.timedelta(minutes=1))
    assert len(armed) == 2  # the next batch arms its own write


def test_a_failed_write_keeps_the_sightings_for_the_next_one(services, tv_client, world_ids, monkeypatch, caplog):
    """The database away for one write: the times are kept and written by the next flush."""
    box = _box_id(services, world_ids.households[0])
    seen = SeenBoxes(services.session_factory, schedule=lambda delay, action: None)
    at = services.clock.now() + dt.timedelta(minutes=5)
    real = seen_module.mark_seen
    calls = []

    def failing_once(session, times):
        calls.append(dict(times))
        if len(calls) == 1:
            raise OperationalError("UPDATE tv_box", {}, Exception("database is locked"))
        real(session, times)

    monkeypatch.setattr(seen_module, "mark_seen", failing_once)
    seen.note(box, at)
    seen.flush()
    assert _last_seen(services, box) != at and "could not write" in caplog.text
    seen.flush()
    assert _last_seen(services, box) == at and calls == [{box: at}, {box: at}]

