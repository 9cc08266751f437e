"""POST /api/v1/households and /api/v1/residents (with the caregiver chain): scoped, strict, audited, all or nothing."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.models.audit import AuditEntry
from core.models.places import CaregiverLink, Household, Resident
from tests.integration.console.conftest import bearer


def _resident_body(household_id: int, **changes) -> dict:
    body = {
        "household_id": household_id, "name": "赵桂兰", "phone": "138 0000 7777", "birth_year": 1941,
        "lives_alone": True, "notes": "耳背",
        "caregivers": [
            {"name": "赵小军", "relation": "儿子", "phone": "13900007777", "channels": ["dryrun"]},
            {"kind": "doctor", "name": "赵医生", "relation": "村医", "phone": "023-4671 2345", "hours_start": 8,
             "hours_end": 20},
        ],
    }
    body.update(changes)
    return body


def _count(services, model) -> int:
    with services.session_factory() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model))


def test_create_household_in_scope_returns_201_with_location_and_is_audited(web, world, tokens, services):
    r = web.post("/api/v1/households", headers=bearer(tokens.village_a),
                 json={"courtyard_id": world.courtyards[0].id, "name": "赵家", "number": "A-07",
                       "landline": "023-4671 0099"})
    assert r.status_code == 201, r.get_data(as_text=True)
    body = r.get_json()
    assert body["number"] == "A-07" and body["landline"] == "+862346710099" and body["resident_count"] == 0
    assert r.headers["Location"] == f"/api/v1/households/{body['id']}"
    assert web.get(r.headers["Location"], headers=bearer(tokens.village_a)).get_json()["name"] == "赵家"
    with services.session_factory() as session:
        entry = session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "household.create"))
        assert entry.entity_id == body["id"] and entry.actor_label == "village_a"


def test_a_household_number_is_unique_within_the_village(web, world, tokens):
    body = {"courtyard_id": world.courtyards[0].id, "name": "赵家", "number": "12"}
    assert web.post("/api/v1/households", headers=bearer(tokens.admin), json=body).status_code == 201
    again = web.post("/api/v1/households", headers=bearer(tokens.admin), json={**body, "name": "钱家"})
    assert again.status_code == 422 and "12" in again.get_json()["error"]["message"]
    other_village = web.post("/api/v1/households", headers=bearer(tokens.admin),
                             json={**body, "courtyard_id": world.courtyards[1].id})
    assert other_village.status_code == 201


@pytest.mark.parametrize(("who", "status"), [("village_a", 404), ("head_a", 404), ("carer_a", 403)])
def test_create_household_outside_scope_is_refused(web, world, tokens, services, who, status):
    before = _count(services, Household)
    r = web.post("/api/v1/households", headers=bearer(getattr(tokens, who)),
                 json={"courtyard_id": world.courtyards[1].id, "name": "外村户"})
    assert r.status_code == status
    assert _count(services, Household) == before


def test_create_resident_with_caregiver_chain_in_order(web, world, tokens, services):
    household = world.households[1]
    r = web.post("/api/v1/residents", headers=bearer(tokens.head_a), json=_resident_body(household.id))
    assert r.status_code == 201, r.get_data(as_text=True)
    body = r.get_json()
    assert body["phone"] == "+8613800007777" and body["lives_alone"] is True and body["household_id"] == household.id
    assert [(c["position"], c["name"], c["kind"], c["phone"]) for c in body["caregivers"]] == [
        (1, "赵小军", "family", "+8613900007777"), (2, "赵医生", "doctor", "+862346712345")]
    assert r.headers["Location"] == f"/api/v1/residents/{body['id']}"
    with services.session_factory() as session:
        actions = [a for (a,) in session.execute(
            sa.select(AuditEntry.action).where(AuditEntry.entity_type == "resident", AuditEntry.entity_id == body["id"])
            .order_by(AuditEntry.id))]
    assert actions == ["resident.create", "chain.add", "chain.add"]


@pytest.mark.parametrize("bad", [
    {"household_id": "1"},  # strict: a string is not an id
    {"lives_alone": "yes"},
    {"birth_year": 1850},
    {"name": ""},
    {"unknown": 1},
    {"caregivers": [{"name": "x", "kind": "neighbour"}]},
    {"caregivers": [{"name": "x", "hours_start": 24}]},
    {"caregivers": [{"name": "x", "channels": ["fax"]}]},
    {"caregivers": [{"phone": "13900007777"}]},
])
def test_bad_resident_bodies_are_422_and_write_nothing(web, world, tokens, services, bad):
    before = _count(services, Resident)
    body = {**_resident_body(world.households[0].id), **bad}
    r = web.post("/api/v1/residents", headers=bearer(tokens.admin), json=body)
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.get_json()["error"]["code"] == "invalid_input"
    assert _count(services, Resident) == before


def test_a_bad_caregiver_phone_rolls_back_the_resident_too(web, world, tokens, services):
    before = (_count(services, Resident), _count(services, CaregiverLink))
    body = _resident_body(world.households[0].id)
    body["caregivers"][1]["phone"] = "12"
    r = web.post("/api/v1/residents?lang=en", headers=bearer(tokens.admin), json=body)
    assert r.status_code == 422
    assert (_count(services, Resident), _count(services, CaregiverLink)) == before


def test_create_resident_outside_scope_is_404_and_caregivers_cannot_create(web, world, tokens):
    other = world.households[3].id  # village B
    assert web.post("/api/v1/residents", headers=bearer(tokens.village_a),
                    json=_resident_body(other)).status_code == 404
    assert web.post("/api/v1/residents", headers=bearer(tokens.carer_a),
                    json=_resident_body(world.households[0].id)).status_code == 403


def test_linking_an_account_of_another_village_is_refused(web, world, tokens):
    body = _resident_body(world.households[3].id, caregivers=[{"name": "张院长", "username": "head_a"}])
    r = web.post("/api/v1/residents", headers=bearer(tokens.head_b), json=body)
    assert r.status_code == 422


def test_openapi_documents_both_new_operations(web):
    doc = web.get("/api/v1/openapi.json").get_json()
    assert doc["paths"]["/households"]["post"]["operationId"] == "createHousehold"
    assert doc["paths"]["/residents"]["post"]["operationId"] == "createResident"
    schema = doc["components"]["schemas"]["ResidentCreate"]
    assert schema["additionalProperties"] is False and "caregivers" in schema["properties"]
