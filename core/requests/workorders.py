"""Requests (工单): the lifecycle (one table of steps), and submit, assign, start, resolve, evaluate, close, reopen.

`actor` is a staff User (checked against role and scope) or None for a trusted edge that has
already identified the resident (the TV box token, the caller ID, a wristband) or for a job.
A change a person makes is audited here, with `via` naming the surface (console, api, cli).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.errors import InvalidInput, InvalidTransition, NotFound, PermissionDenied
from core.i18n import DEFAULT_LOCALE, N_, translate
from core.models.places import Courtyard, Resident, Village
from core.models.requests import CHANNELS, Request, RequestEvent
from core.models.staff import User
from core.notify.outbox import Recipient, enqueue_message, recipient_for_user
from core.people import access
from core.people.audit import record_audit
from core.people.directory import courtyard_head, place_of_household
from core.people.villages import duty_person, village_duty_phone
from core.phones import try_normalise_phone
from core.requests import texts

TYPE_LABELS = {
    "environment": N_("爱环境"),
    "find_head": N_("找院长"),
    "sell": N_("帮我卖"),
    "job": N_("找活干"),
    "help": N_("求助"),
    "repair": N_("维修"),
    "other": N_("其他"),
}
STATUS_LABELS = {
    "new": N_("待分派"),
    "assigned": N_("已分派"),
    "in_progress": N_("处理中"),
    "resolved": N_("已解决"),
    "evaluated": N_("已评价"),
    "closed": N_("已关闭"),
}
SATISFACTION = ("satisfied", "basic", "dissatisfied", "unevaluated")
OPEN_STATUSES = ("new", "assigned", "in_progress")


@dataclass(frozen=True)
class Step:
    """One step of the lifecycle: the statuses it starts from, who may take it, and why it is refused otherwise."""

    sources: tuple[str, ...]
    refusal: str
    roles: tuple[str, ...] = access.MANAGER_ROLES


# The 工单 lifecycle. new → assigned (automatically, to the 院长) → in_progress → resolved → evaluated →
# closed; 不满意 reopens; anything not closed can be closed (withdrawn, duplicate). Residents' own
# edges (TV, phone follow-up) evaluate with actor None; staff steps need a manager role and the place.
LIFECYCLE: dict[str, Step] = {
    "assign": Step(OPEN_STATUSES, N_("工单已结束，不能改派")),
    "start": Step(("new", "assigned"), N_("只有待处理的工单可以开始")),
    "resolve": Step(OPEN_STATUSES, N_("工单不在处理中")),
    "evaluate": Step(("resolved",), N_("工单还没有解决，不能评价")),
    "close": Step((*OPEN_STATUSES, "resolved", "evaluated"), N_("工单已关闭")),
    "reopen": Step(("resolved", "evaluated", "closed"), N_("工单还在处理中")),
}


def allowed_actions(role: str | None, status: str) -> list[str]:
    """The steps a user of `role` may take on a request in `status`, in the order buttons show them."""
    return [action for action, step in LIFECYCLE.items() if role in step.roles and status in step.sources]


def check_step(action: str, req: Request, actor: User | None) -> None:
    """Refuse a step the actor may not take (PermissionDenied / NotFound) or the status does not allow."""
    step = LIFECYCLE[action]
    if actor is not None and actor.role not in step.roles:
        raise PermissionDenied(N_("您的角色不能做这件事"))
    _check_manage(actor, req)
    if req.status not in step.sources:
        raise InvalidTransition(step.refusal)


def _audit(session: Session, req: Request, now: dt.datetime, actor: access.Viewer | None, action: str,
           via: str | None, **detail: Any) -> None:
    """Record a person's change (system and resident edges are in the request's own timeline)."""
    if actor is None:
        return
    if via:
        detail["via"] = via
    record_audit(session, at=now, actor=actor, action=f"request.{action}", entity_type="request", entity_id=req.id,
                 **detail)


def type_label(request_type: str) -> str:
    """The Chinese name of a request type (a msgid: translate it for the reader)."""
    return TYPE_LABELS.get(request_type, request_type)


def request_ref(req: Request, place: str, locale: str = DEFAULT_LOCALE) -> str:
    """How a message names a request, e.g. "#12（维修，椒香小院）", in `locale`."""
    template = texts.REQUEST_REF_PLACE if place else texts.REQUEST_REF
    return translate(template, locale, id=req.id, type=translate(type_label(req.type), locale), place=place)


def _label(actor: access.Viewer | None, fallback: str) -> str:
    return actor.display_name if actor is not None else fallback


def _event(
    req: Request,
    now: dt.datetime,
    actor: access.Viewer | None,
    action: str,
    to_status: str | None,
    note: str = "",
    system_label: str = "system",
) -> None:
    req.events.append(
        RequestEvent(
            at=now,
            actor_id=actor.id if actor else None,
            actor_label=_label(actor, system_label),
            action=action,
            from_status=req.status,
            to_status=to_status,
            note=note,
        )
    )
    if to_status is not None:
        req.status = to_status
    req.updated_at = now


def _notify_assignee(session: Session, req: Request, assignee: User, now: dt.datetime, template: str) -> None:
    _notify_new_request(session, req, recipient_for_user(assignee), now, template)


def _notify_new_request(session: Session, req: Request, recipient: Recipient, now: dt.datetime,
                        template: str) -> None:
    """Tell someone about a new request (its number, type, text and any recording) in their language."""
    locale = recipient.locale
    text = translate(
        "新工单 #%(id)s（%(type)s）：%(text)s",
        locale,
        id=req.id,
        type=translate(type_label(req.type), locale),
        text=(req.text or req.transcript or "")[:120],
    )
    if req.recording_url:
        text += " " + translate("录音：%(url)s", locale, url=req.recording_url)
    enqueue_message(
        session,
        now=now,
        recipient=recipient,
        template=template,
        text=text,
        params={"request_id": req.id},
        priority=1 if req.urgent else 5,
        subject=("request", req.id),
        village_id=req.village_id,
    )


def _check_manage(actor: User | None, req: Request) -> None:
    """Staff must manage requests and cover the request's place (or have it assigned to them)."""
    if actor is None:
        return
    access.require_manager(actor)
    if req.assignee_id == actor.id:
        return
    if not access.can_see_place(actor, courtyard_id=req.courtyard_id, village_id=req.village_id, town_id=req.town_id):
        raise NotFound(N_("找不到这张工单"))


def submit_request(
    session: Session,
    *,
    now: dt.datetime,
    due_hours: dict[str, float],
    resident_id: int | None,
    type: str,
    channel: str,
    text: str = "",
    actor: access.Viewer | None = None,
    household_id: int | None = None,
    transcript: str | None = None,
    confidence: float | None = None,
    recording_url: str | None = None,
    details: dict | None = None,
    urgent: bool = False,
    system_label: str | None = None,
    via: str | None = None,
    village_id: int | None = None,
    courtyard_id: int | None = None,
    assign_to: User | None = None,
) -> Request:
    """Create a request, assign it to the resident's 院长 and tell them through the outbox.

    Without a household, `courtyard_id` names the 小院 the request is about (a bin's QR label): it is that
    小院's and goes to its 院长. `assign_to` (e.g. a bin's cleaner) takes it instead of the 院长.

    Without a household (an unknown caller), `village_id` names the village whose number was called: the
    request is that village's, goes to its duty person and the duty phone is told too.
    """
    if type not in due_hours:
        raise InvalidInput(N_("未知的工单类型：%(type)s"), type=type)
    if channel not in CHANNELS:
        raise InvalidInput(N_("未知的渠道：%(channel)s"), channel=channel)
    resident = None
    if resident_id is not None:
        resident = session.get(Resident, resident_id)
        if resident is None or resident.erased:
            raise NotFound(N_("找不到这位居民"))
        household_id = resident.household_id
    if actor is not None:
        if resident is not None:
            access.get_resident_for(session, actor, resident.id)
        elif actor.role not in ("admin",):
            raise InvalidInput(N_("请选择居民"))
    req = Request(
        type=type,
        channel=channel,
        status="new",
        text=text.strip()[:4000],
        transcript=transcript,
        confidence=confidence,
        recording_url=recording_url,
        details=details or {},
        urgent=urgent,
        resident_id=resident_id,
        created_by_id=actor.id if actor else None,
        created_at=now,
        updated_at=now,
        due_at=now + dt.timedelta(hours=due_hours[type]),
    )
    head = None
    if household_id is not None:
        place = place_of_household(session, household_id)
        req.household_id, req.courtyard_id = place.household_id, place.courtyard_id
        req.village_id, req.town_id = place.village_id, place.town_id
        head = courtyard_head(session, household_id)
    elif courtyard_id is not None:
        courtyard = session.get(Courtyard, courtyard_id)
        if courtyard is None:
            raise NotFound(N_("找不到这个小院"))
        req.courtyard_id, req.village_id, req.town_id = courtyard.id, courtyard.village_id, courtyard.village.town_id
        head = courtyard.head if courtyard.head is not None and courtyard.head.active else None
    elif village_id is not None:
        village = session.get(Village, village_id)
        if village is not None:
            req.village_id, req.town_id = village.id, village.town_id
            head = duty_person(session, village.id)
    session.add(req)
    _event(req, now, actor, "submitted", None, note=channel, system_label=system_label or channel)
    req.status = "new"
    session.flush()
    head = assign_to or head
    if head is not None:
        req.assignee_id = head.id
        _event(req, now, None, "assigned", "assigned", note=head.display_name, system_label="auto")
        session.flush()
        _notify_assignee(session, req, head, now, "request.assigned")
    if household_id is None and req.village_id is not None and (courtyard_id is None or head is None):
        _notify_duty_phone(session, req, head, now)
    _audit(session, req, now, actor, "submit", via, type=req.type)
    return req


def _notify_duty_phone(session: Session, req: Request, told: User | None, now: dt.datetime) -> None:
    """An unknown caller's request also goes to the village duty phone, unless its holder was just told."""
    duty = village_duty_phone(session, req.village_id)
    if duty is None or (told is not None and try_normalise_phone(told.phone) == duty):
        return
    _notify_new_request(session, req, Recipient(name=translate(texts.DUTY_PHONE_NAME), phone=duty), now,
                        "request.duty_phone")


def assign_request(
    session: Session, *, now: dt.datetime, actor: User | None, request_id: int, assignee_id: int, note: str = "",
    via: str | None = None,
) -> Request:
    """Hand a request to another staff member (who must be able to see its place)."""
    req = _load(session, request_id)
    check_step("assign", req, actor)
    assignee = session.get(User, assignee_id)
    if assignee is None or not assignee.active or assignee.role not in access.MANAGER_ROLES:
        raise InvalidInput(N_("找不到这位工作人员"))
    if assignee.role != "admin" and not access.can_see_place(
        assignee, courtyard_id=req.courtyard_id, village_id=req.village_id, town_id=req.town_id
    ):
        raise InvalidInput(N_("这位工作人员管不到这里"))
    req.assignee_id = assignee.id
    _event(
        req,
        now,
        actor,
        "assigned",
        "assigned" if req.status == "new" else req.status,
        note=note or assignee.display_name,
    )
    _notify_assignee(session, req, assignee, now, "request.assigned")
    _audit(session, req, now, actor, "assign", via, status=req.status)
    return req


def start_request(
    session: Session, *, now: dt.datetime, actor: User | None, request_id: int, note: str = "", via: str | None = None
) -> Request:
    """Mark a request as being worked on."""
    req = _load(session, request_id)
    check_step("start", req, actor)
    req.started_at = now
    _event(req, now, actor, "started", "in_progress", note)
    _audit(session, req, now, actor, "start", via, status=req.status)
    return req


def resolve_request(session: Session, *, now: dt.datetime, actor: User | None, request_id: int, note: str,
                    via: str | None = None) -> Request:
    """Mark a request as resolved with what was done."""
    req = _load(session, request_id)
    check_step("resolve", req, actor)
    if not note.strip():
        raise InvalidInput(N_("请写明怎么解决的"))
    req.resolved_at = now
    req.resolution = note.strip()
    req.supervised = False
    _event(req, now, actor, "resolved", "resolved", note)
    _audit(session, req, now, actor, "resolve", via, status=req.status)
    return req


def evaluate_request(
    session: Session,
    *,
    now: dt.datetime,
    actor: User | None,
    request_id: int,
    satisfaction: str,
    note: str = "",
    system_label: str = "resident",
    via: str | None = None,
) -> Request:
    """Store the resident's satisfaction; 不满意 reopens the request."""
    req = _load(session, request_id)
    _check_manage(actor, req)
    if satisfaction not in SATISFACTION:
        raise InvalidInput(N_("评价只能是 满意 / 基本满意 / 不满意"))
    check_step("evaluate", req, actor)
    req.satisfaction = satisfaction
    if satisfaction == "dissatisfied":
        _event(req, now, actor, "evaluated", None, note or satisfaction, system_label=system_label)
        # Event notes are stored in Chinese; these are msgids, so a page can show them in its reader's language.
        _reopen(session, req, now, actor, N_("不满意"), system_label)
    elif satisfaction == "unevaluated":
        req.closed_at = now
        _event(req, now, actor, "closed", "closed", note or N_("未评价"), system_label=system_label)
    else:
        _event(req, now, actor, "evaluated", "evaluated", note or satisfaction, system_label=system_label)
    _audit(session, req, now, actor, "evaluate", via, status=req.status)
    return req


def close_request(
    session: Session, *, now: dt.datetime, actor: User | None, request_id: int, note: str = "", via: str | None = None
) -> Request:
    """Close a request (withdrawn, duplicate, or done after evaluation)."""
    req = _load(session, request_id)
    check_step("close", req, actor)
    req.closed_at = now
    _event(req, now, actor, "closed", "closed", note)
    _audit(session, req, now, actor, "close", via, status=req.status)
    return req


def reopen_request(session: Session, *, now: dt.datetime, actor: User | None, request_id: int, note: str,
                   via: str | None = None) -> Request:
    """Reopen a resolved, evaluated or closed request."""
    req = _load(session, request_id)
    check_step("reopen", req, actor)
    _reopen(session, req, now, actor, note, "system")
    _audit(session, req, now, actor, "reopen", via, status=req.status)
    return req


def _reopen(
    session: Session, req: Request, now: dt.datetime, actor: User | None, note: str, system_label: str
) -> Request:
    req.reopen_count += 1
    req.resolved_at = None
    req.closed_at = None
    req.overdue_level = 0
    _event(req, now, actor, "reopened", "assigned" if req.assignee_id else "new", note, system_label=system_label)
    if req.assignee_id:
        assignee = session.get(User, req.assignee_id)
        if assignee is not None:
            _notify_assignee(session, req, assignee, now, "request.reopened")
    return req


def _load(session: Session, request_id: int) -> Request:
    req = session.get(Request, request_id)
    if req is None:
        raise NotFound(N_("找不到这张工单"))
    return req


def is_overdue(req: Request, now: dt.datetime) -> bool:
    """Whether an open request is past its due time."""
    return req.status in OPEN_STATUSES and req.due_at is not None and req.due_at < now


def overdue_clause(now: dt.datetime):
    """A clause on Request: open requests past their due time (the SQL form of `is_overdue`)."""
    return sa.and_(Request.status.in_(OPEN_STATUSES), Request.due_at.is_not(None), Request.due_at < now)


STEPS: dict[str, Callable[..., Request]] = {
    "assign": assign_request, "start": start_request, "resolve": resolve_request,
    "evaluate": evaluate_request, "close": close_request, "reopen": reopen_request,
}


def take_step(session: Session, action: str, *, now: dt.datetime, actor: User | None, request_id: int,
              via: str | None = None, **inputs: Any) -> Request:
    """Take one lifecycle step by name (what the console's buttons and the API's routes post)."""
    if action not in STEPS:
        raise InvalidInput(N_("未知操作：%(action)s"), action=action)
    return STEPS[action](session, now=now, actor=actor, request_id=request_id, via=via, **inputs)
