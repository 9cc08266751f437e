"""爱环境 in the console: today's route and 已清运 (S13's end), bins pages within scope, label sheets, the report."""

from __future__ import annotations

import datetime as dt

import pytest
import segno
import sqlalchemy as sa

from core.clock import to_local
from core.community import bins as bin_service
from core.db import transaction
from core.models.audit import AuditEntry
from core.models.bins import Bin
from core.models.requests import Request
from core.people.access import OPERATOR
from core.requests.reports import build_report, render_text
from tests.integration.console.conftest import csrf_token, login_as, post_form


def _scan(services, token: str, client: str, kind: str = "full"):
    return bin_service.report_bin(services.session_factory, now=services.clock.now(), token=token, kind=kind,
                                  client=client, due_hours=services.settings.requests.due_hours)


@pytest.fixture
def route_bins(services, world, clock):
    """Three bins of 椒香小院 emptied by grid_a (route numbers in their locations) and one of 荷花小院."""
    with transaction(services.session_factory) as s:
        made = {name: bin_service.add_bin(s, now=clock.now(), actor=OPERATOR, courtyard_id=world.courtyards[c].id,
                                          name=name, location=location, cleaner_id=cleaner)
                for name, c, location, cleaner in (
                    ("祠堂桶", 0, "02 祠堂门口", world.users["grid_a"].id),
                    ("村口桶", 0, "01 村口大槐树", world.users["grid_a"].id),
                    ("后山桶", 0, "03 后山路口", world.users["grid_a"].id),
                    ("荷花池桶", 1, "01 池边", None))}
        return {name: (b.id, b.token) for name, b in made.items()}


def test_s13_the_cleaner_sees_the_full_bin_first_empties_it_and_the_report_counts_it(
        web, services, world, clock, route_bins):
    """S13: three scans of the entrance bin; the cleaner's route lists it first; 已清运 resolves it; the daily
    report counts one bin reported (3 scans) and emptied, with the time it took."""
    entrance_id, entrance = route_bins["村口桶"]
    _scan(services, route_bins["后山桶"][1], "10.0.0.1")
    for address in ("10.0.0.2", "10.0.0.3", "10.0.0.4"):
        _scan(services, entrance, address)
        clock.advance(minutes=10)
    _scan(services, route_bins["祠堂桶"][1], "10.0.0.5")
    _scan(services, route_bins["荷花池桶"][1], "10.0.0.6")
    login_as(web, world.users["grid_a"])
    page = web.get("/console/bins/route").get_data(as_text=True)
    assert page.index("村口桶") < page.index("祠堂桶") < page.index("后山桶"), \
        "route order: by location, not by time reported or by id"
    assert "荷花池桶" not in page, "another village's bin is not on grid_a's route"
    assert "3 次报告" in page
    clock.advance(hours=1, minutes=30)
    done = post_form(web, f"/console/bins/{entrance_id}/emptied", follow_redirects=True)
    assert done.status_code == 200
    after = done.get_data(as_text=True)
    assert "村口桶" not in after and "后山桶" in after
    with services.session_factory() as s:
        req = s.scalar(sa.select(Request).where(Request.text.contains("村口桶")))
        assert req.status == "resolved" and req.resolution == "已清运"
        assert s.get(Bin, entrance_id).open_request_id is None
        assert s.scalar(sa.select(AuditEntry.actor_label).where(AuditEntry.action == "bin.emptied")) == "grid_a"
        report = build_report(s, kind="daily", day=to_local(clock.now()).date(), village_id=world.villages[0].id)
    assert report.bins == {"reported": 3, "scans": 5, "emptied": 1, "empty_hours_median": 2.0}
    assert "清运1个" in render_text(report) and "Bins:" in render_text(report, "en")
    login_as(web, world.users["village_a"])
    page = web.get(f"/console/reports?kind=daily&date={to_local(clock.now()).date().isoformat()}")
    assert "爱环境垃圾桶" in page.get_data(as_text=True) and "扫码 5 次" in page.get_data(as_text=True)
    login_as(web, world.users["grid_a"])
    again = post_form(web, f"/console/bins/{entrance_id}/emptied", follow_redirects=True)
    assert "没有待清运的报告" in again.get_data(as_text=True)


def test_a_courtyard_head_cannot_empty_or_edit_another_courtyards_bin(web, services, world, clock, route_bins):
    """Bins outside the viewer's 小院 are not found (404), neither to empty nor to edit."""
    bin_id, token = route_bins["村口桶"]
    _scan(services, token, "10.0.0.1")
    login_as(web, world.users["head_b"])
    assert post_form(web, f"/console/bins/{bin_id}/emptied").status_code == 404
    assert web.get(f"/console/bins/{bin_id}/edit").status_code == 404
    assert "村口桶" not in web.get("/console/bins").get_data(as_text=True)
    with services.session_factory() as s:
        assert s.scalar(sa.select(Request.status)) == "assigned"


def test_caregivers_have_no_bins_pages(web, world, route_bins):
    login_as(web, world.users["carer_a"])
    assert web.get("/console/bins").status_code == 403
    assert web.get("/console/bins/route").status_code == 403


def test_add_and_edit_a_bin_in_the_console(web, services, world, clock):
    """A 院长 adds a bin to their 小院 and renames it; the token stays so the printed label keeps working."""
    login_as(web, world.users["head_a"])
    form = web.get("/console/bins/new").get_data(as_text=True)
    assert "椒香小院" in form and "荷花小院" not in form
    added = post_form(web, "/console/bins/new", {"courtyard_id": world.courtyards[0].id, "name": "新桶",
                                                 "location": "晒坝", "lat": "29.5", "lon": "106.5"})
    assert added.status_code == 302
    with services.session_factory() as s:
        made = s.scalar(sa.select(Bin))
        bin_id, token = made.id, made.token
        assert (made.lat, made.lon, made.location) == (29.5, 106.5, "晒坝")
    outside = post_form(web, "/console/bins/new", {"courtyard_id": world.courtyards[1].id, "name": "越界桶"})
    assert outside.status_code == 404
    bad = post_form(web, "/console/bins/new", {"courtyard_id": world.courtyards[0].id, "name": "半桶", "lat": "29"})
    assert bad.status_code == 422 and "经纬度要么都填" in bad.get_data(as_text=True)
    edited = post_form(web, f"/console/bins/{bin_id}/edit", {"name": "晒坝桶", "location": "晒坝东", "lat": "",
                                                             "lon": "", "cleaner_id": "", "active": "on"})
    assert edited.status_code == 302
    with services.session_factory() as s:
        made = s.get(Bin, bin_id)
        assert (made.name, made.token, made.lat) == ("晒坝桶", token, None)
        actions = [a.action for a in s.scalars(sa.select(AuditEntry).where(AuditEntry.entity_type == "bin")
                                               .order_by(AuditEntry.id))]
        assert actions == ["bin.add", "bin.update"]
    listing = web.get("/console/bins").get_data(as_text=True)
    assert "晒坝桶" in listing


def test_the_label_sheet_has_one_qr_per_bin_that_opens_its_page(web, services, world, route_bins):
    """The printable A4 sheet: each label's QR encodes the bin's /q/ address, with its name and the call to scan."""
    login_as(web, world.users["village_a"])
    sheet = web.get(f"/console/bins/labels?courtyard_id={world.courtyards[0].id}").get_data(as_text=True)
    assert "size: A4" in sheet and sheet.count("扫码报告：垃圾满了") == 3
    for name in ("村口桶", "祠堂桶", "后山桶"):
        _, token = route_bins[name]
        expected = segno.make(f"http://localhost/q/{token}", error="m").svg_inline(scale=5, border=2)
        assert expected in sheet and name in sheet
    assert "荷花池桶" not in sheet
    opened = web.get(f"/q/{route_bins['村口桶'][1]}")
    assert opened.status_code == 200 and "村口桶" in opened.get_data(as_text=True)


def test_emptying_is_refused_without_csrf(web, services, world, route_bins):
    bin_id, token = route_bins["村口桶"]
    _scan(services, token, "10.0.0.1")
    login_as(web, world.users["grid_a"])
    csrf_token(web)
    assert web.post(f"/console/bins/{bin_id}/emptied").status_code == 400
    with services.session_factory() as s:
        assert s.scalar(sa.select(Request.status)) == "assigned"


def test_report_without_bins_says_nothing_about_them(services, world, clock):
    with services.session_factory() as s:
        report = build_report(s, kind="daily", day=to_local(clock.now()).date() - dt.timedelta(days=1),
                              village_id=world.villages[0].id)
    assert report.bins == {"reported": 0, "scans": 0, "emptied": 0, "empty_hours_median": None}
    assert "垃圾桶" not in render_text(report)
