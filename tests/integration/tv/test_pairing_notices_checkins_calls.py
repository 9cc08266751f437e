"""Pairing codes, notices, daily check-ins and help calls on a real database."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from core.clock import LOCAL_TZ
from core.community import checkins as ci
from core.community import notices as nt
from core.community import tvboxes as tvb
from core.db import transaction
from core.errors import InvalidTransition, NotFound
from core.models.audit import AuditEntry
from core.models.outbox import OutboxMessage
from core.phone import helpcalls as hc


def _new_box(factory, now, addr="10.0.0.1"):
    with transaction(factory) as session:
        box, token = tvb.register_box(session, now=now, client_addr=addr)
        code = tvb.current_code(session, now=now, box=box).code
        return box.id, token, code


def test_pairing_code_is_single_use_and_expires_after_ten_minutes(session_factory, clock, world_ids):
    _box, token, code = _new_box(session_factory, clock.now())
    clock.advance(minutes=10)
    with transaction(session_factory) as session:
        with pytest.raises(NotFound):
            tvb.pair_box(session, now=clock.now(), code=code, household_id=world_ids.households[0])
    with transaction(session_factory) as session:
        box = tvb.box_for_token(session, token)
        fresh = tvb.current_code(session, now=clock.now(), box=box).code
    with transaction(session_factory) as session:
        tvb.pair_box(session, now=clock.now(), code=f"{fresh[:3]} {fresh[3:]}", household_id=world_ids.households[0])
    with transaction(session_factory) as session:
        assert tvb.paired_household_id(tvb.box_for_token(session, token)) == world_ids.households[0]
        with pytest.raises(NotFound):
            tvb.pair_box(session, now=clock.now(), code=fresh, household_id=world_ids.households[1])


def test_wrong_codes_are_rate_limited_per_staff_member(session_factory, clock, world_ids):
    _box, _token, code = _new_box(session_factory, clock.now())
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(10):
        with pytest.raises(NotFound):
            tvb.pair_by_code(session_factory, now=clock.now(), code=wrong, household_id=world_ids.households[0],
                             actor="guesser")
    with pytest.raises(tvb.RateLimited):
        tvb.pair_by_code(session_factory, now=clock.now(), code=code, household_id=world_ids.households[0],
                         actor="guesser")
    # someone else is not blocked
    tvb.pair_by_code(session_factory, now=clock.now(), code=code, household_id=world_ids.households[0],
                     actor="installer")
    with session_factory() as session:
        failed = session.scalar(sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.action == "tv.pair_failed"))
    assert failed == 10
    clock.advance(minutes=10, seconds=1)  # the window has passed: the guesser may try again
    with pytest.raises(NotFound):
        tvb.pair_by_code(session_factory, now=clock.now(), code=wrong, household_id=world_ids.households[0],
                         actor="guesser")


def test_successful_pairings_do_not_count_against_the_limit(session_factory, clock, world_ids):
    config = tvb.TvConfig(pairing_failures_per_10min=2)
    for _ in range(4):
        _box, _token, code = _new_box(session_factory, clock.now())
        tvb.pair_by_code(session_factory, now=clock.now(), code=code, household_id=world_ids.households[0],
                         actor="installer", config=config)


def test_concurrent_wrong_codes_never_get_past_the_limit(session_factory, clock, world_ids, monkeypatch):
    """Twelve wrong codes typed at once got through a limit of ten: every check ran before any failure was saved.

    Each guess waits (inside the code check) until all twelve have either reached the check or been
    refused, so every guess is in flight at the same time whatever the scheduling.
    """
    limit, guesses = 10, 12
    config = tvb.TvConfig(pairing_failures_per_10min=limit)
    _box, _token, code = _new_box(session_factory, clock.now())
    wrong = "000000" if code != "000000" else "111111"
    arrived = 0
    gate = threading.Condition()

    def arrive() -> None:
        nonlocal arrived
        with gate:
            arrived += 1
            gate.notify_all()

    real_normalise = tvb.normalise_code

    def all_in_flight(raw: str) -> str:
        arrive()
        with gate:
            assert gate.wait_for(lambda: arrived >= guesses, timeout=60), "guesses did not all start"
        return real_normalise(raw)

    monkeypatch.setattr(tvb, "normalise_code", all_in_flight)
    outcomes: list[str] = []

    def guess() -> None:
        try:
            tvb.pair_by_code(session_factory, now=clock.now(), code=wrong, household_id=world_ids.households[0],
                             actor="guesser", config=config)
            outcomes.append("paired")
        except tvb.RateLimited:
            arrive()
            outcomes.append("refused")
        except NotFound:
            outcomes.append("wrong")

    threads = [threading.Thread(target=guess) for _ in range(guesses)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == guesses
    assert outcomes.count("wrong") <= limit
    assert outcomes.count("refused") >= guesses - limit
    with session_factory() as session:
        failed = session.scalar(sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.action == "tv.pair_failed"))
    assert failed <= limit


def test_new_codes_and_new_boxes_are_rate_limited(session_factory, clock, world_ids):
    # A box re-shows its valid code; with short-lived codes it may get at most 6 new ones an hour.
    short = tvb.TvConfig(pairing_code_minutes=1, pairing_codes_per_hour=6)
    with transaction(session_factory) as session:
        _box, token = tvb.register_box(session, now=clock.now())
    codes = set()
    for _ in range(6):
        with transaction(session_factory) as session:
            box = tvb.box_for_token(session, token)
            codes.add(tvb.current_code(session, now=clock.now(), box=box, config=short).id)
        clock.advance(minutes=1, seconds=1)
    assert len(codes) == 6
    with transaction(session_factory) as session:
        with pytest.raises(tvb.RateLimited):
            tvb.current_code(session, now=clock.now(), box=tvb.box_for_token(session, token), config=short)
    with transaction(session_factory) as session:
        for _ in range(30):
            tvb.register_box(session, now=clock.now(), client_addr="10.9.9.9")
        with pytest.raises(tvb.RateLimited):
            tvb.register_box(session, now=clock.now(), client_addr="10.9.9.9")


def test_notice_audience_window_and_unread(session_factory, clock, world_ids):
    now = clock.now()
    h_a, h_b = world_ids.households[0], world_ids.households[3]
    with transaction(session_factory) as session:
        town = nt.post_notice(session, now=now, title="全镇通知", body="", category="policy", audience="town",
                             town_id=world_ids.town)
        nt.post_notice(session, now=now, title="A院", body="", category="notice", audience="courtyard",
                      town_id=world_ids.town, village_id=world_ids.villages[0], courtyard_id=world_ids.courtyards[0])
        nt.post_notice(session, now=now, title="明天才发", body="", category="jobs", audience="town",
                      town_id=world_ids.town, publish_from=now + dt.timedelta(days=1))
        nt.post_notice(session, now=now, title="过期了", body="", category="jobs", audience="town",
                      town_id=world_ids.town, publish_from=now - dt.timedelta(days=3),
                      publish_until=now - dt.timedelta(days=1))
        nt.post_notice(session, now=now, title="置顶", body="", category="experience", audience="village",
                      town_id=world_ids.town, village_id=world_ids.villages[0], pinned=True,
                      publish_from=now - dt.timedelta(days=2))
        town_id = town.id
    with transaction(session_factory) as session:
        titles_a = [n.title for n, _ in session.execute(nt.notices_for_household(session, now=now, household_id=h_a))]
        titles_b = [n.title for n, _ in session.execute(nt.notices_for_household(session, now=now, household_id=h_b))]
        assert titles_a[0] == "置顶" and set(titles_a) == {"置顶", "全镇通知", "A院"}
        assert set(titles_b) == {"全镇通知"}
        assert nt.unread_count(session, now=now, household_id=h_a) == 3
        nt.mark_read(session, now=now, household_id=h_a, notice_id=town_id)
        nt.mark_read(session, now=now, household_id=h_a, notice_id=town_id)
    with transaction(session_factory) as session:
        assert nt.unread_count(session, now=now, household_id=h_a) == 2
        assert nt.unread_count(session, now=now, household_id=h_b) == 1


def test_missing_checkin_tells_the_head_once_after_ten(session_factory, clock, world_ids):
    clock.set(dt.datetime(2026, 11, 26, 9, 30, tzinfo=LOCAL_TZ))
    _box, token, code = _new_box(session_factory, clock.now())
    with transaction(session_factory) as session:
        tvb.pair_box(session, now=clock.now(), code=code, household_id=world_ids.households[0])
    deadline = ci.parse_deadline("10:00")
    with transaction(session_factory) as session:
        assert ci.remind_missing_checkins(session, now=clock.now(), deadline=deadline) == 0  # not yet 10:00
    clock.set(dt.datetime(2026, 11, 26, 10, 5, tzinfo=LOCAL_TZ))
    with transaction(session_factory) as session:
        assert ci.remind_missing_checkins(session, now=clock.now(), deadline=deadline) == 1
    with transaction(session_factory) as session:
        assert ci.remind_missing_checkins(session, now=clock.now(), deadline=deadline) == 0  # once per day
        message = session.scalar(sa.select(OutboxMessage).where(OutboxMessage.template == "tv.checkin_missing"))
        assert message.recipient_user_id == world_ids.users["head_a"] and "王奶奶" in message.text
    # next day she presses 我很好 before 10:00: nobody is bothered
    clock.set(dt.datetime(2026, 11, 27, 8, 0, tzinfo=LOCAL_TZ))
    with transaction(session_factory) as session:
        _row, created = ci.check_in(session, now=clock.now(), household_id=world_ids.households[0])
        assert created
        assert ci.check_in(session, now=clock.now(), household_id=world_ids.households[0])[1] is False
    clock.set(dt.datetime(2026, 11, 27, 11, 0, tzinfo=LOCAL_TZ))
    with transaction(session_factory) as session:
        assert ci.remind_missing_checkins(session, now=clock.now(), deadline=deadline) == 0


def test_help_call_snapshots_the_chain_and_one_is_active_per_household(session_factory, clock, world_ids):
    h = world_ids.households[0]
    with transaction(session_factory) as session:
        call = hc.start_help_call(session, now=clock.now(), household_id=h, dryrun=True)
        assert call.status == "pending" and call.next_action_at == clock.now()
        assert [c["name"] for c in call.chain] == ["王小明", "李院长", "赵医生"]
        assert call.resident_id == world_ids.residents[0]
        call_id = call.id
    with transaction(session_factory) as session:
        assert hc.start_help_call(session, now=clock.now(), household_id=h).id == call_id
        status = hc.help_call_status(session, call_id)
        assert status["current"] == "正在准备呼叫 王小明（儿子）"
        assert status["dryrun_note"] == "演示模式：没有真的拨打电话"
        hc.cancel_help_call(session, now=clock.now(), help_call_id=call_id)
    with transaction(session_factory) as session:
        assert hc.help_call_status(session, call_id)["current"] == "已取消呼叫"
        again = hc.start_help_call(session, now=clock.now(), household_id=h)
        assert again.id != call_id
    with transaction(session_factory) as session:
        # no chain of her own: the 院长 is called
        other = hc.start_help_call(session, now=clock.now(), household_id=world_ids.households[1])
        assert [c["kind"] for c in other.chain] == ["courtyard_head"]
        other.status = "reached"
        session.flush()
        with pytest.raises(InvalidTransition):
            hc.cancel_help_call(session, now=clock.now(), help_call_id=other.id)


def test_a_box_left_on_the_pairing_screen_never_shows_an_expired_code(session_factory, clock, world_ids):
    """The shown code is replaced a minute before it expires; the replaced one works until its own expiry."""
    _box, token, first = _new_box(session_factory, clock.now())
    shown = {first}
    for _ in range(70):  # 70 minutes on the pairing screen, polled every minute
        clock.advance(minutes=1)
        with transaction(session_factory) as session:
            code = tvb.current_code(session, now=clock.now(), box=tvb.box_for_token(session, token))
            assert code.expires_at - clock.now() > dt.timedelta(seconds=59)  # never a dying code
            shown.add(code.code)
    assert len(shown) >= 8
    _other, token, old = _new_box(session_factory, clock.now(), addr="10.0.0.2")
    clock.advance(minutes=9, seconds=10)  # 50 s left: the screen shows a new code ...
    with transaction(session_factory) as session:
        replacement = tvb.current_code(session, now=clock.now(), box=tvb.box_for_token(session, token)).code
        assert replacement != old
    with transaction(session_factory) as session:  # ... and the old one, just read out, still works
        tvb.pair_box(session, now=clock.now(), code=old, household_id=world_ids.households[0])
    with transaction(session_factory) as session:
        assert tvb.paired_household_id(tvb.box_for_token(session, token)) == world_ids.households[0]
        with pytest.raises(NotFound):  # the box is paired: its other code is dead too
            tvb.pair_box(session, now=clock.now(), code=replacement, household_id=world_ids.households[1])
