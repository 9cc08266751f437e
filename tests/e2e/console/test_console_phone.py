"""The console on a 390x844 phone in real Chromium: the menu fits, the "更多" drawer opens, no page scrolls
sideways, tables are cards; on a PC the drawer shows every group at once."""

from __future__ import annotations

import pytest

from tests.e2e.console.conftest import sign_in

pytestmark = pytest.mark.slow

# The pages a 院长 and the 指挥中心 open most (every menu entry of their role is visited too).
HEAD_PAGES = ["/console/", "/console/requests", "/console/requests/new", "/console/residents",
              "/console/households", "/console/alerts", "/console/alerts/history", "/console/bands",
              "/console/tv/points", "/console/tv/notices", "/console/tv/boxes", "/console/tv/checkins",
              "/console/voice/help-calls", "/console/outbox", "/console/reminders"]


def overflow(page) -> int:
    """How many CSS pixels the page is wider than the viewport (0 when nothing scrolls sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def menu_fits(page) -> list[str]:
    """The primary menu entries (and 更多) that do not fit the viewport's width."""
    return page.evaluate("""() => Array.from(document.querySelectorAll('.menu .primary > li'))
        .filter(li => { const r = li.getBoundingClientRect(); return r.left < 0 || r.right > window.innerWidth + 0.5
                        || r.width < 40; })
        .map(li => li.textContent.trim())""")


@pytest.mark.parametrize("username", ["head_a", "town", "village_a", "carer_a"])
def test_phone_menu_fits_and_no_page_scrolls_sideways(live_console, phone, username):
    page = sign_in(phone, live_console, username)
    primary = page.locator(".menu .primary > li").count()
    assert 2 <= primary <= 5
    assert menu_fits(page) == []
    links = page.eval_on_selector_all(".menu .drawer a", "els => els.map(a => a.getAttribute('href'))")
    assert len(links) >= 8  # every entry is in the drawer
    wide = {}
    for path in dict.fromkeys(HEAD_PAGES + links):
        response = page.goto(f"{live_console.url}{path}")
        if response.status != 200:
            assert path not in links, f"{path} is in {username}'s menu but answers {response.status}"
            continue  # a head's page this role may not open
        if overflow(page) > 0 or menu_fits(page):
            wide[path] = (overflow(page), menu_fits(page))
    assert wide == {}


def test_more_drawer_opens_with_groups_in_view(live_console, phone):
    page = sign_in(phone, live_console, "head_a")
    drawer = page.locator(".menu .drawer")
    assert not drawer.is_visible()
    page.click(".menu summary")
    assert drawer.is_visible()
    groups = page.locator(".menu .drawer h2").all_inner_texts()
    assert "日常" in groups and "积分与电视" in groups
    box = drawer.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390.5
    page.click(".menu .drawer a:text-is('积分')")
    page.wait_for_url(f"{live_console.url}/console/tv/points")


def test_tables_are_cards_on_a_phone(live_console, phone):
    page = sign_in(phone, live_console, "head_a")
    page.goto(f"{live_console.url}/console/requests")
    row = page.locator("main table tbody tr").first
    assert row.evaluate("el => getComputedStyle(el).display") == "block"
    assert page.locator("main table thead").evaluate("el => el.getBoundingClientRect().height") <= 1
    label = page.locator("main table tbody tr td").nth(1).evaluate(
        "el => getComputedStyle(el, '::before').content")
    assert "类型" in label


def test_emergencies_come_first_with_a_dial_button(live_console, phone):
    page = sign_in(phone, live_console, "head_a")
    first = page.locator("main > *").first
    assert first.get_attribute("id") == "emergencies"
    tel = page.locator("#emergencies a[href^='tel:']").first
    assert tel.is_visible()
    box = tel.bounding_box()
    assert box["height"] >= 44 and box["x"] + box["width"] <= 390.5


def test_pc_shows_every_group_without_opening_a_drawer(live_console, chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    try:
        page = sign_in(context, live_console, "town")
        assert page.locator(".menu .drawer").is_visible()
        assert not page.locator(".menu summary").is_visible()
        assert overflow(page) <= 0
    finally:
        context.close()


def test_the_dashboard_shows_a_new_help_call_by_itself(live_console, phone):
    """The static script polls live.json and reloads the emergency list when it changes (no inline script)."""
    import sqlalchemy as sa

    from core.db import transaction
    from core.models.places import Resident
    from core.phone.helpcalls import start_help_call

    page = sign_in(phone, live_console, "head_a")
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    before = page.locator("#emergencies .kind-help_call").count()
    with transaction(live_console.services.session_factory) as session:
        resident = session.scalars(sa.select(Resident).order_by(Resident.id)).all()[1]
        start_help_call(session, now=live_console.services.clock.now(), household_id=resident.household_id)
    page.locator("#emergencies .kind-help_call").nth(before).wait_for(timeout=40000)  # polled every 15 s
    assert page.title().startswith("(")  # the count shows in the tab title
    assert errors == []  # nothing refused by the Content-Security-Policy


def test_dashboard_menu_and_forms_pass_axe_on_a_phone(live_console, chromium):
    """axe-core: no serious or critical violation on the dashboard (drawer open), the points and batch forms."""
    from axe_playwright_python.sync_playwright import Axe

    context = chromium.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", bypass_csp=True)
    try:
        page = sign_in(context, live_console, "head_a")
        page.click(".menu summary")
        bad = {}
        for path in (None, "/console/tv/points", "/console/tv/notices", "/console/requests"):
            if path:
                page.goto(f"{live_console.url}{path}")
            results = Axe().run(page)
            found = [(v["id"], [n["target"] for n in v["nodes"]][:3]) for v in results.response["violations"]
                     if v["impact"] in ("serious", "critical")]
            if found:
                bad[path or "/console/"] = found
        assert bad == {}
    finally:
        context.close()
