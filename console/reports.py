"""Console reports: daily / weekly / monthly figures for a town or village as HTML with SVG bars, and CSV."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from flask import Response, abort, render_template, request

from console.auth import current_staff, staff_required
from console.blueprint import bp
from console.db import db_session
from console.nav import register_nav
from core.clock import to_local
from core.container import current_services
from core.i18n import N_
from core.models.places import Village
from core.models.staff import User
from core.requests.reports import KIND_LABELS, KINDS, Report, build_report, period_label, render_csv
from core.requests.workorders import TYPE_LABELS

REPORT_ROLES = ("admin", "town", "village", "grid_worker")
register_nav("console.reports", N_("报表"), roles=REPORT_ROLES, order=60)


def report_scope(session: Any, user: User, village_arg: int | None) -> tuple[int | None, int | None]:
    """(village_id, town_id) the user may see: village staff their village; town staff their town or its villages."""
    if user.role in ("village", "grid_worker"):
        if user.village_id is None or (village_arg is not None and village_arg != user.village_id):
            abort(404)
        return user.village_id, None
    if village_arg is not None:
        village = session.get(Village, village_arg)
        if village is None or (user.role != "admin" and village.town_id != user.town_id):
            abort(404)
        return village.id, None
    if user.town_id is not None:
        return None, user.town_id
    first = session.scalar(sa.select(Village.town_id).order_by(Village.town_id))  # admin without a town
    if first is None:
        abort(404)
    return None, first


def bar_rows(values: dict[str, int]) -> list[dict[str, Any]]:
    """Rows for a horizontal SVG bar chart: label, value and bar width in percent of the largest."""
    top = max(values.values(), default=0) or 1
    return [{"label": label, "value": value, "pct": round(100 * value / top, 1)} for label, value in values.items()]


def _params(session: Any, user: User) -> tuple[Report, dict[str, Any]]:
    kind = request.args.get("kind", "daily")
    if kind not in KINDS:
        abort(400)
    raw_day = request.args.get("date") or ""
    try:
        day = dt.date.fromisoformat(raw_day) if raw_day else to_local(current_services().clock.now()).date()
    except ValueError:
        abort(400)
    village_arg = request.args.get("village", type=int)
    village_id, town_id = report_scope(session, user, village_arg)
    report = build_report(session, kind=kind, day=day, village_id=village_id, town_id=town_id)
    return report, {"kind": kind, "date": day.isoformat(), "village": village_id}


@bp.get("/reports")
@staff_required(*REPORT_ROLES)
def reports() -> str:
    """The report page: figures, bar charts by type and by 小院, links to CSV."""
    user = current_staff()
    session = db_session()
    report, params = _params(session, user)
    villages = []
    if user.role in ("admin", "town"):
        query = sa.select(Village).order_by(Village.id)
        if user.role == "town":
            query = query.where(Village.town_id == user.town_id)
        villages = list(session.scalars(query))
    by_type = {TYPE_LABELS.get(t, t): v["new"] for t, v in report.requests["by_type"].items()}
    by_courtyard = {name: v["new"] for name, v in report.requests["by_courtyard"].items()}
    overdue_by_courtyard = {name: v["overdue"] for name, v in report.requests["by_courtyard"].items()}
    return render_template(
        "console/reports/report.html", report=report, params=params, kinds=KIND_LABELS, villages=villages,
        period=period_label(report), type_bars=bar_rows(by_type), courtyard_bars=bar_rows(by_courtyard),
        overdue_bars=bar_rows(overdue_by_courtyard),
    )


@bp.get("/reports.csv")
@staff_required(*REPORT_ROLES)
def reports_csv() -> Response:
    """The same report as a CSV download."""
    report, params = _params(db_session(), current_staff())
    name = f"report-{report.kind}-{report.start}-{report.scope}{report.scope_id}.csv"
    return Response("\ufeff" + render_csv(report), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
