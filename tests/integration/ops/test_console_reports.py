"""Console reports: HTML with SVG bars and CSV, scoped by role."""

from __future__ import annotations

import pytest

from core.db import transaction
from core.requests.workorders import submit_request
from tests.integration.console.conftest import login_as


@pytest.fixture
def web(app, services, world, clock):
    """A console client with one request in each village today."""
    if not app.secret_key:
        app.secret_key = "test-secret"
    if "csrf" not in app.extensions:
        from console.setup import init_console

        init_console(app)
    app.jinja_env.globals.setdefault("_", lambda s, **k: s % k if k else s)
    with transaction(services.session_factory) as s:
        for index in (0, 3):
            submit_request(s, now=clock.now(), due_hours=services.settings.requests.due_hours,
                           resident_id=world.residents[index].id, type="repair", channel="tv", text="灯坏了")
    return app.test_client()


def test_town_sees_the_town_report_with_charts_and_csv(web, world, clock):
    login_as(web, world.users["town"])
    day = clock.now().date().isoformat()
    page = web.get(f"/console/reports?kind=daily&date={day}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "安富街道" in html and "<svg" in html and "椒香小院" in html and "荷花小院" in html
    csv_resp = web.get(f"/console/reports.csv?kind=daily&date={day}")
    assert csv_resp.status_code == 200 and csv_resp.mimetype == "text/csv"
    assert "requests,,new,2" in csv_resp.get_data(as_text=True)


def test_village_staff_see_only_their_village(web, world, clock):
    login_as(web, world.users["village_a"])
    day = clock.now().date().isoformat()
    html = web.get(f"/console/reports?date={day}").get_data(as_text=True)
    assert "高瓷村" in html and "荷花小院" not in html
    other = world.villages[1].id
    assert web.get(f"/console/reports?date={day}&village={other}").status_code == 404
    login_as(web, world.users["head_a"])
    assert web.get("/console/reports").status_code == 403


def test_overdue_is_reported_as_stock_at_report_time_and_as_new_in_the_period(services, world, clock):
    """超期 has two labelled figures: still open past due at report time (stock) and fell due in the period (flow)."""
    import datetime as dt

    from core.requests.reports import build_report, render_text
    from core.requests.workorders import resolve_request

    now = clock.now()  # 09:00 local
    due = services.settings.requests.due_hours  # repair: 24 h
    head = world.users["head_a"]
    with transaction(services.session_factory) as s:
        def submit(at):
            return submit_request(s, now=at, due_hours=due, resident_id=world.residents[0].id, type="repair",
                                  channel="tv", text="灯坏了").id
        submit(now - dt.timedelta(days=3))                       # due 2 days ago, still open: stock only
        submit(now - dt.timedelta(hours=26))                     # fell due 2 h ago today: stock and flow
        late = submit(now - dt.timedelta(days=3))                # overdue, then resolved yesterday: neither
        resolve_request(s, now=now - dt.timedelta(days=1), actor=head, request_id=late, note="修好了")
        submit(now - dt.timedelta(hours=1))                      # not yet due: neither
    with services.session_factory() as s:
        today = build_report(s, kind="daily", day=dt.date(2026, 11, 26), village_id=world.villages[0].id, now=now)
        three_days_ago = build_report(s, kind="daily", day=dt.date(2026, 11, 23),
                                      village_id=world.villages[0].id, now=now)
    assert (today.requests["overdue"], today.requests["overdue_open"]) == (1, 2)
    assert today.requests["as_of"] == "2026-11-26 09:00"
    assert three_days_ago.requests["overdue_open"] == 0  # at the end of 11-23 nothing had fallen due yet
    text = render_text(today)
    assert "本期新超期1" in text and "超期未办结2" in text


def test_report_page_labels_overdue_stock_and_flow(web, world, clock):
    login_as(web, world.users["town"])
    html = web.get(f"/console/reports?kind=daily&date={clock.now().date().isoformat()}").get_data(as_text=True)
    assert 'id="overdue-flow"' in html and "本期新超期" in html
    assert 'id="overdue-stock"' in html and "超期未办结" in html and "截至 2026-11-26 09:00" in html
