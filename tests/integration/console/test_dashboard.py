"""The dashboard a 院长 opens on a phone: emergencies first, each with numbers to ring, refreshed while open."""

from __future__ import annotations

import datetime as dt
import re

from core.bands.alerts import raise_alert
from core.bands.escalation import EscalationConfig
from core.db import transaction
from core.models.requests import Request
from core.phone.helpcalls import start_help_call
from tests.integration.console.conftest import login_as


def _sections(page: str) -> list[str]:
    """The ids of the emergency cards in page order."""
    return re.findall(r'id="emergency-(\w+-\d+)"', page)


def test_dashboard_starts_with_help_calls_then_critical_alerts_then_urgent_and_overdue_requests(
        web, world, services, clock, requests_by_resident):
    """Order: active help calls, open critical alerts, urgent requests, overdue requests; each with tel: links."""
    config = EscalationConfig.from_settings(services.settings)
    with transaction(services.session_factory) as s:
        s.get(Request, requests_by_resident[1]).urgent = True
        alert, _ = raise_alert(s, now=clock.now(), config=config, alert_type="sos", severity="critical",
                               resident_id=world.residents[0].id)
        warning, _ = raise_alert(s, now=clock.now(), config=config, alert_type="battery_low", severity="warning",
                                 resident_id=world.residents[2].id)
    clock.advance(hours=25)  # the other repair requests are now overdue
    with transaction(services.session_factory) as s:
        call = start_help_call(s, now=clock.now(), household_id=world.residents[0].household_id)
    login_as(web, world.users["head_a"])
    page = web.get("/console/").get_data(as_text=True)
    order = _sections(page)
    assert order[:3] == [f"help_call-{call.id}", f"alert-{alert.id}", f"request-{requests_by_resident[1]}"]
    assert set(order[3:]) == {f"request-{requests_by_resident[0]}", f"request-{requests_by_resident[2]}"}
    assert f"alert-{warning.id}" not in order  # only critical alerts count as emergencies
    assert page.index('id="emergencies"') < page.index('id="count-open"')  # before the counts
    help_card = page[page.index(f'id="emergency-help_call-{call.id}"'):page.index(f'id="emergency-alert-{alert.id}"')]
    tels = re.findall(r'href="tel:([^"]+)"', help_card)
    assert tels[0] == world.residents[0].phone  # the resident first
    assert "+8613800001111" in tels and "+8613900000020" in tels  # the son and the village doctor
    assert "王小明" in help_card and "儿子" in help_card


def test_dashboard_without_emergencies_says_so_and_shows_only_the_users_scope(web, world, services, clock):
    config = EscalationConfig.from_settings(services.settings)
    login_as(web, world.users["head_b"])
    assert 'id="no-emergencies"' in web.get("/console/").get_data(as_text=True)
    with transaction(services.session_factory) as s:
        raise_alert(s, now=clock.now(), config=config, alert_type="sos", severity="critical",
                    resident_id=world.residents[0].id)  # in 小院 A
    page = web.get("/console/").get_data(as_text=True)
    assert 'id="no-emergencies"' in page and "tel:" not in page


def test_caregiver_sees_the_help_call_of_the_resident_they_care_for(web, world, services, clock):
    with transaction(services.session_factory) as s:
        call = start_help_call(s, now=clock.now(), household_id=world.residents[0].household_id)
    login_as(web, world.users["carer_a"])
    page = web.get("/console/").get_data(as_text=True)
    assert _sections(page) == [f"help_call-{call.id}"]


def test_dashboard_refreshes_itself_from_a_static_script_polling_a_small_json(web, world, services, clock):
    """The live part has a fingerprint that changes with the emergencies; no inline script on the page."""
    login_as(web, world.users["head_a"])
    page = web.get("/console/").get_data(as_text=True)
    assert re.search(r'<script src="/console/static/console\.js[^"]*" defer>', page)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)  # nothing inline (the CSP forbids it)
    before = web.get("/console/live.json").get_json()
    assert before["emergencies"] == 0 and re.search(r'data-version="' + before["version"] + '"', page)
    with transaction(services.session_factory) as s:
        call = start_help_call(s, now=clock.now(), household_id=world.residents[0].household_id)
    after = web.get("/console/live.json").get_json()
    assert after["version"] != before["version"] and after["by_kind"]["help_call"] == 1
    partial = web.get("/console/?partial=emergencies").get_data(as_text=True)
    assert partial.lstrip().startswith("<section id=\"emergencies\"") and f"help_call-{call.id}" in partial
    assert f'data-version="{after["version"]}"' in partial and "<html" not in partial
    script = web.get("/console/static/console.js")
    assert script.status_code == 200 and b"data-live-url" in script.data
    script.close()


def test_the_help_call_card_says_who_is_being_rung(web, world, services, clock):
    with transaction(services.session_factory) as s:
        call = start_help_call(s, now=clock.now(), household_id=world.residents[0].household_id)
        call.status, call.current_index = "calling", 0
        first = call.chain[0]["name"]
    login_as(web, world.users["head_a"])
    page = web.get("/console/").get_data(as_text=True)
    assert f"正在呼叫 {first}" in page


def _trend_history(services, world, clock):
    """Over three days in 小院 A: requests opened and resolved, an alert acknowledged after 6 minutes, check-ins."""
    from core.bands.alerts import acknowledge_alert
    from core.community.checkins import check_in
    from core.requests.workorders import resolve_request, submit_request

    config = EscalationConfig.from_settings(services.settings)
    due = services.settings.requests.due_hours
    now = clock.now()  # 2026-11-26 09:00 local
    head = world.users["head_a"]
    with transaction(services.session_factory) as s:
        def submit(at, index=0):
            return submit_request(s, now=at, due_hours=due, resident_id=world.residents[index].id, type="repair",
                                  channel="tv", text="水管漏了").id
        first = submit(now - dt.timedelta(days=2))           # 11-24, falls due 11-25 09:00, still open
        second = submit(now - dt.timedelta(days=2), 1)       # 11-24, resolved 11-25
        resolve_request(s, now=now - dt.timedelta(days=1), actor=head, request_id=second, note="修好了")
        submit(now)                                          # today
        submit(now, 3)                                       # 小院 B: never counted for head_a
        alert, _ = raise_alert(s, now=now - dt.timedelta(days=1), config=config, alert_type="sos",
                               severity="critical", resident_id=world.residents[0].id)
        acknowledge_alert(s, now=now - dt.timedelta(days=1) + dt.timedelta(minutes=6), alert_id=alert.id,
                          by="李院长", via="console", user_id=head.id, actor=head)
        for household in world.households[:3]:
            check_in(s, now=now - dt.timedelta(days=1), household_id=household.id)
        check_in(s, now=now, household_id=world.households[0].id)
    return first


def test_daily_trends_count_as_the_reports_do(web, world, services, clock):
    from core.dashboard import daily_trends

    _trend_history(services, world, clock)
    with services.session_factory() as s:
        trends = {t.day.isoformat(): t for t in daily_trends(s, world.users["head_a"], clock.now())}
    assert len(trends) == 14 and list(trends)[-1] == "2026-11-26"
    day24, day25, day26 = trends["2026-11-24"], trends["2026-11-25"], trends["2026-11-26"]
    assert (day24.opened, day25.opened, day26.opened) == (2, 0, 1)
    assert (day24.resolved, day25.resolved, day26.resolved) == (0, 1, 0)
    assert (day24.overdue_open, day25.overdue_open, day26.overdue_open) == (0, 1, 1)
    assert (day25.alerts, day25.ack_minutes_median) == (1, 6.0)
    assert (day25.checkin_rate, day26.checkin_rate) == (1.0, round(1 / 3, 4))  # 3 households in 小院 A


def test_each_role_dashboard_draws_the_trend_charts_accessibly(web, world, services, clock):
    """SVG charts with a title and a description of their numbers; the numbers are also in a table."""
    _trend_history(services, world, clock)
    for user in ("head_a", "village_a", "town", "carer_a"):
        login_as(web, world.users[user])
        page = web.get("/console/").get_data(as_text=True)
        for chart in ("chart-requests", "chart-overdue", "chart-alerts", "chart-ack", "chart-checkins"):
            figure = page[page.index(f'id="{chart}"'):]
            figure = figure[:figure.index("</figure>")]
            assert re.search(r'<svg[^>]*role="img"[^>]*aria-label="[^"]+"', figure), (user, chart)
            assert "<title>" in figure and "<desc>" in figure, (user, chart)
        assert 'id="trend-table"' in page
    login_as(web, world.users["head_a"])
    page = web.get("/console/").get_data(as_text=True)
    requests_chart = page[page.index('id="chart-requests"'):page.index('id="chart-overdue"')]
    assert "共新增3张，办结1张" in requests_chart and 'data-bars="14"' in requests_chart
    assert "各天确认用时中位数6～6分钟" in page
    table = page[page.index('id="trend-table"'):]
    assert re.search(r"<td>11-25</td><td>0</td><td>1</td><td>1</td>\s*<td>1</td><td>6.0</td><td>100%</td>", table)


def test_the_dashboard_reads_in_english(web, world, services, clock):
    with transaction(services.session_factory) as s:
        start_help_call(s, now=clock.now(), household_id=world.residents[0].household_id)
    login_as(web, world.users["head_a"])
    page = web.get("/console/?lang=en").get_data(as_text=True)
    for words in ("Emergencies", "Preparing to call", "Requests over 14 days: opened and resolved", "More",
                  "Daily check-in rate", "Numbers by day"):
        assert words in page, words
    assert "紧急情况" not in page and "更多" not in page


def test_a_phone_sees_ten_pressing_requests_and_a_link_to_the_rest(web, world, services, clock):
    from core.requests.workorders import submit_request

    with transaction(services.session_factory) as s:
        for index in range(12):
            submit_request(s, now=clock.now(), due_hours=services.settings.requests.due_hours,
                           resident_id=world.residents[index % 3].id, type="repair", channel="tv",
                           text=f"灯坏了{index}")
    clock.advance(hours=25)
    login_as(web, world.users["head_a"])
    page = web.get("/console/").get_data(as_text=True)
    assert len([s for s in _sections(page) if s.startswith("request-")]) == 10
    assert 'id="more-requests"' in page and "还有2张紧急或超期工单" in page


def test_the_daily_overdue_stock_is_one_query_and_counts_as_the_reports_do_day_by_day(world, services, clock, engine):
    """The 超期 stock of each of the 14 days: one grouped query (it was one per day), the same numbers as the
    reports' definition (core.requests.reports.overdue_open_at) evaluated at each day's end."""
    import sqlalchemy as sa

    from core.dashboard import daily_trends
    from core.requests.reports import local_midnight_utc, overdue_open_at
    from core.requests.visibility import request_scope
    from core.requests.workorders import close_request, reopen_request, resolve_request, submit_request

    due = services.settings.requests.due_hours  # repair: due after 24 h
    now = clock.now()
    head, town = world.users["head_a"], world.users["town"]
    with transaction(services.session_factory) as s:
        for i in range(16):  # one request every ~22 h over the window, in both villages
            at = now - dt.timedelta(hours=22 * i + 3)
            rid = submit_request(s, now=at, due_hours=due, resident_id=world.residents[i % 4].id, type="repair",
                                 channel="tv", text=f"第{i}件").id
            if i % 3 == 1:  # resolved after it fell due
                resolve_request(s, now=at + dt.timedelta(hours=30), actor=town, request_id=rid, note="修好了")
            if i % 6 == 1 and at + dt.timedelta(hours=50) < now:  # …then reopened: overdue again
                reopen_request(s, now=at + dt.timedelta(hours=50), actor=town, request_id=rid, note="又坏了")
            if i % 5 == 2:  # closed before it fell due
                close_request(s, now=at + dt.timedelta(hours=5), actor=town, request_id=rid, note="重复")
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    for user in (head, town):
        with services.session_factory() as s:
            sa.event.listen(engine, "before_cursor_execute", count)
            try:
                trends = daily_trends(s, user, now)
            finally:
                sa.event.remove(engine, "before_cursor_execute", count)
            expected = []
            for figures in trends:
                end = min(now, local_midnight_utc(figures.day + dt.timedelta(days=1)))
                expected.append(s.scalar(sa.select(sa.func.count()).select_from(
                    overdue_open_at(request_scope(user), end).subquery())))
        assert [f.overdue_open for f in trends] == expected
        assert len(set(expected)) >= 3, expected  # the history moves the stock up and down
        assert len(statements) <= 6, len(statements)  # one query per series, not one per day
        statements.clear()
