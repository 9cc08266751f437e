"""The TV home asks the closed-loop question of a resolved request and shows today's reminders."""

from __future__ import annotations

import datetime as dt
import re

from core.clock import LOCAL_TZ, UTC, to_local
from core.db import transaction
from core.models.ops import FollowupAttempt
from core.models.requests import Request
from core.requests.followup import followup_sweep
from core.requests.reminders import create_reminder
from core.requests.workorders import resolve_request, submit_request
from tests.integration.tv.conftest import pair_client


def _text(response) -> str:
    return response.get_data(as_text=True)


def _tiles(page: str) -> int:
    """Tiles on the home (nine in two rows when no question takes their place)."""
    return len(re.findall(r'class="tile[ "]', page))


def _resolved_request(services, resident_id: int, text: str = "我家水管爆了") -> int:
    """A repair request resolved now; half an hour later the follow-up sweep asks the resident."""
    clock = services.clock
    with transaction(services.session_factory) as session:
        req = submit_request(session, now=clock.now(), due_hours=services.settings.requests.due_hours,
                             resident_id=resident_id, type="repair", channel="phone", text=text)
        resolve_request(session, now=clock.now(), actor=None, request_id=req.id, note="已换水管")
        request_id = req.id
    clock.advance(minutes=31)
    followup_sweep(services)
    return request_id


def _today_at(services, hour: int) -> dt.datetime:
    day = to_local(services.clock.now()).date()
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=LOCAL_TZ).astimezone(UTC)


def test_followup_question_shows_on_that_households_tv_only(app, tv_client, services, world_ids):
    """The question replaces the tiles on the asking household's TV; a neighbour's TV shows its usual home."""
    neighbour = app.test_client()
    neighbour_token = pair_client(neighbour, services, world_ids.households[1])
    request_id = _resolved_request(services, world_ids.residents[0])

    page = _text(tv_client.get("/tv/"))
    assert "您反映的“我家水管爆了”已经处理好了" in page
    for digit, label in (("1", "满意"), ("2", "基本满意"), ("3", "不满意")):
        button = re.search(rf'<button[^>]*id="answer-{digit}"[^>]*>', page).group(0)
        assert f'data-key="{digit}"' in button and label in page
    assert f'action="/tv/followup/{request_id}"' in page and _tiles(page) == 0
    assert 'id="followup-later"' in page  # never trapped: 稍后再说 leads to the usual home
    later = _text(tv_client.get("/tv/?later=1"))
    assert "已经处理好了" not in later and _tiles(later) == 9

    other = _text(neighbour.get("/tv/"))
    assert "已经处理好了" not in other and 'id="tile-call"' in other
    refused = neighbour.post(f"/tv/followup/{request_id}", data={"t": neighbour_token, "d": "1"})
    assert refused.status_code == 404
    with services.session_factory() as session:
        assert session.get(Request, request_id).status == "resolved"


def test_pressing_3_on_the_tv_reopens_the_request(tv_client, services, world_ids):
    """不满意 reopens the request; the question is gone from the home afterwards."""
    request_id = _resolved_request(services, world_ids.residents[0])
    forged = tv_client.post(f"/tv/followup/{request_id}", data={"d": "3"})
    assert forged.status_code == 403  # a TV POST must carry the box token

    answered = tv_client.post(f"/tv/followup/{request_id}", data={"t": tv_client.tv_token, "d": "3"})
    assert answered.status_code == 200 and "重新处理" in _text(answered)
    with services.session_factory() as session:
        req = session.get(Request, request_id)
        assert req.status not in ("resolved", "evaluated", "closed") and req.reopen_count == 1
        attempt = session.query(FollowupAttempt).filter_by(request_id=request_id).one()
        assert (attempt.status, attempt.answer) == ("answered", "dissatisfied")
    home = _text(tv_client.get("/tv/"))
    assert "已经处理好了" not in home and 'id="tile-call"' in home


def test_pressing_1_records_satisfaction_once(tv_client, services, world_ids):
    """满意 becomes the evaluation; answering again cannot change it."""
    request_id = _resolved_request(services, world_ids.residents[0])
    first = tv_client.post(f"/tv/followup/{request_id}", data={"t": tv_client.tv_token, "d": "1"})
    assert "谢谢您的评价" in _text(first)
    again = tv_client.post(f"/tv/followup/{request_id}", data={"t": tv_client.tv_token, "d": "3"})
    assert "已经评价过了" in _text(again)
    with services.session_factory() as session:
        req = session.get(Request, request_id)
        assert req.status == "evaluated" and req.reopen_count == 0


def test_todays_reminder_shows_on_the_right_household_only(app, tv_client, services, world_ids):
    """A medicine reminder for 王奶奶 is on her home today, not on the neighbour's, and not tomorrow."""
    neighbour = app.test_client()
    pair_client(neighbour, services, world_ids.households[1])
    with transaction(services.session_factory) as session:
        create_reminder(session, now=services.clock.now(), actor=None, kind="medication", text="晚饭后吃降压药",
                        at=_today_at(services, 19), resident_id=world_ids.residents[0])
    page = _text(tv_client.get("/tv/"))
    assert re.search(r'id="reminders"[^>]*>[^<]*19:00 用药：晚饭后吃降压药', page)
    assert 'data-audio="/tv/reminders/audio"' in page and _tiles(page) == 9
    assert "晚饭后吃降压药" not in _text(neighbour.get("/tv/"))
    services.clock.advance(minutes=24 * 60)
    assert "晚饭后吃降压药" not in _text(tv_client.get("/tv/"))


def test_a_meeting_reminder_does_not_repeat_todays_meeting_notice(tv_client, services, world_ids):
    """The 9:00 云坝会 appears once: the notice line, not a second reminder line for the same meeting."""
    from core.community import notices

    now = services.clock.now()
    with transaction(services.session_factory) as session:
        notices.post_notice(session, now=now, title="今天上午9点在椒香小院开云坝会", body="请各户派一人参加。",
                            category="meeting", audience="courtyard", town_id=world_ids.town,
                            village_id=world_ids.villages[0], courtyard_id=world_ids.courtyards[0],
                            event_at=_today_at(services, 9), publish_from=now - dt.timedelta(days=1))
        create_reminder(session, now=now, actor=None, kind="meeting", text="云坝会，请每户来一个人",
                        at=_today_at(services, 9), courtyard_id=world_ids.courtyards[0])
    page = _text(tv_client.get("/tv/"))
    assert 'id="meeting"' in page and "云坝会，请每户来一个人" not in page
