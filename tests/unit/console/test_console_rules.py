"""Pure console rules: paging, which buttons a role gets, chain reordering, account creation, menus, redirects."""

from __future__ import annotations

import datetime as dt

import pytest

from console.auth import safe_next
from console.common import Page, local_day_start, parse_positive_int
from console.nav import nav_for
from core.clock import UTC
from core.errors import InvalidInput
from core.people.caregivers import moved, parse_hour
from core.people.users import creatable_roles
from core.requests.workorders import allowed_actions


@pytest.mark.parametrize(("raw", "expected"), [(None, 1), ("", 1), ("3", 3), ("0", 1), ("-2", 1), ("x", 1),
                                               ("500", 100), ("9" * 40, 1), ("2147483648", 1)])
def test_page_numbers_from_query_strings_never_break_a_list(raw, expected):
    assert parse_positive_int(raw, 1, maximum=100) == expected


def test_page_arithmetic():
    page = Page(items=[], page=2, per_page=20, total=41)
    assert (page.pages, page.has_prev, page.has_next) == (3, True, True)
    empty = Page(items=[], page=1, per_page=20, total=0)
    assert (empty.pages, empty.has_prev, empty.has_next) == (1, False, False)


def test_local_day_starts_at_shanghai_midnight():
    # 2026-11-26 01:30 in Shanghai is 2026-11-25 17:30 UTC; the local day began at 16:00 UTC.
    now = dt.datetime(2026, 11, 25, 17, 30, tzinfo=UTC)
    assert local_day_start(now) == dt.datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(("status", "expected"), [
    ("new", ["assign", "start", "resolve", "close"]),
    ("assigned", ["assign", "start", "resolve", "close"]),
    ("in_progress", ["assign", "resolve", "close"]),
    ("resolved", ["evaluate", "close", "reopen"]),
    ("evaluated", ["close", "reopen"]),
    ("closed", ["reopen"]),
])
def test_staff_get_the_buttons_the_status_allows(status, expected):
    assert allowed_actions("courtyard_head", status) == expected


def test_caregivers_get_no_buttons():
    assert allowed_actions("caregiver", "new") == []
    assert allowed_actions(None, "new") == []


@pytest.mark.parametrize(("link", "direction", "expected"), [
    (3, "up", [1, 3, 2]), (1, "up", [1, 2, 3]), (3, "down", [1, 2, 3]), (1, "down", [2, 1, 3]),
    (9, "up", [1, 2, 3]), (2, "sideways", [1, 2, 3]),
])
def test_moving_a_caregiver_swaps_with_the_neighbour(link, direction, expected):
    assert moved([1, 2, 3], link, direction) == expected


def test_hours_are_whole_hours_of_the_day():
    assert parse_hour("") is None and parse_hour(" 7 ") == 7 and parse_hour("23") == 23
    for bad in ("24", "-1", "八点"):
        with pytest.raises(InvalidInput):
            parse_hour(bad)


def test_nobody_creates_accounts_above_their_level():
    assert "admin" in creatable_roles("admin")
    assert "admin" not in creatable_roles("town")
    assert set(creatable_roles("village")) == {"courtyard_head", "grid_worker", "caregiver"}
    assert creatable_roles("courtyard_head") == () and creatable_roles("caregiver") == ()


def test_menus_per_role():
    caregiver = [item.endpoint for item in nav_for("caregiver")]
    assert "console.outbox_list" not in caregiver and "console.user_list" not in caregiver
    assert "console.request_list" in caregiver
    assert "console.user_list" in [item.endpoint for item in nav_for("village")]
    assert nav_for(None) == []


@pytest.mark.parametrize(("target", "expected"), [
    ("/console/outbox", "/console/outbox"), ("https://evil.example/", None), ("//evil.example", None),
    ("/\\evil.example", None), ("", None), (None, None),
    # Browsers drop tabs/newlines and read a backslash as "/": each of these would become //evil.example.
    ("/\t/evil.example", None), ("/\n/evil.example", None), ("/\r/evil.example", None), ("/ /evil.example", None),
    ("/\x00/evil.example", None), ("\\\\evil.example", None), ("/\\/evil.example", None),
    ("javascript:alert(1)", None), ("/console/requests?status=open&page=2", "/console/requests?status=open&page=2"),
])
def test_login_redirects_stay_on_site(target, expected):
    assert safe_next(target) == expected


def test_pages_sit_in_the_group_a_staff_member_looks_in():
    """Pages added later had no group and landed in 其他: the 小院家 boards and bins, the roster import, the duty
    phone."""
    import console.bin_pages
    import console.dayjobs  # each page module registers its menu entry
    import console.market
    import console.roster_pages  # noqa: F401

    groups = {item.endpoint: item.group_label for item in nav_for("admin")}
    assert groups["console.market_list"] == groups["console.jobs_list"] == "小院家"
    assert groups["console.bin_route"] == groups["console.bin_list"] == "小院家"
    assert groups["console.roster_import"] == groups["console.resident_list"] == "居民与手环"
    assert groups["console.village_list"] == groups["console.outbox_list"] == "电话与消息"
