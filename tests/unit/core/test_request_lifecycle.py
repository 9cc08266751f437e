"""The 工单 lifecycle is defined once: the buttons, the API routes and the services agree on every step."""

from __future__ import annotations

import pytest

from console.api_v1 import BODIES
from core.errors import InvalidTransition, PermissionDenied
from core.models.requests import STATUSES, Request
from core.models.staff import User
from core.requests.workorders import LIFECYCLE, STEPS, allowed_actions, check_step


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", list(LIFECYCLE))
def test_a_button_is_offered_exactly_when_the_service_takes_the_step(status, action):
    offered = action in allowed_actions("courtyard_head", status)
    try:
        check_step(action, Request(status=status), None)
        taken = True
    except InvalidTransition:
        taken = False
    assert offered is taken


@pytest.mark.parametrize("action", list(LIFECYCLE))
def test_caregivers_may_take_no_step_and_are_refused_by_the_service(action):
    status = LIFECYCLE[action].sources[0]
    assert allowed_actions("caregiver", status) == []
    with pytest.raises(PermissionDenied):
        check_step(action, Request(status=status), User(role="caregiver", id=1))


def test_every_step_has_a_service_and_an_api_body_and_starts_from_real_statuses():
    assert set(LIFECYCLE) == set(STEPS) == set(BODIES)
    for step in LIFECYCLE.values():
        assert set(step.sources) <= set(STATUSES) and step.refusal


def test_a_closed_request_can_only_be_reopened_and_anything_else_can_be_closed():
    assert allowed_actions("admin", "closed") == ["reopen"]
    assert all("close" in allowed_actions("admin", s) for s in STATUSES if s != "closed")
