"""Pydantic models of the JSON API: request bodies, query strings and responses (the OpenAPI source)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_ID = 2**31 - 1  # ids are 32-bit integers on every backend
Id = Field(ge=1, le=MAX_ID)


def _no_nul(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; it never means anything in a note, so it is dropped.
    return value.replace("\x00", "") if value is not None else None


class _Input(BaseModel):
    # Strict: JSON `true` is not resident 1, "1" is not an id, "yes" is not a boolean.
    model_config = ConfigDict(extra="forbid", str_max_length=4000, strict=True)


class RequestCreate(_Input):
    """Submit a request (工单) for a resident in the caller's scope."""

    resident_id: int = Field(ge=1, le=MAX_ID)
    type: str = Field(max_length=20, description="A configured request type, e.g. environment, help, repair")
    text: str = Field(default="", max_length=4000)
    urgent: bool = False

    _check_text = field_validator("type", "text")(_no_nul)


class NoteBody(_Input):
    """A transition with an optional note (start, close, reopen)."""

    note: str = Field(default="", max_length=2000)

    _check_note = field_validator("note")(_no_nul)


class ResolveBody(_Input):
    """Resolve with a note saying what was done."""

    note: str = Field(min_length=1, max_length=2000)

    _check_note = field_validator("note")(_no_nul)


class AssignBody(_Input):
    """Hand the request to another staff member who covers its place."""

    assignee_id: int = Field(ge=1, le=MAX_ID)
    note: str = Field(default="", max_length=2000)

    _check_note = field_validator("note")(_no_nul)


class EvaluateBody(_Input):
    """Record the resident's satisfaction; dissatisfied reopens the request."""

    satisfaction: Literal["satisfied", "basic", "dissatisfied", "unevaluated"]
    note: str = Field(default="", max_length=2000)

    _check_note = field_validator("note")(_no_nul)


class HouseholdCreate(_Input):
    """Add a household to a 小院 in the caller's scope."""

    courtyard_id: int = Field(ge=1, le=MAX_ID)
    name: str = Field(min_length=1, max_length=80)
    number: str | None = Field(default=None, max_length=20, description="户号, unique within the village")
    address: str = Field(default="", max_length=200)
    landline: str | None = Field(default=None, max_length=30, description="With its area code, e.g. 023-4671 2345")

    _check_text = field_validator("name", "number", "address", "landline")(_no_nul)


class CaregiverCreate(_Input):
    """One step of a new resident's caregiver chain (the list's order is the calling order)."""

    kind: Literal["family", "courtyard_head", "doctor", "grid_worker", "other"] = "family"
    name: str = Field(min_length=1, max_length=80)
    relation: str = Field(default="", max_length=40)
    phone: str | None = Field(default=None, max_length=30)
    channels: list[Literal["dryrun", "twilio_sms", "wecom", "dingtalk", "webhook"]] = Field(
        default_factory=list, max_length=5)
    hours_start: int | None = Field(default=None, ge=0, le=23)
    hours_end: int | None = Field(default=None, ge=0, le=23)
    username: str = Field(default="", max_length=150, description="A staff or caregiver account to link")

    _check_text = field_validator("name", "relation", "phone", "username")(_no_nul)


class ResidentCreate(_Input):
    """Add a resident to a household in the caller's scope, with the caregiver chain."""

    household_id: int = Field(ge=1, le=MAX_ID)
    name: str = Field(min_length=1, max_length=80)
    phone: str | None = Field(default=None, max_length=30, description="A mobile, or a landline with area code")
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    lives_alone: bool = False
    notes: str = Field(default="", max_length=2000)
    caregivers: list[CaregiverCreate] = Field(default_factory=list, max_length=10)

    _check_text = field_validator("name", "phone", "notes")(_no_nul)


class PageQuery(BaseModel):
    """Paging of every list. Unknown parameters are refused, so a typo never silently widens a list."""

    model_config = ConfigDict(extra="forbid")
    page: int = Field(default=1, ge=1, le=100000)
    per_page: int = Field(default=20, ge=1, le=100)


class RequestQuery(PageQuery):
    """Filters of the request list."""

    status: Literal["open", "new", "assigned", "in_progress", "resolved", "evaluated", "closed"] | None = None
    type: str | None = Field(default=None, max_length=20)
    overdue: bool | None = None
    supervised: bool | None = None
    mine: bool | None = None
    resident_id: int | None = Field(default=None, ge=1, le=MAX_ID)

    _check = field_validator("type")(_no_nul)


class ResidentQuery(PageQuery):
    """Filters of the resident list."""

    q: str | None = Field(default=None, max_length=80)
    lives_alone: bool | None = None
    household_id: int | None = Field(default=None, ge=1, le=MAX_ID)

    _check = field_validator("q")(_no_nul)


class ErrorDetail(BaseModel):
    """What went wrong: a stable code for programs and a message for people."""

    code: str
    message: str


class ErrorOut(BaseModel):
    """Every API failure."""

    error: ErrorDetail


class EventOut(BaseModel):
    """One entry of a request's timeline."""

    at: dt.datetime
    actor_label: str
    action: str
    from_status: str | None
    to_status: str | None
    note: str


class RequestOut(BaseModel):
    """A request (工单)."""

    id: int
    type: str
    type_label: str
    channel: str
    status: str
    status_label: str
    text: str
    transcript: str | None
    urgent: bool
    supervised: bool
    overdue: bool
    resident_id: int | None
    resident_name: str | None
    household_id: int | None
    courtyard_id: int | None
    village_id: int | None
    town_id: int | None
    assignee_id: int | None
    assignee_name: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    due_at: dt.datetime | None
    started_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    resolution: str
    satisfaction: str | None
    reopen_count: int


class RequestDetailOut(RequestOut):
    """A request with its timeline."""

    events: list[EventOut]


class RequestPage(BaseModel):
    """A page of requests."""

    items: list[RequestOut]
    page: int
    per_page: int
    total: int
    pages: int


class CaregiverOut(BaseModel):
    """One step of a resident's caregiver chain."""

    position: int
    kind: str
    name: str
    relation: str
    phone: str | None
    channels: list[str]
    hours_start: int | None
    hours_end: int | None


class ResidentOut(BaseModel):
    """A resident."""

    id: int
    name: str
    household_id: int
    household_name: str
    courtyard_id: int
    phone: str | None
    birth_year: int | None
    lives_alone: bool
    notes: str


class ResidentDetailOut(ResidentOut):
    """A resident with the caregiver chain."""

    caregivers: list[CaregiverOut]


class ResidentPage(BaseModel):
    """A page of residents."""

    items: list[ResidentOut]
    page: int
    per_page: int
    total: int
    pages: int


class HouseholdOut(BaseModel):
    """A household."""

    id: int
    name: str
    number: str | None
    courtyard_id: int
    courtyard_name: str
    address: str
    landline: str | None
    resident_count: int


class HouseholdPage(BaseModel):
    """A page of households."""

    items: list[HouseholdOut]
    page: int
    per_page: int
    total: int
    pages: int


class MeOut(BaseModel):
    """The account behind the token."""

    id: int
    username: str
    display_name: str
    role: str
    town_id: int | None
    village_id: int | None
    courtyard_id: int | None
