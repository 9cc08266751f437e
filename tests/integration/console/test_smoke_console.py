"""Smoke: every console page renders for an admin."""

from tests.integration.console.conftest import login_as


def test_every_page_renders_for_admin(web, world):
    login_as(web, world.users["admin"])
    for path in ("/console/", "/console/requests", "/console/requests/new", "/console/residents",
                 f"/console/residents/{world.residents[0].id}", "/console/households",
                 f"/console/households/{world.households[0].id}", "/console/users", "/console/outbox",
                 "/console/audit", "/console/tokens", f"/console/households/{world.households[0].id}/residents/new"):
        r = web.get(path)
        assert r.status_code == 200, (path, r.status_code, r.get_data(as_text=True)[-2000:])
