"""Role scoping through the console: each role sees and changes only its own area (404 elsewhere)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from core.models.places import Resident
from core.models.requests import Request
from tests.integration.console.conftest import VISIBLE_RESIDENTS, login_as, post_form

USERS = list(VISIBLE_RESIDENTS)
REQUEST_LINK = re.compile(r'href="/console/requests/(\d+)"')
RESIDENT_LINK = re.compile(r'href="/console/residents/(\d+)"')


def _status(services, request_id: int) -> str:
    with services.session_factory() as session:
        return session.scalar(sa.select(Request.status).where(Request.id == request_id))


@pytest.mark.parametrize("who", USERS)
def test_request_list_shows_exactly_the_roles_requests(web, world, requests_by_resident, who):
    login_as(web, world.users[who])
    page = web.get("/console/requests?per_page=100")
    assert page.status_code == 200
    shown = {int(i) for i in REQUEST_LINK.findall(page.get_data(as_text=True))}
    assert shown == {requests_by_resident[i] for i in VISIBLE_RESIDENTS[who]}


@pytest.mark.parametrize("who", USERS)
def test_request_detail_is_404_outside_the_roles_area(web, world, requests_by_resident, who):
    login_as(web, world.users[who])
    for index, request_id in requests_by_resident.items():
        expected = 200 if index in VISIBLE_RESIDENTS[who] else 404
        assert web.get(f"/console/requests/{request_id}").status_code == expected, (who, index)


@pytest.mark.parametrize("who", USERS)
def test_resident_list_and_detail_are_scoped(web, world, who):
    login_as(web, world.users[who])
    page = web.get("/console/residents?per_page=100").get_data(as_text=True)
    shown = {int(i) for i in RESIDENT_LINK.findall(page)}
    assert shown == {world.residents[i].id for i in VISIBLE_RESIDENTS[who]}
    for index, resident in enumerate(world.residents):
        expected = 200 if index in VISIBLE_RESIDENTS[who] else 404
        assert web.get(f"/console/residents/{resident.id}").status_code == expected, (who, index)


@pytest.mark.parametrize("who", ["admin", "town", "village_a", "grid_a", "head_a"])
def test_staff_of_area_a_can_start_a_request_there(web, world, services, requests_by_resident, who):
    login_as(web, world.users[who])
    request_id = requests_by_resident[1]
    r = post_form(web, f"/console/requests/{request_id}/start", {"note": "马上去"})
    assert r.status_code == 302
    assert _status(services, request_id) == "in_progress"


@pytest.mark.parametrize("who", ["village_a", "grid_a", "head_a"])
def test_staff_of_area_a_cannot_touch_area_b(web, world, services, requests_by_resident, who):
    login_as(web, world.users[who])
    request_id = requests_by_resident[4]
    for action, data in (("start", {}), ("resolve", {"note": "x"}), ("close", {"note": "x"})):
        r = post_form(web, f"/console/requests/{request_id}/{action}", data)
        assert r.status_code == 404
    assert _status(services, request_id) == "assigned"


def test_courtyard_head_b_cannot_read_or_change_courtyard_a(web, world, services, requests_by_resident):
    login_as(web, world.users["head_b"])
    a_request, a_resident = requests_by_resident[0], world.residents[0]
    assert web.get(f"/console/requests/{a_request}").status_code == 404
    assert web.get(f"/console/residents/{a_resident.id}").status_code == 404
    assert web.get(f"/console/households/{world.households[0].id}").status_code == 404
    assert post_form(web, f"/console/requests/{a_request}/resolve", {"note": "假的"}).status_code == 404
    assert post_form(web, f"/console/residents/{a_resident.id}/edit", {"name": "改名"}).status_code == 404
    assert post_form(web, f"/console/residents/{a_resident.id}/chain",
                     {"op": "add", "kind": "family", "name": "陌生人"}).status_code == 404
    submitted = post_form(web, "/console/requests/new", {"resident_id": a_resident.id, "type": "help", "text": "x"})
    assert submitted.status_code == 404
    with services.session_factory() as session:
        assert session.get(Resident, a_resident.id).name == "王奶奶"
        assert len(session.get(Resident, a_resident.id).caregivers) == 3
        assert session.scalar(sa.select(sa.func.count(Request.id))) == len(requests_by_resident)
    assert _status(services, a_request) == "assigned"
    # Nothing about courtyard A leaks into B's pages.
    assert "王奶奶" not in web.get("/console/requests?per_page=100").get_data(as_text=True)
    assert "王奶奶" not in web.get("/console/residents?q=王").get_data(as_text=True)


def test_caregiver_sees_but_cannot_act(web, world, services, requests_by_resident):
    login_as(web, world.users["carer_a"])
    request_id = requests_by_resident[0]
    page = web.get(f"/console/requests/{request_id}").get_data(as_text=True)
    assert "开始处理</button>" not in page
    r = post_form(web, f"/console/requests/{request_id}/start")
    assert r.status_code == 403
    assert _status(services, request_id) == "assigned"
    # A caregiver may not edit the resident or the chain either.
    assert post_form(web, f"/console/residents/{world.residents[0].id}/edit", {"name": "x"}).status_code == 403


@pytest.mark.parametrize(("who", "status"), [("admin", 200), ("town", 200), ("village_a", 200), ("grid_a", 403),
                                             ("head_a", 403), ("carer_a", 403)])
def test_staff_user_pages_are_for_admin_town_and_village(web, world, who, status):
    login_as(web, world.users[who])
    assert web.get("/console/users").status_code == status
    assert web.get("/console/audit").status_code == status


@pytest.mark.parametrize(("who", "status"), [("head_a", 200), ("grid_a", 200), ("carer_a", 403)])
def test_outbox_is_for_managers(web, world, who, status):
    login_as(web, world.users[who])
    assert web.get("/console/outbox").status_code == status


@pytest.mark.parametrize("who", USERS)
def test_menu_shows_only_allowed_pages(web, world, who):
    login_as(web, world.users[who])
    page = web.get("/console/").get_data(as_text=True)
    assert ('href="/console/users"' in page) == (who in ("admin", "town", "village_a"))
    assert ('href="/console/outbox"' in page) == (who != "carer_a")
