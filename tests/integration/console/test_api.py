"""The JSON API: bearer tokens (hashed at rest, revocable), scoping per role, paging, transitions, JSON errors."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from core.models.outbox import OutboxMessage
from core.models.requests import Request
from core.models.staff import ApiToken, User
from tests.integration.console.conftest import ROLE_OF, VISIBLE_RESIDENTS, bearer

USERS = list(VISIBLE_RESIDENTS)


def _error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


def test_token_is_stored_only_as_a_hash(services, world, tokens):
    with services.session_factory() as session:
        rows = session.scalars(sa.select(ApiToken)).all()
    hashes = {row.token_hash for row in rows}
    assert hashlib.sha256(tokens.admin.encode()).hexdigest() in hashes
    assert all(tokens.admin not in h for h in hashes)
    assert tokens.admin.startswith("xy_")


def test_me_identifies_the_token_owner(web, world, tokens):
    r = web.get("/api/v1/me", headers=bearer(tokens.head_a))
    assert r.status_code == 200
    assert r.get_json()["username"] == "head_a" and r.get_json()["role"] == "courtyard_head"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic YWRtaW46eA=="},
                                     {"Authorization": "Bearer xy_not-a-real-token"}])
def test_missing_or_wrong_token_is_401_json(web, world, tokens, headers):
    err = _error(web.get("/api/v1/requests", headers=headers), 401, "unauthorized")
    assert err["message"]


def test_revoked_token_and_deactivated_user_are_rejected(web, world, tokens, services):
    assert web.get("/api/v1/me", headers=bearer(tokens.grid_a)).status_code == 200
    with services.session_factory() as session, session.begin():
        token_hash = hashlib.sha256(tokens.grid_a.encode()).hexdigest()
        session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == token_hash)).revoked = True
        session.get(User, world.users["village_a"].id).active = False
    _error(web.get("/api/v1/me", headers=bearer(tokens.grid_a)), 401, "unauthorized")
    _error(web.get("/api/v1/me", headers=bearer(tokens.village_a)), 401, "unauthorized")


def test_last_use_of_a_token_is_recorded(web, world, tokens, services, clock):
    web.get("/api/v1/me", headers=bearer(tokens.town))
    with services.session_factory() as session:
        row = session.scalar(sa.select(ApiToken).where(ApiToken.user_id == world.users["town"].id))
        assert row.last_used_at == clock.now()


@pytest.mark.parametrize("who", USERS)
def test_request_list_is_scoped_per_role(web, world, tokens, requests_by_resident, who):
    r = web.get("/api/v1/requests?per_page=100", headers=bearer(getattr(tokens, who)))
    assert r.status_code == 200
    body = r.get_json()
    assert {item["id"] for item in body["items"]} == {requests_by_resident[i] for i in VISIBLE_RESIDENTS[who]}
    assert body["total"] == len(VISIBLE_RESIDENTS[who])


@pytest.mark.parametrize("who", USERS)
def test_request_and_resident_get_are_404_outside_scope(web, world, tokens, requests_by_resident, who):
    headers = bearer(getattr(tokens, who))
    for index, request_id in requests_by_resident.items():
        r = web.get(f"/api/v1/requests/{request_id}", headers=headers)
        if index in VISIBLE_RESIDENTS[who]:
            assert r.status_code == 200 and r.get_json()["id"] == request_id
        else:
            _error(r, 404, "not_found")
    for index, resident in enumerate(world.residents):
        r = web.get(f"/api/v1/residents/{resident.id}", headers=headers)
        if index in VISIBLE_RESIDENTS[who]:
            assert r.status_code == 200
        else:
            _error(r, 404, "not_found")


@pytest.mark.parametrize("who", USERS)
def test_resident_and_household_lists_are_scoped(web, world, tokens, who):
    headers = bearer(getattr(tokens, who))
    residents = web.get("/api/v1/residents?per_page=100", headers=headers).get_json()
    assert {r["id"] for r in residents["items"]} == {world.residents[i].id for i in VISIBLE_RESIDENTS[who]}
    households = web.get("/api/v1/households?per_page=100", headers=headers).get_json()
    # Each world household has one resident, in the same order.
    assert {h["id"] for h in households["items"]} == {world.households[i].id for i in VISIBLE_RESIDENTS[who]}


@pytest.mark.parametrize("who", USERS)
def test_who_can_start_a_request_in_area_a(web, world, tokens, requests_by_resident, services, who):
    request_id = requests_by_resident[0]
    r = web.post(f"/api/v1/requests/{request_id}/start", headers=bearer(getattr(tokens, who)), json={})
    role = ROLE_OF[who]
    if role == "caregiver":
        _error(r, 403, "forbidden")
    elif 0 in VISIBLE_RESIDENTS[who]:
        assert r.status_code == 200 and r.get_json()["status"] == "in_progress"
    else:
        _error(r, 404, "not_found")
    with services.session_factory() as session:
        status = session.get(Request, request_id).status
    assert status == ("in_progress" if r.status_code == 200 else "assigned")


def test_head_b_cannot_create_requests_for_courtyard_a(web, world, tokens, services):
    r = web.post("/api/v1/requests", headers=bearer(tokens.head_b),
                 json={"resident_id": world.residents[0].id, "type": "help", "text": "冒充"})
    _error(r, 404, "not_found")
    with services.session_factory() as session:
        assert session.scalar(sa.select(sa.func.count(Request.id))) == 0


def test_create_request_assigns_the_head_and_queues_a_message(web, world, tokens, services, clock):
    r = web.post("/api/v1/requests", headers=bearer(tokens.grid_a),
                 json={"resident_id": world.residents[1].id, "type": "repair", "text": "屋顶漏雨", "urgent": True})
    assert r.status_code == 201
    body = r.get_json()
    assert r.headers["Location"] == f"/api/v1/requests/{body['id']}"
    assert body["channel"] == "api" and body["status"] == "assigned" and body["urgent"] is True
    assert body["assignee_id"] == world.users["head_a"].id and body["type_label"] == "维修"
    assert [e["action"] for e in body["events"]] == ["submitted", "assigned"]
    with services.session_factory() as session:
        message = session.scalar(sa.select(OutboxMessage).where(OutboxMessage.subject_id == body["id"]))
        assert message.recipient_user_id == world.users["head_a"].id


def test_full_lifecycle_through_the_api(web, world, tokens, requests_by_resident):
    request_id, h = requests_by_resident[2], bearer(tokens.head_a)
    assert web.post(f"/api/v1/requests/{request_id}/start", headers=h).status_code == 200
    _error(web.post(f"/api/v1/requests/{request_id}/resolve", headers=h, json={"note": ""}), 422, "invalid_input")
    r = web.post(f"/api/v1/requests/{request_id}/resolve", headers=h, json={"note": "换了水龙头"})
    assert r.get_json()["status"] == "resolved"
    _error(web.post(f"/api/v1/requests/{request_id}/start", headers=h, json={}), 409, "invalid_transition")
    r = web.post(f"/api/v1/requests/{request_id}/evaluate", headers=h, json={"satisfaction": "dissatisfied"})
    assert r.get_json()["status"] == "assigned" and r.get_json()["reopen_count"] == 1
    r = web.post(f"/api/v1/requests/{request_id}/assign", headers=h, json={"assignee_id": world.users["grid_a"].id})
    assert r.get_json()["assignee_id"] == world.users["grid_a"].id
    r = web.post(f"/api/v1/requests/{request_id}/assign", headers=h, json={"assignee_id": world.users["head_b"].id})
    _error(r, 422, "invalid_input")  # head_b does not cover courtyard A
    r = web.post(f"/api/v1/requests/{request_id}/close", headers=h, json={"note": "重复"})
    assert r.get_json()["status"] == "closed"
    r = web.post(f"/api/v1/requests/{request_id}/reopen", headers=h, json={"note": "又坏了"})
    assert r.get_json()["status"] == "assigned"


def test_pagination(web, world, tokens, requests_by_resident):
    h = bearer(tokens.admin)
    first = web.get("/api/v1/requests?per_page=4", headers=h).get_json()
    second = web.get("/api/v1/requests?per_page=4&page=2", headers=h).get_json()
    assert (first["total"], first["pages"], len(first["items"]), len(second["items"])) == (6, 2, 4, 2)
    assert not {i["id"] for i in first["items"]} & {i["id"] for i in second["items"]}
    assert web.get("/api/v1/requests?per_page=4&page=9", headers=h).get_json()["items"] == []
    _error(web.get("/api/v1/requests?per_page=1000", headers=h), 422, "invalid_input")
    _error(web.get("/api/v1/requests?page=0", headers=h), 422, "invalid_input")
    _error(web.get("/api/v1/requests?page=abc", headers=h), 422, "invalid_input")


def test_filters(web, world, tokens, requests_by_resident, clock):
    h = bearer(tokens.admin)
    web.post(f"/api/v1/requests/{requests_by_resident[0]}/resolve", headers=h, json={"note": "好了"})
    assert web.get("/api/v1/requests?status=resolved", headers=h).get_json()["total"] == 1
    assert web.get("/api/v1/requests?status=open", headers=h).get_json()["total"] == 5
    assert web.get("/api/v1/requests?type=help", headers=h).get_json()["total"] == 0
    assert web.get("/api/v1/requests?overdue=true", headers=h).get_json()["total"] == 0
    clock.advance(hours=25)  # repairs are due in 24 hours
    overdue = web.get("/api/v1/requests?overdue=true", headers=h).get_json()
    assert overdue["total"] == 5 and all(item["overdue"] for item in overdue["items"])
    mine = web.get("/api/v1/requests?mine=true", headers=bearer(tokens.head_b)).get_json()
    assert mine["total"] == 3
    _error(web.get("/api/v1/requests?status=lost", headers=h), 422, "invalid_input")


def test_json_errors_for_routing_and_bodies(web, world, tokens, requests_by_resident):
    h = bearer(tokens.admin)
    _error(web.get("/api/v1/nothing-here", headers=h), 404, "not_found")
    _error(web.get("/api/v1/requests/999999", headers=h), 404, "not_found")
    _error(web.get("/api/v1/requests/99999999999999999999", headers=h), 404, "not_found")
    r = web.delete("/api/v1/requests", headers=h)
    _error(r, 405, "method_not_allowed")
    assert "GET" in r.headers["Allow"]
    _error(web.post("/api/v1/requests", headers=h, data="{not json", content_type="application/json"),
           400, "malformed_json")
    _error(web.post("/api/v1/requests", headers=h, json=[1, 2]), 422, "invalid_input")
    _error(web.post("/api/v1/requests", headers=h, json={"resident_id": world.residents[0].id, "type": "help",
                                                         "colour": "red"}), 422, "invalid_input")
    _error(web.post("/api/v1/requests", headers=h, json={"resident_id": world.residents[0].id, "type": "party"}),
           422, "invalid_input")
    _error(web.post(f"/api/v1/requests/{requests_by_resident[0]}/explode", headers=h), 404, "not_found")


def test_openapi_document_covers_every_api_route(web, console_app):
    doc = web.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    implemented = set()
    for rule in console_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint == "api.openapi":
            continue
        path = rule.rule.removeprefix("/api/v1")
        path = path.replace("<int:", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            if "<any(" in path:
                for action in ("assign", "start", "resolve", "evaluate", "close", "reopen"):
                    implemented.add((path.split("/<any(")[0] + "/" + action, method))
            else:
                implemented.add((path, method))
    assert documented == implemented
    assert doc["components"]["schemas"]["RequestCreate"]["properties"]["type"]["enum"][0] == "environment"



def test_service_errors_with_parameters_come_in_the_language_the_client_asked_for(app):
    from console.common import error_text
    from core.errors import InvalidInput
    from core.i18n import N_

    exc = InvalidInput(N_("未知角色：%(role)s"), role="boss")
    with app.test_request_context("/api/v1/me?lang=en"):
        assert error_text(exc) == "Unknown role: boss"
    with app.test_request_context("/api/v1/me"):
        assert error_text(exc) == "未知角色：boss"
