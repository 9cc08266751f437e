"""S9 — Nobody fixed it: a 维修 request climbs from the assignee to the village and the town (挂牌),
is resolved, followed up by phone, and 不满意 reopens it."""

from __future__ import annotations

import sqlalchemy as sa

from core.db import transaction
from core.models.requests import Request, RequestEvent
from core.phone.confirmations import confirm
from core.requests.followup import followup_sweep
from core.requests.supervision import supervise_overdue
from core.requests.workorders import resolve_request, submit_request
from tests.integration.ops.ops_helpers import outbox_rows


def _submit_repair(services, world, clock) -> int:
    with transaction(services.session_factory) as s:
        req = submit_request(s, now=clock.now(), due_hours=services.settings.requests.due_hours,
                             resident_id=world.residents[0].id, type="repair", channel="phone",
                             text="我家水管爆了", system_label="voice")
        return req.id


def _supervision_rows(services, request_id: int) -> list[tuple[str, int | None]]:
    return [(m.template, m.recipient_user_id) for m in outbox_rows(services, subject_type="request",
                                                                   subject_id=request_id)
            if m.template in ("request.overdue", "request.escalated", "request.supervised")]


def test_s9_overdue_repair_climbs_to_the_town_then_follow_up_dissatisfied_reopens(services, world, clock):
    users = world.users
    request_id = _submit_repair(services, world, clock)

    clock.advance(hours=23, minutes=59)
    assert supervise_overdue(services) == 0
    assert _supervision_rows(services, request_id) == []

    clock.advance(minutes=2)  # 24 h: not started → the assignee (李院长) is reminded
    assert supervise_overdue(services) == 1
    assert supervise_overdue(services) == 0  # each step once, however often the sweep runs
    assert _supervision_rows(services, request_id) == [("request.overdue", users["head_a"].id)]

    clock.advance(hours=24)  # 48 h → the village
    supervise_overdue(services)
    clock.advance(hours=24)  # 72 h → the town 指挥中心, 挂牌
    supervise_overdue(services)
    supervise_overdue(services)
    assert _supervision_rows(services, request_id) == [
        ("request.overdue", users["head_a"].id),
        ("request.escalated", users["village_a"].id),
        ("request.supervised", users["town"].id),
    ]
    with services.session_factory() as s:
        req = s.get(Request, request_id)
        assert req.supervised and req.overdue_level == 3
        actions = [e.action for e in req.events]
        assert actions[-3:] == ["overdue", "escalated", "supervised"]
    town_text = outbox_rows(services, template="request.supervised")[0].text
    assert "挂牌" in town_text and f"#{request_id}" in town_text and "李院长" in town_text

    # Resolved → no longer 挂牌; the resident is called and asked.
    with transaction(services.session_factory) as s:
        resolve_request(s, now=clock.now(), actor=users["head_a"], request_id=request_id, note="换了新水管")
    clock.advance(minutes=31)
    followup_sweep(services)
    calls = outbox_rows(services, subject_type="request_followup")
    assert len(calls) == 1
    call = calls[0]
    assert call.channel == "voice_call" and call.recipient_phone == world.residents[0].phone
    assert "已经处理好了" in call.text and "满意请按1" in call.text and "不满意请按3" in call.text

    # She presses 3 (不满意): reopened, the 网格员 above the 院长 hears of it.
    with transaction(services.session_factory) as s:
        reply = confirm(s, now=clock.now(), message=s.get(type(call), call.id), digits="3")
    assert reply and "重新处理" in reply
    with services.session_factory() as s:
        req = s.get(Request, request_id)
        assert req.status == "assigned" and req.satisfaction == "dissatisfied" and req.reopen_count == 1
        assert not req.supervised and req.overdue_level == 0
    told = outbox_rows(services, template="request.dissatisfied")
    assert [m.recipient_user_id for m in told] == [users["grid_a"].id]
    assert [m.recipient_user_id for m in outbox_rows(services, template="request.reopened")] == [users["head_a"].id]

    # The reopened request gets a fresh due span: no instant re-escalation from the old due time.
    clock.advance(hours=1)
    assert supervise_overdue(services) == 0
    clock.advance(hours=24)
    assert supervise_overdue(services) == 1
    with services.session_factory() as s:
        events = s.scalars(sa.select(RequestEvent.action).where(RequestEvent.request_id == request_id)).all()
    assert events.count("overdue") == 2


def test_overdue_request_without_assignee_goes_to_the_village_first(services, world, clock):
    with transaction(services.session_factory) as s:
        req = submit_request(s, now=clock.now(), due_hours=services.settings.requests.due_hours,
                             resident_id=world.residents[0].id, type="help", channel="tv", text="帮忙")
        req.assignee_id = None
        request_id = req.id
    clock.advance(hours=2, minutes=1)
    supervise_overdue(services)
    rows = _supervision_rows(services, request_id)
    assert rows == [("request.overdue", world.users["village_a"].id)]


def test_a_long_outage_does_every_missing_step_once(services, world, clock):
    request_id = _submit_repair(services, world, clock)
    clock.advance(hours=100)
    assert supervise_overdue(services) == 3
    assert supervise_overdue(services) == 0
    assert [t for t, _ in _supervision_rows(services, request_id)] == [
        "request.overdue", "request.escalated", "request.supervised"]
