"""JSON API routes /api/v1/: requests (list, get, create, transitions), residents and households (list, get, add)."""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from flask import jsonify, request
from flask_babel import gettext
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from console import api_schemas as s
from console.api import ApiError, api_user, token_required
from console.blueprint import api
from console.common import Page, paginate
from console.db import db_session
from core.container import current_services
from core.errors import NotFound
from core.i18n import N_
from core.models.places import Household, Resident
from core.models.requests import Request
from core.people import residents as people_service
from core.people.access import get_household_for, get_resident_for, scoped_households, scoped_residents
from core.people.caregivers import CaregiverFields
from core.requests import workorders as request_service
from core.requests.visibility import get_request_for, request_query
from core.requests.workorders import STATUS_LABELS, is_overdue, type_label

M = TypeVar("M", bound=BaseModel)


def _validation_message(exc: ValidationError) -> str:
    errors = exc.errors()
    where = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
    problem = errors[0]["msg"] if errors else ""
    return gettext("输入不正确：%(field)s：%(problem)s", field=where, problem=problem).strip()


def parse_body(model: type[M], *, optional: bool = False) -> M:
    """Validate the JSON body against a model; malformed JSON is 400, invalid fields 422."""
    if optional and not request.get_data():
        data: Any = {}
    else:
        try:
            data = request.get_json(force=True, silent=True)
        except RecursionError:  # nested thousands deep: not a request anyone means
            data = None
        if data is None:
            raise ApiError(400, "malformed_json", N_("请求体不是有效的 JSON"))
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_input", N_("请求体必须是 JSON 对象"))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "invalid_input", _validation_message(exc)) from None


def parse_query(model: type[M]) -> M:
    """Validate the query string against a model (422 on bad values)."""
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise ApiError(422, "invalid_input", _validation_message(exc)) from None


def _check_id(value: int) -> int:
    if value > s.MAX_ID:
        raise NotFound(N_("找不到"))
    return value


def request_out(req: Request, now, *, detail: bool = False) -> dict[str, Any]:
    """A request as the API shows it."""
    data = {
        "id": req.id, "type": req.type, "type_label": type_label(req.type), "channel": req.channel,
        "status": req.status, "status_label": STATUS_LABELS.get(req.status, req.status), "text": req.text or "",
        "transcript": req.transcript, "urgent": req.urgent, "supervised": req.supervised,
        "overdue": is_overdue(req, now), "resident_id": req.resident_id,
        "resident_name": req.resident.name if req.resident is not None else None,
        "household_id": req.household_id, "courtyard_id": req.courtyard_id, "village_id": req.village_id,
        "town_id": req.town_id, "assignee_id": req.assignee_id,
        "assignee_name": req.assignee.display_name if req.assignee is not None else None,
        "created_at": req.created_at, "updated_at": req.updated_at, "due_at": req.due_at,
        "started_at": req.started_at, "resolved_at": req.resolved_at, "closed_at": req.closed_at,
        "resolution": req.resolution or "", "satisfaction": req.satisfaction, "reopen_count": req.reopen_count,
    }
    if detail:
        data["events"] = [
            {"at": e.at, "actor_label": e.actor_label, "action": e.action, "from_status": e.from_status,
             "to_status": e.to_status, "note": e.note or ""}
            for e in req.events
        ]
        return s.RequestDetailOut.model_validate(data).model_dump(mode="json")
    return s.RequestOut.model_validate(data).model_dump(mode="json")


def resident_out(resident: Resident, *, detail: bool = False) -> dict[str, Any]:
    """A resident as the API shows it."""
    data = {
        "id": resident.id, "name": resident.name, "household_id": resident.household_id,
        "household_name": resident.household.name, "courtyard_id": resident.household.courtyard_id,
        "phone": resident.phone, "birth_year": resident.birth_year, "lives_alone": resident.lives_alone,
        "notes": resident.notes or "",
    }
    if detail:
        data["caregivers"] = [
            {"position": c.position, "kind": c.kind, "name": c.name, "relation": c.relation or "", "phone": c.phone,
             "channels": list(c.channels or []), "hours_start": c.hours_start, "hours_end": c.hours_end}
            for c in resident.caregivers
        ]
        return s.ResidentDetailOut.model_validate(data).model_dump(mode="json")
    return s.ResidentOut.model_validate(data).model_dump(mode="json")


def household_out(household: Household) -> dict[str, Any]:
    """A household as the API shows it."""
    return s.HouseholdOut.model_validate({
        "id": household.id, "name": household.name, "number": household.number, "courtyard_id": household.courtyard_id,
        "courtyard_name": household.courtyard.name, "address": household.address or "",
        "landline": household.landline, "resident_count": sum(1 for r in household.residents if not r.erased),
    }).model_dump(mode="json")


def _page_json(page: Page, items: list[dict[str, Any]]) -> Response:
    return jsonify({"items": items, "page": page.page, "per_page": page.per_page, "total": page.total,
                    "pages": page.pages})


@api.get("/me")
@token_required
def me() -> Response:
    """The account behind the token."""
    user = api_user()
    return jsonify(s.MeOut.model_validate(user, from_attributes=True).model_dump(mode="json"))


@api.get("/requests")
@token_required
def list_requests() -> Response:
    """Requests in the caller's scope, newest first, filtered and paged."""
    query = parse_query(s.RequestQuery)
    user = api_user()
    now = current_services().clock.now()
    select = request_query(
        user, now=now, status=query.status, type=query.type, overdue=query.overdue, supervised=query.supervised,
        mine=bool(query.mine), resident_id=query.resident_id,
    ).options(selectinload(Request.resident), selectinload(Request.assignee))
    page = paginate(db_session(), select.order_by(Request.created_at.desc(), Request.id.desc()),
                    query.page, query.per_page)
    return _page_json(page, [request_out(r, now) for r in page.items])


@api.post("/requests")
@token_required
def create_request() -> tuple[Response, int]:
    """Submit a request for a resident in the caller's scope (channel `api`)."""
    body = parse_body(s.RequestCreate)
    user = api_user()
    session = db_session()
    services = current_services()
    now = services.clock.now()
    req = request_service.submit_request(
        session, now=now, due_hours=services.settings.requests.due_hours, resident_id=body.resident_id,
        type=body.type, channel="api", text=body.text, actor=user, urgent=body.urgent, via="api",
    )
    session.commit()
    response = jsonify(request_out(req, now, detail=True))
    response.headers["Location"] = f"{api.url_prefix}/requests/{req.id}"
    return response, 201


@api.get("/requests/<int:request_id>")
@token_required
def get_request(request_id: int) -> Response:
    """One request with its timeline (404 outside the caller's scope)."""
    req = get_request_for(db_session(), api_user(), _check_id(request_id))
    return jsonify(request_out(req, current_services().clock.now(), detail=True))


# The body each lifecycle step takes, and whether it may be empty (the steps are core.requests.workorders.LIFECYCLE).
BODIES: dict[str, tuple[type[BaseModel], bool]] = {
    "assign": (s.AssignBody, False),
    "start": (s.NoteBody, True),
    "resolve": (s.ResolveBody, False),
    "evaluate": (s.EvaluateBody, False),
    "close": (s.NoteBody, True),
    "reopen": (s.NoteBody, True),
}


@api.post(f"/requests/<int:request_id>/<any({', '.join(request_service.LIFECYCLE)}):action>")
@token_required
def transition_request(request_id: int, action: str) -> Response:
    """Apply a transition (assign, start, resolve, evaluate, close, reopen) as the caller."""
    model, optional = BODIES[action]
    user = api_user()
    session = db_session()
    req = get_request_for(session, user, _check_id(request_id))
    body = parse_body(model, optional=optional)
    now = current_services().clock.now()
    kwargs = body.model_dump()
    if action == "evaluate":
        kwargs["system_label"] = "api"
    request_service.take_step(session, action, now=now, actor=user, request_id=req.id, via="api", **kwargs)
    session.commit()
    return jsonify(request_out(req, now, detail=True))


@api.get("/residents")
@token_required
def list_residents() -> Response:
    """Residents in the caller's scope, paged; filter by name/phone (q), lives_alone, household_id."""
    query = parse_query(s.ResidentQuery)
    select = scoped_residents(api_user()).options(selectinload(Resident.household))
    if query.q:
        like = f"%{query.q}%"
        select = select.where(sa.or_(Resident.name.like(like), Resident.phone.like(like)))
    if query.lives_alone is not None:
        select = select.where(Resident.lives_alone.is_(query.lives_alone))
    if query.household_id is not None:
        select = select.where(Resident.household_id == query.household_id)
    page = paginate(db_session(), select.order_by(Resident.id), query.page, query.per_page)
    return _page_json(page, [resident_out(r) for r in page.items])


@api.get("/residents/<int:resident_id>")
@token_required
def get_resident(resident_id: int) -> Response:
    """One resident with the caregiver chain (404 outside the caller's scope)."""
    resident = get_resident_for(db_session(), api_user(), _check_id(resident_id))
    return jsonify(resident_out(resident, detail=True))


@api.get("/households")
@token_required
def list_households() -> Response:
    """Households in the caller's scope, paged."""
    query = parse_query(s.PageQuery)
    select = scoped_households(api_user()).options(
        selectinload(Household.residents), selectinload(Household.courtyard)
    )
    page = paginate(db_session(), select.order_by(Household.id), query.page, query.per_page)
    return _page_json(page, [household_out(h) for h in page.items])


@api.get("/households/<int:household_id>")
@token_required
def get_household(household_id: int) -> Response:
    """One household (404 outside the caller's scope)."""
    return jsonify(household_out(get_household_for(db_session(), api_user(), _check_id(household_id))))


@api.post("/households")
@token_required
def create_household() -> tuple[Response, int]:
    """Add a household to a 小院 in the caller's scope (404 for any other 小院)."""
    body = parse_body(s.HouseholdCreate)
    session = db_session()
    household = people_service.create_household(
        session, now=current_services().clock.now(), actor=api_user(), courtyard_id=_check_id(body.courtyard_id),
        name=body.name, address=body.address, landline=body.landline, number=body.number,
    )
    session.commit()
    response = jsonify(household_out(household))
    response.headers["Location"] = f"{api.url_prefix}/households/{household.id}"
    return response, 201


@api.post("/residents")
@token_required
def create_resident() -> tuple[Response, int]:
    """Add a resident with their caregiver chain to a household in the caller's scope, all or nothing."""
    body = parse_body(s.ResidentCreate)
    session = db_session()
    fields = people_service.ResidentFields(name=body.name, phone=body.phone, birth_year=body.birth_year,
                                           lives_alone=body.lives_alone, notes=body.notes)
    chain = [CaregiverFields(kind=c.kind, name=c.name, relation=c.relation, phone=c.phone, channels=tuple(c.channels),
                             hours_start=c.hours_start, hours_end=c.hours_end, username=c.username)
             for c in body.caregivers]
    resident = people_service.create_resident(session, now=current_services().clock.now(), actor=api_user(),
                                              household_id=_check_id(body.household_id), fields=fields, chain=chain)
    session.commit()
    response = jsonify(resident_out(resident, detail=True))
    response.headers["Location"] = f"{api.url_prefix}/residents/{resident.id}"
    return response, 201
