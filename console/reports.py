"""Console reports: daily / weekly / monthly figures for a town or village as HTML with SVG bars, and CSV."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, render_template, request

from console.auth import current_staff, staff_required
from console.blueprint import bp
from console.common import parse_day, parse_positive_int
from console.db import db_session
from console.nav import register_nav
from core.clock import to_local
from core.container import current_services
from core.errors import NotFound
from core.i18n import N_
from core.models.staff import User
from core.requests.reports import KIND_LABELS, KINDS, Report, build_report, period_label, render_csv
from core.requests.visibility import REPORT_ROLES, report_scope, report_villages
from core.requests.workorders import TYPE_LABELS

register_nav("console.reports", N_("报表"), roles=REPORT_ROLES, order=60, group="admin")


def bar_rows(values: dict[str, int]) -> list[dict[str, Any]]:
    """Rows for a horizontal SVG bar chart: label, value and bar width in percent of the largest."""
    top = max(values.values(), default=0) or 1
    return [{"label": label, "value": value, "pct": round(100 * value / top, 1)} for label, value in values.items()]


def _params(session: Any, user: User) -> tuple[Report, dict[str, Any]]:
    kind = request.args.get("kind", "daily")
    if kind not in KINDS:
        abort(400)
    raw_day = request.args.get("date") or ""
    day = parse_day(raw_day) if raw_day else to_local(current_services().clock.now()).date()
    if day is None:
        abort(400)
    try:
        village_id, town_id = report_scope(session, user, parse_positive_int(request.args.get("village"), 0) or None)
    except NotFound:
        abort(404)
    report = build_report(session, kind=kind, day=day, village_id=village_id, town_id=town_id,
                          now=current_services().clock.now())
    return report, {"kind": kind, "date": day.isoformat(), "village": village_id}


@bp.get("/reports")
@staff_required(*REPORT_ROLES)
def reports() -> str:
    """The report page: figures, bar charts by type and by 小院, links to CSV."""
    user = current_staff()
    session = db_session()
    report, params = _params(session, user)
    villages = list(session.scalars(report_villages(user)))
    by_type = {TYPE_LABELS.get(t, t): v["new"] for t, v in report.requests["by_type"].items()}
    by_courtyard = {name: v["new"] for name, v in report.requests["by_courtyard"].items()}
    overdue_by_courtyard = {name: v["overdue"] for name, v in report.requests["by_courtyard"].items()}
    overdue_open_by_courtyard = {name: v["overdue_open"] for name, v in report.requests["by_courtyard"].items()}
    return render_template(
        "console/reports/report.html", report=report, params=params, kinds=KIND_LABELS, villages=villages,
        period=period_label(report), type_bars=bar_rows(by_type), courtyard_bars=bar_rows(by_courtyard),
        overdue_bars=bar_rows(overdue_by_courtyard), overdue_open_bars=bar_rows(overdue_open_by_courtyard),
    )


@bp.get("/reports.csv")
@staff_required(*REPORT_ROLES)
def reports_csv() -> Response:
    """The same report as a CSV download."""
    report, params = _params(db_session(), current_staff())
    name = f"report-{report.kind}-{report.start}-{report.scope}{report.scope_id}.csv"
    return Response("\ufeff" + render_csv(report), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
