"""Closed loop (闭环): follow-up calls and TV questions after a request is resolved."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from core.clock import LOCAL_TZ, to_local
from core.db import transaction
from core.models.ops import FollowupAttempt
from core.models.outbox import OutboxMessage
from core.models.requests import Request
from core.models.tvbox import TvBox
from core.phone.confirmations import confirm
from core.requests.followup import answer_followup, followup_sweep, pending_followups_for_household
from core.requests.workorders import resolve_request, submit_request
from tests.integration.ops.ops_helpers import outbox_rows


def _resolved_request(services, world, clock, resident_index: int = 0) -> int:
    with transaction(services.session_factory) as s:
        req = submit_request(s, now=clock.now(), due_hours=services.settings.requests.due_hours,
                             resident_id=world.residents[resident_index].id, type="environment", channel="tv",
                             text="垃圾桶满了")
        resolve_request(s, now=clock.now(), actor=None, request_id=req.id, note="已清运")
        return req.id


def _press(services, clock, message_id: int, digits: str) -> str | None:
    with transaction(services.session_factory) as s:
        return confirm(s, now=clock.now(), message=s.get(OutboxMessage, message_id), digits=digits)


def _request(services, request_id: int) -> Request:
    with services.session_factory() as s:
        return s.get(Request, request_id)


def test_satisfied_answer_is_stored_and_nobody_is_asked_again(services, world, clock):
    request_id = _resolved_request(services, world, clock)
    clock.advance(minutes=10)
    followup_sweep(services)
    assert outbox_rows(services, subject_type="request_followup") == []  # not before the delay
    clock.advance(minutes=25)
    followup_sweep(services)
    followup_sweep(services)
    (call,) = outbox_rows(services, subject_type="request_followup")
    assert _press(services, clock, call.id, "9") is None  # not an answer: still waiting
    assert _request(services, request_id).status == "resolved"
    assert _press(services, clock, call.id, "1") == "谢谢您的评价。"
    req = _request(services, request_id)
    assert (req.status, req.satisfaction) == ("evaluated", "satisfied")
    clock.advance(hours=30)
    followup_sweep(services)
    assert len(outbox_rows(services, subject_type="request_followup")) == 1
    # A late second press changes nothing.
    assert _press(services, clock, call.id, "3") == "这件事已经评价过了，谢谢您。"
    assert _request(services, request_id).satisfaction == "satisfied"


def test_no_answer_after_two_calls_closes_as_unevaluated(services, world, clock):
    request_id = _resolved_request(services, world, clock)
    clock.advance(minutes=31)
    followup_sweep(services)
    assert len(outbox_rows(services, subject_type="request_followup")) == 1
    clock.advance(hours=3, minutes=59)
    followup_sweep(services)
    assert len(outbox_rows(services, subject_type="request_followup")) == 1  # first call still open
    clock.advance(minutes=2)
    followup_sweep(services)
    assert len(outbox_rows(services, subject_type="request_followup")) == 2  # second try
    clock.advance(hours=4, minutes=1)
    followup_sweep(services)
    followup_sweep(services)
    req = _request(services, request_id)
    assert (req.status, req.satisfaction) == ("closed", "unevaluated")
    assert len(outbox_rows(services, subject_type="request_followup")) == 2
    with services.session_factory() as s:
        statuses = s.scalars(sa.select(FollowupAttempt.status).where(FollowupAttempt.request_id == request_id)
                             .order_by(FollowupAttempt.attempt)).all()
    assert statuses == ["expired", "expired"]


def test_tv_household_is_asked_on_the_tv_first_then_called(services, world, clock):
    household_id = world.households[0].id
    with transaction(services.session_factory) as s:
        s.add(TvBox(status="paired", household_id=household_id, created_at=clock.now(), paired_at=clock.now()))
    request_id = _resolved_request(services, world, clock)
    clock.advance(minutes=31)
    followup_sweep(services)
    assert outbox_rows(services, subject_type="request_followup") == []
    with services.session_factory() as s:
        prompts = pending_followups_for_household(s, household_id)
        assert pending_followups_for_household(s, world.households[1].id) == []
    assert [p.request_id for p in prompts] == [request_id]
    assert "满意请按1" in prompts[0].question and prompts[0].options[2] == ("3", "不满意")
    clock.advance(hours=24)
    followup_sweep(services)  # nobody answered on the TV: the second try is a call
    (call,) = outbox_rows(services, subject_type="request_followup")
    assert call.channel == "voice_call"
    # Answering on the TV still counts while the call is pending; the call is then cancelled.
    with transaction(services.session_factory) as s:
        assert answer_followup(s, now=clock.now(), household_id=household_id, request_id=request_id,
                               digits="2") == "谢谢您的评价。"
    assert _request(services, request_id).satisfaction == "basic"
    with services.session_factory() as s:
        assert pending_followups_for_household(s, household_id) == []
        statuses = s.scalars(sa.select(FollowupAttempt.status).where(FollowupAttempt.request_id == request_id)
                             .order_by(FollowupAttempt.attempt)).all()
    assert statuses == ["answered", "cancelled"]


def test_calls_wait_for_calling_hours(services, world, clock):
    clock.set(dt.datetime(2026, 11, 26, 21, 0, tzinfo=LOCAL_TZ))
    _resolved_request(services, world, clock)
    clock.advance(minutes=31)
    followup_sweep(services)
    (call,) = outbox_rows(services, subject_type="request_followup")
    local = to_local(call.next_attempt_at)
    assert (local.date(), local.hour) == (dt.date(2026, 11, 27), 9)


def test_resident_without_phone_or_tv_is_closed_unevaluated_at_once(services, world, clock):
    with transaction(services.session_factory) as s:
        world_household = s.get(type(world.households[2]), world.households[2].id)
        world_household.landline = None
    request_id = _resolved_request(services, world, clock, resident_index=2)  # 居民02 has no phone
    clock.advance(minutes=31)
    followup_sweep(services)
    req = _request(services, request_id)
    assert (req.status, req.satisfaction) == ("closed", "unevaluated")
