"""Requests (工单): submit, assign, start, resolve, evaluate, close, reopen — with permission checks.

`actor` is a staff User (checked against role and scope) or None for a trusted edge that has
already identified the resident (the TV box token, the caller ID, a wristband).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from core.errors import InvalidInput, InvalidTransition, NotFound, PermissionDenied
from core.i18n import N_, translate
from core.models.places import Resident
from core.models.requests import CHANNELS, Request, RequestEvent
from core.models.staff import User
from core.notify.outbox import enqueue_message, recipient_for_user
from core.people import access
from core.people.directory import courtyard_head, place_of_household

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


def type_label(request_type: str) -> str:
    """The Chinese name of a request type (a msgid: translate it for the reader)."""
    return TYPE_LABELS.get(request_type, request_type)


def _label(actor: User | None, fallback: str) -> str:
    return actor.display_name if actor is not None else fallback


def _event(
    req: Request,
    now: dt.datetime,
    actor: User | None,
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
    locale = assignee.locale or "zh"
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
        recipient=recipient_for_user(assignee),
        template=template,
        text=text,
        params={"request_id": req.id},
        priority=1 if req.urgent else 5,
        subject=("request", req.id),
        village_id=req.village_id,
    )


def _check_manage(actor: User | None, req: Request) -> None:
    if actor is None:
        return
    access.require_manager(actor)
    if req.assignee_id == actor.id:
        return
    if not access.can_see_place(actor, courtyard_id=req.courtyard_id, village_id=req.village_id, town_id=req.town_id):
        raise NotFound("找不到这张工单 / request not found")


def submit_request(
    session: Session,
    *,
    now: dt.datetime,
    due_hours: dict[str, float],
    resident_id: int | None,
    type: str,
    channel: str,
    text: str = "",
    actor: User | None = None,
    household_id: int | None = None,
    transcript: str | None = None,
    confidence: float | None = None,
    recording_url: str | None = None,
    details: dict | None = None,
    urgent: bool = False,
    system_label: str | None = None,
) -> Request:
    """Create a request, assign it to the resident's 院长 and tell them through the outbox."""
    if type not in due_hours:
        raise InvalidInput(f"未知的工单类型 / unknown request type: {type}")
    if channel not in CHANNELS:
        raise InvalidInput(f"未知的渠道 / unknown channel: {channel}")
    resident = None
    if resident_id is not None:
        resident = session.get(Resident, resident_id)
        if resident is None or resident.erased:
            raise NotFound("找不到这位居民 / resident not found")
        household_id = resident.household_id
    if actor is not None:
        if resident is not None:
            access.get_resident_for(session, actor, resident.id)
        elif actor.role not in ("admin",):
            raise InvalidInput("请选择居民 / a resident is required")
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
    session.add(req)
    _event(req, now, actor, "submitted", None, note=channel, system_label=system_label or channel)
    req.status = "new"
    session.flush()
    if head is not None:
        req.assignee_id = head.id
        _event(req, now, None, "assigned", "assigned", note=head.display_name, system_label="auto")
        session.flush()
        _notify_assignee(session, req, head, now, "request.assigned")
    return req


def assign_request(
    session: Session, *, now: dt.datetime, actor: User | None, request_id: int, assignee_id: int, note: str = ""
) -> Request:
    """Hand a request to another staff member (who must be able to see its place)."""
    req = _load(session, request_id)
    _check_manage(actor, req)
    if req.status not in OPEN_STATUSES:
        raise InvalidTransition("工单已结束，不能改派 / request is finished; reopen it first")
    assignee = session.get(User, assignee_id)
    if assignee is None or not assignee.active or assignee.role not in access.MANAGER_ROLES:
        raise InvalidInput("找不到这位工作人员 / no such staff member")
    if assignee.role != "admin" and not access.can_see_place(
        assignee, courtyard_id=req.courtyard_id, village_id=req.village_id, town_id=req.town_id
    ):
        raise InvalidInput("这位工作人员管不到这里 / that staff member does not cover this place")
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
    return req


def start_request(
    session: Session, *, now: dt.datetime, actor: User | None, request_id: int, note: str = ""
) -> Request:
    """Mark a request as being worked on."""
    req = _load(session, request_id)
    _check_manage(actor, req)
    if req.status not in ("new", "assigned"):
        raise InvalidTransition("只有待处理的工单可以开始 / only a waiting request can be started")
    req.started_at = now
    _event(req, now, actor, "started", "in_progress", note)
    return req


def resolve_request(session: Session, *, now: dt.datetime, actor: User | None, request_id: int, note: str) -> Request:
    """Mark a request as resolved with what was done."""
    req = _load(session, request_id)
    _check_manage(actor, req)
    if req.status not in OPEN_STATUSES:
        raise InvalidTransition("工单不在处理中 / request is not open")
    if not note.strip():
        raise InvalidInput("请写明怎么解决的 / say how it was resolved")
    req.resolved_at = now
    req.resolution = note.strip()
    req.supervised = False
    _event(req, now, actor, "resolved", "resolved", note)
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
) -> Request:
    """Store the resident's satisfaction; 不满意 reopens the request."""
    req = _load(session, request_id)
    if actor is not None:
        _check_manage(actor, req)
    if satisfaction not in SATISFACTION:
        raise InvalidInput("评价只能是 满意 / 基本满意 / 不满意")
    if req.status != "resolved":
        raise InvalidTransition("工单还没有解决，不能评价 / only a resolved request can be evaluated")
    req.satisfaction = satisfaction
    if satisfaction == "dissatisfied":
        _event(req, now, actor, "evaluated", None, note or satisfaction, system_label=system_label)
        return _reopen(session, req, now, actor, "不满意 / dissatisfied", system_label)
    if satisfaction == "unevaluated":
        req.closed_at = now
        _event(req, now, actor, "closed", "closed", note or "未评价 / unevaluated", system_label=system_label)
        return req
    _event(req, now, actor, "evaluated", "evaluated", note or satisfaction, system_label=system_label)
    return req


def close_request(
    session: Session, *, now: dt.datetime, actor: User | None, request_id: int, note: str = ""
) -> Request:
    """Close a request (withdrawn, duplicate, or done after evaluation)."""
    req = _load(session, request_id)
    _check_manage(actor, req)
    if req.status == "closed":
        raise InvalidTransition("工单已关闭 / already closed")
    req.closed_at = now
    _event(req, now, actor, "closed", "closed", note)
    return req


def reopen_request(session: Session, *, now: dt.datetime, actor: User | None, request_id: int, note: str) -> Request:
    """Reopen a resolved, evaluated or closed request."""
    req = _load(session, request_id)
    _check_manage(actor, req)
    if req.status in OPEN_STATUSES:
        raise InvalidTransition("工单还在处理中 / request is still open")
    return _reopen(session, req, now, actor, note, "system")


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
        raise NotFound("找不到这张工单 / request not found")
    return req


def is_overdue(req: Request, now: dt.datetime) -> bool:
    """Whether an open request is past its due time."""
    return req.status in OPEN_STATUSES and req.due_at is not None and req.due_at < now


__all__ = [
    "PermissionDenied",
    "assign_request",
    "close_request",
    "evaluate_request",
    "is_overdue",
    "reopen_request",
    "resolve_request",
    "start_request",
    "submit_request",
    "type_label",
]
