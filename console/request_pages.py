"""Console pages for requests (工单): list with filters, detail with timeline and actions, submit."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import abort, redirect, render_template, request, url_for
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from console.auth import current_staff, staff_required
from console.blueprint import bp
from console.common import DEFAULT_PER_PAGE, MAX_PER_PAGE, paginate, parse_positive_int
from console.db import db_session
from console.forms import form_action
from core.community import bin_photos
from core.container import current_services
from core.errors import NotFound
from core.i18n import N_
from core.models.places import Resident
from core.models.requests import STATUSES, Request
from core.models.staff import User
from core.people.access import scoped_residents, staff_covering
from core.requests import workorders as request_service
from core.requests.visibility import get_request_for, request_query
from core.requests.workorders import SATISFACTION, STATUS_LABELS, TYPE_LABELS

SATISFACTION_LABELS = {"satisfied": N_("满意"), "basic": N_("基本满意"), "dissatisfied": N_("不满意"),
                       "unevaluated": N_("未评价")}
ACTION_LABELS = {"submitted": N_("提交"), "assigned": N_("分派"), "started": N_("开始处理"), "resolved": N_("解决"),
                 "evaluated": N_("评价"), "closed": N_("关闭"), "reopened": N_("重新打开"),
                 "escalated": N_("升级督办"), "reported": N_("扫码报告"),
                 "assign": N_("改派"), "start": N_("开始处理"), "resolve": N_("标记解决"),
                 "evaluate": N_("记录评价"), "close": N_("关闭"), "reopen": N_("重新打开")}


def filtered_requests(user: User, args: dict, now) -> tuple[sa.Select, dict[str, str]]:
    """The scoped, filtered select of requests for the list, and the filters actually applied."""
    applied: dict[str, str] = {}
    status = args.get("status") or ""
    if status == "open" or status in STATUSES:
        applied["status"] = status
    rtype = args.get("type") or ""
    if rtype in TYPE_LABELS or rtype in current_services().settings.requests.types:
        applied["type"] = rtype
    for flag in ("overdue", "supervised", "mine"):
        if args.get(flag) in ("1", "true", "on"):
            applied[flag] = "1"
    resident_id = parse_positive_int(args.get("resident_id"), 0)  # 0: none, or past any id (2^63 once crashed)
    if resident_id:
        applied["resident_id"] = str(resident_id)
    query = request_query(
        user, now=now, status=applied.get("status"), type=applied.get("type"),
        overdue=True if "overdue" in applied else None, supervised=True if "supervised" in applied else None,
        mine="mine" in applied, resident_id=int(applied["resident_id"]) if "resident_id" in applied else None,
    )
    return query, applied


def _labels() -> dict:
    return {"type_labels": TYPE_LABELS, "status_labels": STATUS_LABELS, "satisfaction_labels": SATISFACTION_LABELS,
            "action_labels": ACTION_LABELS}


@bp.get("/requests")
@staff_required()
def request_list() -> str:
    """All requests the user may see, filtered by status, type, overdue; newest first, paged."""
    user = current_staff()
    now = current_services().clock.now()
    query, applied = filtered_requests(user, request.args, now)
    query = query.options(selectinload(Request.resident), selectinload(Request.assignee))
    page = paginate(
        db_session(), query.order_by(Request.created_at.desc(), Request.id.desc()),
        parse_positive_int(request.args.get("page"), 1),
        parse_positive_int(request.args.get("per_page"), DEFAULT_PER_PAGE, maximum=MAX_PER_PAGE),
    )
    return render_template("console/requests/list.html", page=page, applied=applied, now=now,
                           types=current_services().settings.requests.types, statuses=STATUSES, **_labels())


def _detail(req: Request, status: int = 200) -> tuple[str, int]:
    user = current_staff()
    session = db_session()
    actions = request_service.allowed_actions(user.role, req.status)
    candidates = []
    if "assign" in actions:
        candidates = list(session.scalars(
            sa.select(User).where(staff_covering(courtyard_id=req.courtyard_id, village_id=req.village_id,
                                                 town_id=req.town_id))
            .order_by(User.role, User.display_name)
        ))
    now = current_services().clock.now()
    photos = bin_photos.photos_of_requests(session, [req.id]).get(req.id, []) if req.channel == "qr" else []
    return render_template(
        "console/requests/detail.html", req=req, actions=actions, candidates=candidates, now=now,
        overdue=request_service.is_overdue(req, now), satisfactions=SATISFACTION, bin_photo_list=photos,
        **_labels(),
    ), status


@bp.get("/requests/<int:request_id>")
@staff_required()
def request_detail(request_id: int) -> tuple[str, int]:
    """One request: what, who, where, the timeline, and the buttons the role allows."""
    try:
        req = get_request_for(db_session(), current_staff(), request_id)
    except NotFound:
        abort(404)
    return _detail(req)


def _transition_kwargs(action: str, form) -> dict:
    note = (form.get("note") or "").strip()
    if action == "assign":
        assignee = form.get("assignee_id") or ""
        return {"assignee_id": int(assignee) if assignee.isdigit() else 0, "note": note}
    if action == "evaluate":
        return {"satisfaction": form.get("satisfaction") or "", "note": note, "system_label": "console"}
    return {"note": note}


@bp.post("/requests/<int:request_id>/<action>")
@staff_required()
def request_action(request_id: int, action: str) -> Response | tuple[str, int]:
    """Take one lifecycle step through core.requests.workorders; errors are shown on the page."""
    if action not in request_service.LIFECYCLE:
        abort(404)
    try:
        get_request_for(db_session(), current_staff(), request_id)
    except NotFound:
        abort(404)
    outcome = form_action(lambda session, user, now: request_service.take_step(
        session, action, now=now, actor=user, request_id=request_id, via="console",
        **_transition_kwargs(action, request.form)), done=N_("已保存"), missing_is_404=True)
    if not outcome.ok:
        return _detail(get_request_for(db_session(), current_staff(), request_id), outcome.status)
    return redirect(url_for("console.request_detail", request_id=request_id))


@bp.route("/requests/new", methods=["GET", "POST"])
@staff_required()
def request_new() -> Response | tuple[str, int]:
    """Submit a request on behalf of a resident (e.g. after a phone call or a visit)."""
    user = current_staff()
    session = db_session()
    settings = current_services().settings
    residents = list(session.scalars(scoped_residents(user).order_by(Resident.name, Resident.id).limit(1000)))
    form: dict[str, Any] = {
        "resident_id": request.values.get("resident_id", ""), "type": request.form.get("type", ""),
        "text": request.form.get("text", ""), "urgent": request.form.get("urgent") == "on"}
    status = 200
    if request.method == "POST":
        resident_id = form["resident_id"]
        outcome = form_action(lambda session, user, now: request_service.submit_request(
            session, now=now, due_hours=settings.requests.due_hours,
            resident_id=int(resident_id) if resident_id.isdigit() else -1, type=form["type"], channel="console",
            text=form["text"], actor=user, urgent=form["urgent"], via="console",
        ), done=N_("工单已登记"))
        if outcome.ok:
            return redirect(url_for("console.request_detail", request_id=outcome.result.id))
        status = outcome.status
    return render_template("console/requests/new.html", residents=residents, form=form,
                           types=settings.requests.types, **_labels()), status
