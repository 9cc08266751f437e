"""环境卫生 points for reporting a bin (issue 14 §1): off by default; with `[bins] report_points` the /q/ page asks
for a phone number, and once the cleaner marks the bin 已清运 the household of a resident of the bin's village with that
number gets the points — once per request, within a daily cap, through the points ledger. The page never shows the
number or whether it matched."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.community import bins as bin_service
from core.community import points as points_service
from core.db import transaction
from core.models.audit import AuditEntry
from core.models.bins import BinReport
from core.models.points import PointEntry
from core.models.requests import Request
from tests.integration.console.bins.conftest import phone_of, scan, with_bins
from tests.integration.console.conftest import login_as, post_form

# build_world: resident phones +861380000{courtyard}{household:03d} (household 2 has none), landlines
# +8623467100{courtyard}{household}. Courtyard 0 (椒香小院) is in village A (高瓷村), courtyard 1 in village B.
OWN_MOBILE = "138 0000 0001"  # a resident of household 1 of 椒香小院
LANDLINE = "023-4671 0002"  # household 2 of 椒香小院 (its resident has no mobile)
OTHER_VILLAGE = "13800001000"  # a resident of 荷花小院, village B
NOBODY = "13912345678"


def entries(services) -> list[PointEntry]:
    with services.session_factory() as s:
        return list(s.scalars(sa.select(PointEntry).order_by(PointEntry.id)))


def empty(console_app, world, bin_id: int, who: str = "grid_a"):
    """The cleaner taps 已清运 in the console."""
    web = console_app.test_client()
    login_as(web, world.users[who])
    reply = post_form(web, f"/console/bins/{bin_id}/emptied")
    assert reply.status_code == 302
    return reply


def test_by_default_no_number_is_asked_for_and_none_is_kept(console_app, services, world, entrance_bin):
    """report_points = 0: no phone field, a posted number is ignored, 已清运 gives nobody points."""
    bin_id, token = entrance_bin
    phone = phone_of(console_app)
    assert 'name="phone"' not in phone.get(f"/q/{token}").get_data(as_text=True)
    reply = scan(phone, token, phone=OWN_MOBILE).get_data(as_text=True)
    assert "积分" not in reply
    with services.session_factory() as s:
        assert s.scalar(sa.select(BinReport.household_id)) is None
    empty(console_app, world, bin_id)
    assert entries(services) == []


@with_bins(report_points=2)
def test_the_reporters_household_gets_points_when_the_bin_is_emptied(console_app, services, world, clock,
                                                                    entrance_bin):
    """S13 with points: a villager leaves her mobile with 满了; nothing is given at the scan; 已清运 gives her household
    2 环境卫生 points with the bin in the reason, by the cleaner, audited; the report forgets the household."""
    bin_id, token = entrance_bin
    page = phone_of(console_app).get(f"/q/{token}").get_data(as_text=True)
    assert "留个电话号码，清运后给您加分" in page and 'type="tel"' in page
    scan(phone_of(console_app), token, phone=OWN_MOBILE)
    assert entries(services) == [], "points only once the bin is really emptied"
    clock.advance(hours=1)
    empty(console_app, world, bin_id)
    (entry,) = entries(services)
    household = world.residents[1].household_id
    assert (entry.household_id, entry.delta, entry.category, entry.source) == (household, 2, "环境卫生", "bin")
    assert entry.reason == "报告垃圾桶满了：村口一号桶" and entry.actor_id == world.users["grid_a"].id
    with services.session_factory() as s:
        assert points_service.balance(s, household) == 2
        audits = {a.action: a for a in s.scalars(sa.select(AuditEntry).where(
            AuditEntry.action.in_(("points.award", "bin.emptied"))))}
        assert audits["points.award"].entity_id == household
        assert audits["bin.emptied"].detail["points"] == {str(household): 2}
        assert s.scalar(sa.select(BinReport.household_id)) is None, "kept only until the points were given"


@with_bins(report_points=2)
def test_once_per_request_per_household_however_often_it_reports(console_app, services, world, clock, entrance_bin):
    """The same household reporting three times (two numbers of its own), and another household once: one award each."""
    bin_id, token = entrance_bin
    scan(phone_of(console_app, "10.0.0.1"), token, phone=OWN_MOBILE)
    scan(phone_of(console_app, "10.0.0.2"), token, "smell", phone="+86 138-0000-0001")
    scan(phone_of(console_app, "10.0.0.3"), token, phone="023 46710001")  # household 1's landline
    scan(phone_of(console_app, "10.0.0.4"), token, "broken", phone=LANDLINE)
    empty(console_app, world, bin_id)
    got = sorted((e.household_id, e.delta, e.reason) for e in entries(services))
    assert got == sorted([(world.residents[1].household_id, 2, "报告垃圾桶满了：村口一号桶"),
                          (world.residents[2].household_id, 2, "报告垃圾桶坏了：村口一号桶")])


@with_bins(report_points=2)
def test_numbers_of_other_villages_or_of_nobody_earn_nothing_and_the_page_says_the_same(
        console_app, services, world, entrance_bin):
    """A resident of another village, an unknown number: no points. The thank-you page is word for word the page a
    matching number gets, and no page shows the number."""
    bin_id, token = entrance_bin
    replies = [scan(phone_of(console_app, f"10.0.0.{n}"), token, phone=number).get_data(as_text=True)
               for n, number in enumerate((OWN_MOBILE, OTHER_VILLAGE, NOBODY))]
    notes = [[line for line in reply.splitlines() if 'class="note"' in line] for reply in replies]
    assert notes[0] == notes[1] == notes[2] and "环境卫生积分" in notes[0][0]
    for reply in replies + [phone_of(console_app, "10.0.0.9").get(f"/q/{token}").get_data(as_text=True)]:
        for digits in ("13800000001", "0000 0001", "13800001000", "13912345678", "5678"):
            assert digits not in reply
    with services.session_factory() as s:
        kept = list(s.scalars(sa.select(BinReport.household_id).order_by(BinReport.id)))
    assert kept == [world.residents[1].household_id, None, None]
    empty(console_app, world, bin_id)
    assert [e.household_id for e in entries(services)] == [world.residents[1].household_id]


@with_bins(report_points=2)
def test_an_unreadable_number_is_said_and_the_report_kept(console_app, services, entrance_bin):
    """A number that cannot be a phone (too short, letters, 300 characters) is named as such; the report counts."""
    _, token = entrance_bin
    for n, bad in enumerate(("12345", "call me", "1" * 300, "<script>1</script>")):
        reply = scan(phone_of(console_app, f"10.0.0.{n}"), token, phone=bad)
        text = reply.get_data(as_text=True)
        assert reply.status_code == 200 and "电话号码没有记下" in text and f"{n + 1} 次报告" in text
        assert "<script>1" not in text
    with services.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count(BinReport.id))) == 4


@with_bins(report_points=2, report_points_per_day=3)
def test_a_household_gets_at_most_the_daily_cap(console_app, services, world, clock, entrance_bin):
    """Cap 3 a day: the first emptied bin gives 2, the second 1, a third none; the next (Shanghai) day gives 2 again."""
    bin_id, token = entrance_bin
    with transaction(services.session_factory) as s:
        other = bin_service.add_bin(s, now=clock.now(), actor=world.users["village_a"],
                                    courtyard_id=world.courtyards[0].id, name="祠堂桶",
                                    cleaner_id=world.users["grid_a"].id)
        third = bin_service.add_bin(s, now=clock.now(), actor=world.users["village_a"],
                                    courtyard_id=world.courtyards[0].id, name="后山桶",
                                    cleaner_id=world.users["grid_a"].id)
        bins = [(bin_id, token), (other.id, other.token), (third.id, third.token)]
    for n, (bid, tok) in enumerate(bins):
        scan(phone_of(console_app, f"10.0.0.{n}"), tok, phone=OWN_MOBILE)
        empty(console_app, world, bid)
    assert [e.delta for e in entries(services)] == [2, 1]
    clock.advance(days=1)
    scan(phone_of(console_app, "10.0.0.9"), token, phone=OWN_MOBILE)
    empty(console_app, world, bin_id)
    assert [e.delta for e in entries(services)] == [2, 1, 2]


@with_bins(report_points=2)
def test_no_points_when_the_request_ends_without_emptying(console_app, services, world, clock, entrance_bin):
    """Points are for a bin the cleaner emptied: a report closed on the request page (a prank) gives none, and the
    household is not kept on the reports of a later request either."""
    from core.requests.workorders import take_step

    bin_id, token = entrance_bin
    scan(phone_of(console_app), token, phone=OWN_MOBILE)
    with transaction(services.session_factory) as s:
        req_id = s.scalar(sa.select(Request.id))
        take_step(s, "close", now=clock.now(), actor=s.merge(world.users["village_a"]), request_id=req_id,
                  note="恶作剧")
    clock.advance(hours=1)
    scan(phone_of(console_app, "10.0.0.2"), token)
    with services.session_factory() as s:
        assert s.scalars(sa.select(BinReport.household_id)).all() == [None, None]
    empty(console_app, world, bin_id)
    assert entries(services) == []


def test_report_points_settings_are_typed():
    """`[bins] report_points` 0–100 (off by default), `report_points_per_day` at least 1."""
    from core.settings import SettingsError, load_settings

    settings = load_settings(environ={"XIAOYUAN_BINS_REPORT_POINTS": "3", "XIAOYUAN_BINS_REPORT_POINTS_PER_DAY": "6"})
    assert bin_service.ReportPoints.from_settings(settings) == bin_service.ReportPoints(per_report=3, per_day=6)
    assert not bin_service.ReportPoints.from_settings(load_settings(environ={})).enabled
    for bad in ({"XIAOYUAN_BINS_REPORT_POINTS": "-1"}, {"XIAOYUAN_BINS_REPORT_POINTS": "1000"},
                {"XIAOYUAN_BINS_REPORT_POINTS_PER_DAY": "0"}):
        with pytest.raises(SettingsError):
            load_settings(environ=bad)
