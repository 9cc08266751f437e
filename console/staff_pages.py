"""Console pages for staff: user accounts in the viewer's scope, API tokens, the outbox and the audit log."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from console.auth import current_staff, staff_required
from console.blueprint import bp
from console.common import DEFAULT_PER_PAGE, MAX_PER_PAGE, error_text, paginate, parse_positive_int
from console.db import db_session
from console.nav import MANAGERS
from core.container import current_services
from core.errors import InvalidInput, ServiceError
from core.i18n import N_
from core.models.audit import AuditEntry
from core.models.outbox import OUTBOX_STATUSES, OutboxMessage
from core.models.places import Courtyard, Town, Village
from core.models.requests import Request
from core.models.staff import ROLES, ApiToken, User
from core.people.audit import record_audit
from core.people.users import create_user, issue_api_token
from core.phones import mask_phone

USER_ADMINS = ("admin", "town", "village")
OUTBOX_LABELS = {"pending": N_("待发送"), "sent": N_("已发送"), "not_sent": N_("未发送（演示）"),
                 "failed": N_("发送失败"), "cancelled": N_("已取消")}


def creatable_roles(creator_role: str) -> tuple[str, ...]:
    """The roles a user of `creator_role` may create accounts for (never above their own level)."""
    if creator_role == "admin":
        return ROLES
    if creator_role == "town":
        return ("town", "village", "courtyard_head", "grid_worker", "caregiver")
    if creator_role == "village":
        return ("courtyard_head", "grid_worker", "caregiver")
    return ()


def user_scope(viewer: User):
    """A clause on User: the accounts a viewer may list and manage."""
    if viewer.role == "admin":
        return sa.true()
    if viewer.role == "town":
        villages = sa.select(Village.id).where(Village.town_id == viewer.town_id)
        return sa.or_(User.town_id == viewer.town_id, User.village_id.in_(villages))
    if viewer.role == "village" and viewer.village_id is not None:
        courtyards = sa.select(Courtyard.id).where(Courtyard.village_id == viewer.village_id)
        return sa.or_(User.village_id == viewer.village_id, User.courtyard_id.in_(courtyards))
    return User.id == viewer.id


def resolve_place(session, viewer: User, role: str, *, town_id: int | None, village_id: int | None,
                  courtyard_id: int | None) -> tuple[int | None, int | None, int | None]:
    """(town_id, village_id, courtyard_id) for a new account: filled from the parents, inside the viewer's scope."""
    courtyard = session.get(Courtyard, courtyard_id) if courtyard_id else None
    if courtyard_id and courtyard is None:
        raise InvalidInput("找不到这个小院 / no such courtyard")
    if courtyard is not None:
        village_id = courtyard.village_id
    village = session.get(Village, village_id) if village_id else None
    if village_id and village is None:
        raise InvalidInput("找不到这个村 / no such village")
    if village is not None:
        town_id = village.town_id
    if viewer.role != "admin":
        # Unplaced accounts (caregivers) are attached to the creator's place so the creator keeps seeing them.
        town_id = town_id or viewer.town_id
        if viewer.role == "village":
            village_id = village_id or viewer.village_id
        if town_id != viewer.town_id or (viewer.role == "village" and village_id != viewer.village_id):
            raise InvalidInput("只能在您管辖的范围内建账号 / outside your area")
    if role == "admin":
        return None, None, None
    if role == "town":
        return town_id, None, None
    if role == "courtyard_head":
        return town_id, village_id, courtyard_id
    return town_id, village_id, None


@bp.get("/users")
@staff_required(*USER_ADMINS)
def user_list() -> str:
    """Staff accounts in the viewer's scope, with a form to create one."""
    viewer = current_staff()
    session = db_session()
    page = paginate(
        session, sa.select(User).where(user_scope(viewer)).order_by(User.role, User.username),
        parse_positive_int(request.args.get("page"), 1),
        parse_positive_int(request.args.get("per_page"), DEFAULT_PER_PAGE, maximum=MAX_PER_PAGE),
    )
    villages = list(session.scalars(_village_choices(viewer)))
    courtyards = list(session.scalars(
        sa.select(Courtyard).where(Courtyard.village_id.in_([v.id for v in villages])).order_by(Courtyard.name)
    ))
    towns = list(session.scalars(sa.select(Town).order_by(Town.name))) if viewer.role == "admin" else []
    return render_template("console/staff/users.html", page=page, roles=creatable_roles(viewer.role),
                           villages=villages, courtyards=courtyards, towns=towns)


def _village_choices(viewer: User) -> sa.Select:
    query = sa.select(Village).order_by(Village.name)
    if viewer.role == "town":
        return query.where(Village.town_id == viewer.town_id)
    if viewer.role == "village":
        return query.where(Village.id == viewer.village_id)
    return query


@bp.post("/users")
@staff_required(*USER_ADMINS)
def user_create() -> Response | tuple[str, int]:
    """Create a staff or caregiver account inside the viewer's scope."""
    viewer = current_staff()
    session = db_session()
    form = request.form
    role = form.get("role", "")
    now = current_services().clock.now()
    try:
        if role not in creatable_roles(viewer.role):
            raise InvalidInput("您不能创建这种角色 / you cannot create this role")
        town_id, village_id, courtyard_id = resolve_place(
            session, viewer, role, town_id=parse_positive_int(form.get("town_id"), 0) or None,
            village_id=parse_positive_int(form.get("village_id"), 0) or None,
            courtyard_id=parse_positive_int(form.get("courtyard_id"), 0) or None,
        )
        user = create_user(
            session, now=now, username=(form.get("username") or "").strip(), password=form.get("password") or "",
            role=role, display_name=(form.get("display_name") or "").strip(), phone=_phone(form.get("phone")),
            town_id=town_id, village_id=village_id, courtyard_id=courtyard_id,
        )
        if courtyard_id is not None:
            courtyard = session.get(Courtyard, courtyard_id)
            if courtyard is not None and courtyard.head_user_id is None:
                courtyard.head_user_id = user.id  # new requests from this 小院 now reach the new 院长
        record_audit(session, at=now, actor=viewer, action="user.create", entity_type="user", entity_id=user.id,
                     role=role)
        session.commit()
    except ServiceError as exc:
        session.rollback()
        flash(error_text(exc), "error")
        return redirect(url_for("console.user_list"))
    flash(N_("账号已创建"), "success")
    return redirect(url_for("console.user_list"))


def _phone(raw: str | None) -> str | None:
    from console.chains import parse_phone

    return parse_phone(raw)


@bp.post("/users/<int:user_id>/active")
@staff_required(*USER_ADMINS)
def user_set_active(user_id: int) -> Response:
    """Deactivate or reactivate an account in scope (never one's own)."""
    viewer = current_staff()
    session = db_session()
    user = session.scalar(sa.select(User).where(User.id == user_id, user_scope(viewer)))
    if user is None:
        abort(404)
    if user.id == viewer.id:
        flash(N_("不能停用自己的账号"), "error")
        return redirect(url_for("console.user_list"))
    user.active = request.form.get("active") == "1"
    record_audit(session, at=current_services().clock.now(), actor=viewer, action="user.active",
                 entity_type="user", entity_id=user.id, active=user.active)
    session.commit()
    flash(N_("已保存"), "success")
    return redirect(url_for("console.user_list"))


@bp.get("/tokens")
@staff_required()
def token_list() -> str:
    """The signed-in user's API tokens (only their names and dates; the secret is shown once)."""
    user = current_staff()
    tokens = list(db_session().scalars(
        sa.select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())
    ))
    return render_template("console/staff/tokens.html", tokens=tokens, new_token=None)


@bp.post("/tokens")
@staff_required()
def token_create() -> str:
    """Issue a new API token and show it once."""
    user = current_staff()
    session = db_session()
    now = current_services().clock.now()
    name = (request.form.get("name") or "").strip()[:60] or "api"
    token = issue_api_token(session, now=now, user=user, name=name)
    record_audit(session, at=now, actor=user, action="token.create", entity_type="user", entity_id=user.id, name=name)
    session.commit()
    tokens = list(session.scalars(
        sa.select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())
    ))
    return render_template("console/staff/tokens.html", tokens=tokens, new_token=token)


@bp.post("/tokens/<int:token_id>/revoke")
@staff_required()
def token_revoke(token_id: int) -> Response:
    """Revoke one of the user's own tokens."""
    user = current_staff()
    session = db_session()
    token = session.scalar(sa.select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id))
    if token is None:
        abort(404)
    token.revoked = True
    record_audit(session, at=current_services().clock.now(), actor=user, action="token.revoke",
                 entity_type="api_token", entity_id=token.id)
    session.commit()
    flash(N_("令牌已撤销"), "success")
    return redirect(url_for("console.token_list"))


def outbox_scope(viewer: User):
    """A clause on OutboxMessage: messages about the viewer's area, or addressed to the viewer."""
    mine = OutboxMessage.recipient_user_id == viewer.id
    if viewer.role == "admin":
        return sa.true()
    if viewer.role == "town":
        villages = sa.select(Village.id).where(Village.town_id == viewer.town_id)
        return sa.or_(mine, OutboxMessage.village_id.in_(villages))
    if viewer.role in ("village", "grid_worker") and viewer.village_id is not None:
        return sa.or_(mine, OutboxMessage.village_id == viewer.village_id)
    if viewer.role == "courtyard_head" and viewer.courtyard_id is not None:
        requests_here = sa.select(Request.id).where(Request.courtyard_id == viewer.courtyard_id)
        return sa.or_(mine, sa.and_(OutboxMessage.subject_type == "request",
                                    OutboxMessage.subject_id.in_(requests_here)))
    return mine


@bp.get("/outbox")
@staff_required(*MANAGERS)
def outbox_list() -> str:
    """Messages to deliver and delivered, newest first; dry-run rows are labelled NOT SENT."""
    viewer = current_staff()
    query = sa.select(OutboxMessage).where(outbox_scope(viewer))
    status = request.args.get("status") or ""
    if status in OUTBOX_STATUSES:
        query = query.where(OutboxMessage.status == status)
    else:
        status = ""
    page = paginate(
        db_session(), query.order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()),
        parse_positive_int(request.args.get("page"), 1),
        parse_positive_int(request.args.get("per_page"), DEFAULT_PER_PAGE, maximum=MAX_PER_PAGE),
    )
    return render_template("console/staff/outbox.html", page=page, status=status, statuses=OUTBOX_STATUSES,
                           status_labels=OUTBOX_LABELS, mask_phone=mask_phone,
                           args={"status": status} if status else {})


@bp.get("/audit")
@staff_required(*USER_ADMINS)
def audit_list() -> str:
    """The audit trail of actions by accounts in the viewer's scope, newest first."""
    viewer = current_staff()
    query = sa.select(AuditEntry)
    if viewer.role != "admin":
        query = query.where(AuditEntry.actor_id.in_(sa.select(User.id).where(user_scope(viewer))))
    action = (request.args.get("action") or "").strip()
    if action:
        query = query.where(AuditEntry.action.like(f"{action}%"))
    page = paginate(
        db_session(), query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()),
        parse_positive_int(request.args.get("page"), 1),
        parse_positive_int(request.args.get("per_page"), 50, maximum=MAX_PER_PAGE),
    )
    return render_template("console/staff/audit.html", page=page, action=action,
                           args={"action": action} if action else {})
