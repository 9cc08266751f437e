"""Console pages for 找活干: village cadres post day jobs and close them; everyone in scope sees who signed up."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from flask import abort, redirect, render_template, request, url_for
from sqlalchemy.orm import selectinload

from console.auth import current_staff, staff_required
from console.blueprint import bp
from console.common import request_int
from console.db import db_session
from console.forms import form_action
from console.nav import register_nav
from core.community import dayjobs as job_service
from core.community.visibility import managed_village_ids
from core.errors import InvalidInput
from core.i18n import N_
from core.models.dayjobs import DayJob, JobSignup
from core.models.places import Village
from core.people.access import MANAGER_ROLES

register_nav("console.jobs_list", N_("找活干"), MANAGER_ROLES, 46, group="home")


def _fields() -> job_service.JobFields:
    form = request.form
    try:
        work_date = dt.date.fromisoformat(form.get("work_date", ""))
    except ValueError as exc:
        raise InvalidInput(N_("请填写日期")) from exc
    try:
        workers = int(form.get("workers", ""))
    except ValueError as exc:
        raise InvalidInput(N_("要几个人：1 到 999")) from exc
    return job_service.JobFields(title=form.get("title", ""), pay=form.get("pay", ""), place=form.get("place", ""),
                                 work_date=work_date, workers=workers, note=form.get("note", ""))


@bp.route("/jobs", methods=["GET", "POST"])
@staff_required(*MANAGER_ROLES)
def jobs_list() -> Any:
    """Post a job (cadres), close one; the jobs in scope with who signed up."""
    user = current_staff()
    if request.method == "POST":
        action = request.form.get("action", "post")
        if action == "post":
            def post(session, user, now) -> None:
                village = request.form.get("village_id", "")
                job_service.post_job(session, now=now, actor=user, fields=_fields(),
                                     village_id=None if village == "town" else request_int("village_id", 0))

            outcome = form_action(post, done=N_("已发布"))
            if not outcome.ok:
                return _render(user, status=outcome.status)
        elif action == "close":
            def close(session, user, now) -> None:
                job_service.close_job(session, now=now, actor=user, job_id=request_int("job_id") or 0)

            form_action(close, done=N_("已结束"))
        else:
            abort(400)
        return redirect(url_for("console.jobs_list", status=request.args.get("status") or None))
    return _render(user)


def _render(user: Any, status: int = 200) -> Any:
    session = db_session()
    shown = request.args.get("status") or "open"
    if shown not in ("open", "closed", "all"):
        shown = "open"
    jobs = list(session.scalars(job_service.jobs_query(user, status=None if shown == "all" else shown)
                                .options(selectinload(DayJob.signups).selectinload(JobSignup.household),
                                         selectinload(DayJob.signups).selectinload(JobSignup.resident))
                                .limit(200)))
    villages = list(session.scalars(sa.select(Village).where(Village.id.in_(managed_village_ids(user)))
                                    .order_by(Village.id)))
    names = {row.id: row.name for row in session.execute(sa.select(Village.id, Village.name))}
    return render_template("console/jobs/list.html", jobs=jobs, shown=shown, villages=villages, village_names=names,
                           can_post=user.role in job_service.POSTER_ROLES, town_wide=user.role in ("admin", "town"),
                           labels=job_service.STATUS_LABELS, channels=job_service.CHANNEL_LABELS,
                           form=request.form), status
