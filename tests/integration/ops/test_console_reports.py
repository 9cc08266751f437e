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
