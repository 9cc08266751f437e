"""The OpenAPI 3.1 document of /api/v1, built from the pydantic models the routes validate and return."""

from __future__ import annotations

import copy
from typing import Any, Literal

from flask import jsonify
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from werkzeug.wrappers import Response

from console import api_boards
from console import api_schemas as s
from console.blueprint import api
from core.container import current_services

_BODIES: dict[str, type[BaseModel]] = {
    "RequestCreate": s.RequestCreate, "NoteBody": s.NoteBody, "ResolveBody": s.ResolveBody,
    "AssignBody": s.AssignBody, "EvaluateBody": s.EvaluateBody, "HouseholdCreate": s.HouseholdCreate,
    "ResidentCreate": s.ResidentCreate}
_OUTPUTS: tuple[type[BaseModel], ...] = (
    s.ErrorOut, s.RequestDetailOut, s.RequestPage, s.ResidentDetailOut, s.ResidentPage, s.HouseholdOut,
    s.HouseholdPage, s.MeOut, *api_boards.OUTPUTS)


def _components() -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (m, "validation") for m in _BODIES.values()]
    models += [(m, "serialization") for m in _OUTPUTS]
    _, top = models_json_schema(models, ref_template="#/components/schemas/{model}")
    return top.get("$defs", {})


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _errors(*codes: int) -> dict[str, Any]:
    words = {400: "Malformed JSON", 401: "Missing, invalid or revoked token", 403: "The role may not do this",
             404: "Not found (or outside the caller's scope)", 405: "Method not allowed",
             409: "Not allowed in the request's current status", 422: "Invalid input"}
    return {str(code): _json("ErrorOut", words[code]) for code in codes}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _path_id(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": s.MAX_ID}}


_LOCATION = {"Location": {"description": "The new object's URL", "schema": {"type": "string"}}}

PAGING = [
    _query("page", {"type": "integer", "minimum": 1, "maximum": 100000, "default": 1}, "Page number, from 1"),
    _query("per_page", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "Rows per page"),
]


def build_openapi(request_types: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The whole document; `request_types` are the configured request types."""
    components = copy.deepcopy(_components())
    components["RequestCreate"]["properties"]["type"]["enum"] = list(request_types)
    bool_q = {"type": "boolean"}
    read: dict[str, Any] = {"security": [{"bearer": []}]}
    transitions = {
        "assign": ("AssignBody", True, "Hand the request to another staff member covering its place"),
        "start": ("NoteBody", False, "Start working on the request"),
        "resolve": ("ResolveBody", True, "Mark resolved, saying what was done"),
        "evaluate": ("EvaluateBody", True, "Record the resident's satisfaction (dissatisfied reopens)"),
        "close": ("NoteBody", False, "Close (withdrawn, duplicate, finished)"),
        "reopen": ("NoteBody", False, "Reopen a finished request"),
    }
    paths: dict[str, Any] = {
        "/me": {"get": {**read, "operationId": "getMe", "summary": "The account behind the token",
                        "responses": {"200": _json("MeOut", "The account"), **_errors(401)}}},
        "/requests": {
            "get": {
                **read, "operationId": "listRequests", "summary": "Requests in the caller's scope, newest first",
                "parameters": PAGING + [
                    _query("status", {"type": "string", "enum": ["open", "new", "assigned", "in_progress", "resolved",
                                                                  "evaluated", "closed"]}, "Status, or open"),
                    _query("type", {"type": "string", "maxLength": 20}, "Request type"),
                    _query("overdue", bool_q, "Only overdue (true) or not overdue (false)"),
                    _query("supervised", bool_q, "挂牌督办 requests"),
                    _query("mine", bool_q, "Only those assigned to the caller"),
                    _query("resident_id", {"type": "integer", "minimum": 1, "maximum": s.MAX_ID}, "One resident"),
                ],
                "responses": {"200": _json("RequestPage", "A page of requests"), **_errors(401, 422)},
            },
            "post": {
                **read, "operationId": "createRequest", "summary": "Submit a request for a resident",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("RequestCreate")}}},
                "responses": {"201": _json("RequestDetailOut", "The new request"),
                              **_errors(400, 401, 403, 404, 422)},
            },
        },
        "/requests/{request_id}": {
            "get": {**read, "operationId": "getRequest", "summary": "One request with its timeline",
                    "parameters": [_path_id("request_id")],
                    "responses": {"200": _json("RequestDetailOut", "The request"), **_errors(401, 404)}},
        },
        "/residents": {
            "get": {
                **read, "operationId": "listResidents", "summary": "Residents in the caller's scope",
                "parameters": PAGING + [
                    _query("q", {"type": "string", "maxLength": 80}, "Part of a name or phone number"),
                    _query("lives_alone", bool_q, "Living alone"),
                    _query("household_id", {"type": "integer", "minimum": 1, "maximum": s.MAX_ID}, "One household"),
                ],
                "responses": {"200": _json("ResidentPage", "A page of residents"), **_errors(401, 422)},
            },
            "post": {
                **read, "operationId": "createResident",
                "summary": "Add a resident with the caregiver chain (in calling order) to a household",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ResidentCreate")}}},
                "responses": {"201": {**_json("ResidentDetailOut", "The new resident"), "headers": _LOCATION},
                              **_errors(400, 401, 403, 404, 422)},
            },
        },
        "/residents/{resident_id}": {
            "get": {**read, "operationId": "getResident", "summary": "One resident with the caregiver chain",
                    "parameters": [_path_id("resident_id")],
                    "responses": {"200": _json("ResidentDetailOut", "The resident"), **_errors(401, 404)}},
        },
        "/households": {
            "get": {**read, "operationId": "listHouseholds", "summary": "Households in the caller's scope",
                    "parameters": list(PAGING),
                    "responses": {"200": _json("HouseholdPage", "A page of households"), **_errors(401, 422)}},
            "post": {
                **read, "operationId": "createHousehold", "summary": "Add a household to a 小院",
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": _ref("HouseholdCreate")}}},
                "responses": {"201": {**_json("HouseholdOut", "The new household"), "headers": _LOCATION},
                              **_errors(400, 401, 403, 404, 422)},
            },
        },
        "/households/{household_id}": {
            "get": {**read, "operationId": "getHousehold", "summary": "One household",
                    "parameters": [_path_id("household_id")],
                    "responses": {"200": _json("HouseholdOut", "The household"), **_errors(401, 404)}},
        },
    }
    paths.update(api_boards.openapi_paths(read=read, json=_json, errors=_errors, paging=list(PAGING), query=_query,
                                          path_id=_path_id))
    for action, (body, required, summary) in transitions.items():
        paths[f"/requests/{{request_id}}/{action}"] = {
            "post": {
                **read, "operationId": f"{action}Request", "summary": summary,
                "parameters": [_path_id("request_id")],
                "requestBody": {"required": required, "content": {"application/json": {"schema": _ref(body)}}},
                "responses": {"200": _json("RequestDetailOut", "The request after the change"),
                              **_errors(400, 401, 403, 404, 409, 422)},
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "小院+ API", "version": "1.0.0",
            "description": "Requests (工单), residents and households, scoped to the token's account. "
                           "Errors are {\"error\": {\"code\", \"message\"}}.",
        },
        "servers": [{"url": api.url_prefix or "/api/v1"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "A per-user token (xy_...) from the console's API 令牌 page",
            }},
            "schemas": components,
        },
        "paths": paths,
    }


@api.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI document (public: it describes, it reveals no data)."""
    return jsonify(build_openapi(current_services().settings.requests.types))
