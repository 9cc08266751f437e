"""Console pages for staff: user accounts and villages in the viewer's scope, API tokens, the outbox, the audit log."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_login import logout_user
from werkzeug.wrappers import Response

from console.auth import current_staff, staff_required
from console.blueprint import bp
from console.common import DEFAULT_PER_PAGE, MAX_PER_PAGE, paginate, parse_positive_int
from console.db import db_session
from console.forms import form_action
from console.nav import MANAGERS
from core.i18n import N_
from core.models.audit import AuditEntry
from core.models.outbox import OUTBOX_STATUSES, OutboxMessage
from core.models.places import Courtyard, Town, Village
from core.models.staff import ApiToken, User
from core.notify.visibility import outbox_query
from core.people.access import audit_scope, user_scope
from core.people.caregivers import parse_phone
from core.people.users import (
    change_password,
    creatable_roles,
    create_account,
    issue_api_token,
    revoke_api_token,
    set_account_active,
)
from core.people.villages import VILLAGE_EDITORS, scoped_villages, set_village_duty_phone
from core.phones import mask_phone

USER_ADMINS = ("admin", "town", "village")
OUTBOX_LABELS = {"pending": N_("待发送"), "sent": N_("已发送"), "not_sent": N_("未发送（演示）"),
                 "failed": N_("发送失败"), "cancelled": N_("已取消")}


# Which field an account error is about (the page shows it there; a password is never shown again).
ACCOUNT_FIELDS = {
    N_("未知角色：%(role)s"): "role", N_("您不能创建这种角色"): "role", N_("密码至少 8 位"): "password",
    N_("指挥中心账号需要指定镇"): "town_id", N_("村干部和网格员需要指定村"): "village_id",
    N_("院长需要指定小院"): "courtyard_id", N_("用户名已存在：%(username)s"): "username",
    N_("找不到这个小院"): "courtyard_id", N_("找不到这个村"): "village_id",
    N_("这个密码太常见，容易被猜到，请换一个"): "password", N_("电话号码无法识别：%(number)s"): "phone",
    N_("电话号码位数不对：%(number)s"): "phone",
}


@bp.get("/users")
@staff_required(*USER_ADMINS)
def user_list() -> tuple[str, int]:
    """Staff accounts in the viewer's scope, with a form to create one."""
    return _user_page()


def _user_page(status: int = 200) -> tuple[str, int]:
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
                           villages=villages, courtyards=courtyards, towns=towns), status


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
    """Create a staff or caregiver account inside the viewer's scope; a refused form is shown again as typed."""
    form = request.form
    outcome = form_action(lambda session, viewer, now: create_account(
        session, now=now, creator=viewer, role=form.get("role", ""), username=form.get("username") or "",
        password=form.get("password") or "", display_name=form.get("display_name") or "",
        phone=parse_phone(form.get("phone")), town_id=parse_positive_int(form.get("town_id"), 0) or None,
        village_id=parse_positive_int(form.get("village_id"), 0) or None,
        courtyard_id=parse_positive_int(form.get("courtyard_id"), 0) or None,
    ), done=N_("账号已创建"), fields=ACCOUNT_FIELDS)
    if outcome.ok:
        return redirect(url_for("console.user_list"))
    return _user_page(outcome.status)


@bp.post("/users/<int:user_id>/active")
@staff_required(*USER_ADMINS)
def user_set_active(user_id: int) -> Response:
    """Deactivate or reactivate an account in scope (never one's own)."""
    active = request.form.get("active") == "1"
    form_action(lambda session, viewer, now: set_account_active(session, now=now, actor=viewer, user_id=user_id,
                                                                active=active),
                done=N_("已保存"), missing_is_404=True)
    return redirect(url_for("console.user_list"))


@bp.get("/villages")
@staff_required(*VILLAGE_EDITORS)
def village_list() -> str:
    """The villages in the viewer's scope with their duty phone (值班电话), each editable."""
    villages = list(db_session().scalars(scoped_villages(current_staff())))
    return render_template("console/staff/villages.html", villages=villages)


@bp.post("/villages/<int:village_id>/duty-phone")
@staff_required(*VILLAGE_EDITORS)
def village_set_duty_phone(village_id: int) -> Response:
    """Set or clear one village's duty phone."""
    phone = request.form.get("duty_phone") or ""
    form_action(lambda session, viewer, now: set_village_duty_phone(session, now=now, actor=viewer,
                                                                    village_id=village_id, phone=phone),
                done=N_("已保存"), missing_is_404=True)
    return redirect(url_for("console.village_list"))


def _tokens(user: User) -> list[ApiToken]:
    return list(db_session().scalars(
        sa.select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())
    ))


@bp.get("/tokens")
@staff_required()
def token_list() -> str:
    """The signed-in user's API tokens (only their names and dates; the secret is shown once)."""
    return render_template("console/staff/tokens.html", tokens=_tokens(current_staff()), new_token=None)


@bp.post("/tokens")
@staff_required()
def token_create() -> str:
    """Issue a new API token and show it once."""
    name = request.form.get("name") or ""
    outcome = form_action(lambda session, user, now: issue_api_token(session, now=now, user=user, name=name))
    return render_template("console/staff/tokens.html", tokens=_tokens(current_staff()), new_token=outcome.value)


@bp.post("/tokens/<int:token_id>/revoke")
@staff_required()
def token_revoke(token_id: int) -> Response:
    """Revoke one of the user's own tokens."""
    form_action(lambda session, user, now: revoke_api_token(session, now=now, user=user, token_id=token_id),
                done=N_("令牌已撤销"), missing_is_404=True)
    return redirect(url_for("console.token_list"))


@bp.route("/password", methods=["GET", "POST"])
@staff_required()
def password_change() -> Response | str | tuple[str, int]:
    """Change one's own password; every session of the user ends, so they sign in again with the new one."""
    if request.method == "GET":
        return render_template("console/staff/password.html")
    form = request.form
    if (form.get("new") or "") != (form.get("confirm") or ""):
        flash(N_("两次输入的新密码不一样"), "error")
        return render_template("console/staff/password.html"), 422
    outcome = form_action(lambda session, user, now: change_password(
        session, now=now, user_id=user.id, current=form.get("current") or "", new=form.get("new") or ""))
    if not outcome.ok:
        return render_template("console/staff/password.html"), outcome.status
    logout_user()
    flask_session.clear()
    flash(N_("密码已修改，请用新密码重新登录"), "success")
    return redirect(url_for("console.login"))


@bp.get("/outbox")
@staff_required(*MANAGERS)
def outbox_list() -> str:
    """Messages to deliver and delivered, newest first; dry-run rows are labelled NOT SENT."""
    status = request.args.get("status") or ""
    if status not in OUTBOX_STATUSES:
        status = ""
    page = paginate(
        db_session(), outbox_query(current_staff(), status=status or None)
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()),
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
    query = sa.select(AuditEntry).where(audit_scope(current_staff()))
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
