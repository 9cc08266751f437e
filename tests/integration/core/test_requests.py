"""Requests (工单): lifecycle, timeline, assignment to the 院长, outbox in the same transaction, scoping."""

import datetime as dt

import pytest
import sqlalchemy as sa

from core.db import transaction
from core.errors import InvalidTransition, NotFound, PermissionDenied
from core.models.outbox import OutboxMessage
from core.models.requests import Request
from core.requests import workorders as svc
from tests.factories import build_world

DUE = {"environment": 24, "repair": 24, "help": 2, "find_head": 4, "sell": 48, "job": 72, "other": 48}


@pytest.fixture
def world(session_factory, clock):
    with transaction(session_factory) as s:
        return build_world(s, clock.now())


def _submit(session_factory, clock, world, **kw):
    with transaction(session_factory) as s:
        req = svc.submit_request(s, now=clock.now(), due_hours=DUE, resident_id=world.residents[0].id,
                                 type=kw.pop("type", "repair"), channel=kw.pop("channel", "phone"),
                                 text=kw.pop("text", "我家水管爆了"), **kw)
        return req.id


def test_submitted_request_goes_to_the_courtyard_head_and_tells_them(session_factory, clock, world):
    """A phone request is assigned to the resident's 院长, due in 24 h, with an outbox message to them."""
    rid = _submit(session_factory, clock, world)
    with session_factory() as s:
        req = s.get(Request, rid)
        assert req.status == "assigned"
        assert req.assignee_id == world.users["head_a"].id
        assert req.due_at == clock.now() + dt.timedelta(hours=24)
        assert (req.courtyard_id, req.village_id) == (world.courtyards[0].id, world.villages[0].id)
        assert [e.action for e in req.events] == ["submitted", "assigned"]
        msg = s.scalar(sa.select(OutboxMessage).where(OutboxMessage.subject_id == rid))
        assert msg.recipient_user_id == world.users["head_a"].id
        assert "水管" in msg.text and msg.status == "pending"


def test_outbox_row_rolls_back_with_the_request(session_factory, clock, world):
    """If the change fails, nobody is told about a request that does not exist."""
    with pytest.raises(RuntimeError):
        with transaction(session_factory) as s:
            svc.submit_request(s, now=clock.now(), due_hours=DUE, resident_id=world.residents[0].id,
                               type="repair", channel="phone", text="x")
            raise RuntimeError("crash after submit")
    with session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
        assert s.scalar(sa.select(sa.func.count()).select_from(Request)) == 0


def test_full_lifecycle_records_who_when_why(session_factory, clock, world):
    """start → resolve → evaluate, each step on the timeline with the actor and the note."""
    rid = _submit(session_factory, clock, world)
    head = world.users["head_a"]
    with transaction(session_factory) as s:
        svc.start_request(s, now=clock.advance(hours=1), actor=head, request_id=rid)
        svc.resolve_request(s, now=clock.advance(hours=2), actor=head, request_id=rid, note="换了水管")
        svc.evaluate_request(s, now=clock.advance(hours=3), actor=None, request_id=rid, satisfaction="satisfied")
    with session_factory() as s:
        req = s.get(Request, rid)
        assert req.status == "evaluated" and req.satisfaction == "satisfied"
        assert [(e.action, e.to_status) for e in req.events][-3:] == [
            ("started", "in_progress"), ("resolved", "resolved"), ("evaluated", "evaluated")]
        assert req.events[-2].actor_label == head.display_name and req.events[-2].note == "换了水管"


def test_dissatisfied_reopens_and_tells_the_assignee_again(session_factory, clock, world):
    """不满意 puts the request back to the 院长."""
    rid = _submit(session_factory, clock, world)
    head = world.users["head_a"]
    with transaction(session_factory) as s:
        svc.resolve_request(s, now=clock.advance(hours=1), actor=head, request_id=rid, note="修好了")
        svc.evaluate_request(s, now=clock.advance(hours=1), actor=None, request_id=rid, satisfaction="dissatisfied")
    with session_factory() as s:
        req = s.get(Request, rid)
        assert (req.status, req.reopen_count, req.resolved_at) == ("assigned", 1, None)
        templates = s.scalars(sa.select(OutboxMessage.template).where(OutboxMessage.subject_id == rid)).all()
        assert templates == ["request.assigned", "request.reopened"]


def test_another_courtyards_head_cannot_touch_the_request(session_factory, clock, world):
    """A 院长 of 小院 B gets NotFound for 小院 A's request (the service checks, not only the view)."""
    rid = _submit(session_factory, clock, world)
    with pytest.raises(NotFound):
        with transaction(session_factory) as s:
            svc.start_request(s, now=clock.now(), actor=world.users["head_b"], request_id=rid)


def test_caregivers_cannot_manage_requests(session_factory, clock, world):
    """A family caregiver may see their resident's request but not resolve it."""
    rid = _submit(session_factory, clock, world)
    with pytest.raises(PermissionDenied):
        with transaction(session_factory) as s:
            svc.resolve_request(s, now=clock.now(), actor=world.users["carer_a"], request_id=rid, note="x")


def test_invalid_transitions_are_refused(session_factory, clock, world):
    """A request cannot be evaluated before it is resolved, nor reopened while open."""
    rid = _submit(session_factory, clock, world)
    with pytest.raises(InvalidTransition):
        with transaction(session_factory) as s:
            svc.evaluate_request(s, now=clock.now(), actor=None, request_id=rid, satisfaction="satisfied")
    with pytest.raises(InvalidTransition):
        with transaction(session_factory) as s:
            svc.reopen_request(s, now=clock.now(), actor=world.users["head_a"], request_id=rid, note="again")


def test_overdue_is_visible_after_due_time(session_factory, clock, world):
    """A help request is overdue 2 hours after it was raised, not before."""
    rid = _submit(session_factory, clock, world, type="help")
    with session_factory() as s:
        req = s.get(Request, rid)
        assert not svc.is_overdue(req, clock.now() + dt.timedelta(hours=1, minutes=59))
        assert svc.is_overdue(req, clock.now() + dt.timedelta(hours=2, minutes=1))
