"""The village duty phone (值班电话) in the console: village staff, the town and admins set it, in scope only."""

from __future__ import annotations

import sqlalchemy as sa

from core.models.audit import AuditEntry
from core.models.places import Village
from tests.integration.console.conftest import login_as, post_form


def _duty_phone(services, village_id: int) -> str | None:
    with services.session_factory() as session:
        return session.scalar(sa.select(Village.duty_phone).where(Village.id == village_id))


def test_village_staff_set_their_duty_phone_normalised_and_audited(web, world, services):
    login_as(web, world.users["village_a"])
    page = web.get("/console/villages").get_data(as_text=True)
    assert world.villages[0].name in page and world.villages[1].name not in page
    r = post_form(web, f"/console/villages/{world.villages[0].id}/duty-phone", {"duty_phone": "139 0000 0099"})
    assert r.status_code == 302
    assert _duty_phone(services, world.villages[0].id) == "+8613900000099"
    assert "+8613900000099" in web.get("/console/villages").get_data(as_text=True)
    with services.session_factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                              .where(AuditEntry.action == "village.duty_phone")) == 1


def test_another_villages_duty_phone_is_404_and_unchanged(web, world, services):
    login_as(web, world.users["village_a"])
    r = post_form(web, f"/console/villages/{world.villages[1].id}/duty-phone", {"duty_phone": "13900000099"})
    assert r.status_code == 404
    assert _duty_phone(services, world.villages[1].id) is None


def test_a_bad_number_is_refused_and_an_empty_one_clears(web, world, services):
    login_as(web, world.users["town"])
    vid = world.villages[1].id
    post_form(web, f"/console/villages/{vid}/duty-phone", {"duty_phone": "13900000099"})
    post_form(web, f"/console/villages/{vid}/duty-phone", {"duty_phone": "12"})
    assert _duty_phone(services, vid) == "+8613900000099"
    post_form(web, f"/console/villages/{vid}/duty-phone", {"duty_phone": ""})
    assert _duty_phone(services, vid) is None


def test_a_courtyard_head_cannot_open_the_page(web, world):
    login_as(web, world.users["head_a"])
    assert web.get("/console/villages").status_code == 403
