"""Console pages for reminders (会议 / 用药 / 复诊 提醒): today's and upcoming ones in the user's scope, and a form
to schedule one for a 小院 or a resident through core.requests.reminders (scope checked there: 404 otherwise).
Which reminders a user sees is core.requests.visibility's `reminder_scope`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from console.auth import current_staff, staff_required
from console.blueprint import bp
from console.common import DEFAULT_PER_PAGE, MAX_PER_PAGE, local_day_start, paginate, parse_positive_int
from console.db import db_session
from console.forms import form_action
from console.nav import MANAGERS, register_nav
from core.clock import LOCAL_TZ, as_utc
from core.container import current_services
from core.errors import InvalidInput
from core.i18n import N_
from core.models.ops import REMINDER_KINDS, Reminder
from core.models.places import Courtyard, Household, Resident
from core.models.staff import ROLES
from core.people.access import MANAGER_ROLES, scoped_courtyards, scoped_residents
from core.requests import reminders as reminder_service
from core.requests.visibility import reminder_scope

register_nav("console.reminder_list", N_("提醒"), ROLES, 27, group="daily")

MAX_CHOICES = 1000  # residents / 小院 offered in the form


def parse_local_datetime(day: str, time: str) -> dt.datetime:
    """A local (Asia/Shanghai) date "YYYY-MM-DD" and time "HH:MM" as aware UTC; InvalidInput if malformed."""
    try:
        local = dt.datetime.combine(dt.date.fromisoformat(day.strip()), dt.time.fromisoformat(time.strip()[:5]))
    except ValueError as exc:
        raise InvalidInput(N_("请填写正确的日期和时间")) from exc
    return as_utc(local.replace(tzinfo=LOCAL_TZ))


def parse_target(raw: str) -> tuple[int | None, int | None]:
    """The form's target "courtyard:ID" / "resident:ID" as (courtyard_id, resident_id); InvalidInput otherwise."""
    kind, _, ident = (raw or "").partition(":")
    if not ident.isdigit() or kind not in ("courtyard", "resident"):
        raise InvalidInput(N_("请选择一个小院或一位居民"))
    return (int(ident), None) if kind == "courtyard" else (None, int(ident))


def _target_names(session, rows: list[Reminder]) -> dict[str, dict[int, str]]:
    courtyard_ids = {r.courtyard_id for r in rows if r.courtyard_id is not None}
    resident_ids = {r.resident_id for r in rows if r.resident_id is not None}
    courtyards = dict(session.execute(sa.select(Courtyard.id, Courtyard.name).where(Courtyard.id.in_(courtyard_ids))
                                      ).all()) if courtyard_ids else {}
    residents = dict(session.execute(sa.select(Resident.id, Resident.name).where(Resident.id.in_(resident_ids))
                                     ).all()) if resident_ids else {}
    return {"courtyards": courtyards, "residents": residents}


@bp.get("/reminders")
@staff_required()
def reminder_list() -> str:
    """Today's and upcoming reminders the user may see, soonest first, paged."""
    user = current_staff()
    session = db_session()
    now = current_services().clock.now()
    query = (sa.select(Reminder)
             .where(reminder_scope(user), Reminder.cancelled_at.is_(None), Reminder.at >= local_day_start(now))
             .order_by(Reminder.at, Reminder.id))
    page = paginate(session, query, parse_positive_int(request.args.get("page"), 1),
                    parse_positive_int(request.args.get("per_page"), DEFAULT_PER_PAGE, maximum=MAX_PER_PAGE))
    tomorrow = local_day_start(now) + dt.timedelta(days=1)
    return render_template("console/reminders/list.html", page=page, names=_target_names(session, page.items),
                           tomorrow=tomorrow, kind_labels=reminder_service.KIND_LABELS,
                           can_create=user.role in MANAGER_ROLES)


@bp.route("/reminders/new", methods=["GET", "POST"])
@staff_required(*MANAGERS)
def reminder_new() -> Response | tuple[str, int]:
    """Schedule a reminder for a 小院 or a resident in the user's scope (404 for anyone else's)."""
    user = current_staff()
    session = db_session()
    services = current_services()
    courtyards = list(session.scalars(scoped_courtyards(user).order_by(Courtyard.name, Courtyard.id)
                                      .limit(MAX_CHOICES)))
    residents = list(session.scalars(scoped_residents(user).order_by(Resident.name, Resident.id)
                                     .limit(MAX_CHOICES)))
    households = dict(session.execute(sa.select(Household.id, Household.name).where(
        Household.id.in_({r.household_id for r in residents}))).all()) if residents else {}
    target = request.values.get("target", "")
    if not target and request.args.get("resident_id", "").isdigit():
        target = f"resident:{request.args['resident_id']}"
    elif not target and request.args.get("courtyard_id", "").isdigit():
        target = f"courtyard:{request.args['courtyard_id']}"
    form: dict[str, Any] = {
        "target": target, "kind": request.form.get("kind", "meeting"), "date": request.form.get("date", ""),
        "time": request.form.get("time", ""), "text": request.form.get("text", ""),
        "call": request.form.get("call") == "on"}
    status = 200
    if request.method == "POST":
        def schedule(session, user, now) -> Reminder:
            courtyard_id, resident_id = parse_target(form["target"])
            at = parse_local_datetime(form["date"], form["time"])
            if at <= now:
                raise InvalidInput(N_("提醒时间已经过去了"))
            return reminder_service.create_reminder(
                session, now=now, actor=user, kind=form["kind"], text=form["text"], at=at,
                courtyard_id=courtyard_id, resident_id=resident_id, always_call=form["call"],
                call_hour=services.settings.ops.reminder_call_hour,
            )

        outcome = form_action(schedule, done=N_("提醒已安排"))
        if outcome.ok:
            return redirect(url_for("console.reminder_list"))
        status = outcome.status
    return render_template("console/reminders/new.html", courtyards=courtyards, residents=residents,
                           households=households, form=form, kinds=REMINDER_KINDS,
                           kind_labels=reminder_service.KIND_LABELS), status
