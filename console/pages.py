"""Console dashboard: emergencies first (help calls, critical alerts, urgent and overdue requests, each with
numbers to ring), then today's counts, 14-day trend charts, 挂牌督办 (supervised) requests and the user's own;
the emergencies refresh by polling a small JSON fingerprint (console/static/console.js; a meta refresh
without JavaScript)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from flask import abort, jsonify, render_template, request
from flask_babel import gettext
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from console.auth import current_staff, staff_required
from console.blueprint import bp
from console.charts import bars_svg, line_svg
from console.common import local_day_start
from console.db import db_session
from core.clock import LOCAL_TZ, as_utc, to_local
from core.container import current_services
from core.dashboard import KIND_LABELS as EMERGENCY_KIND_LABELS
from core.dashboard import (
    REQUEST_LIMIT,
    DayFigures,
    count_pressing_requests,
    daily_trends,
    emergencies,
    emergencies_version,
)
from core.i18n import N_
from core.models.places import Courtyard
from core.models.requests import Request
from core.requests.visibility import request_scope
from core.requests.workorders import OPEN_STATUSES, STATUS_LABELS, TYPE_LABELS, overdue_clause

POLL_SECONDS = 15


def _counts(session, user, now) -> dict[str, int]:
    scope = request_scope(user)
    day_start = local_day_start(now)

    def count(*where) -> int:
        return session.scalar(sa.select(sa.func.count(Request.id)).where(scope, *where)) or 0

    return {
        "open": count(Request.status.in_(OPEN_STATUSES)),
        "overdue": count(overdue_clause(now)),
        "supervised": count(Request.supervised.is_(True), Request.status.in_(OPEN_STATUSES)),
        "today_new": count(Request.created_at >= day_start),
        "today_resolved": count(Request.resolved_at >= day_start),
    }


def _emergency_context(session, user, now) -> dict:
    found = emergencies(session, user, now)
    shown = sum(1 for item in found if item.kind == "request")
    hidden = count_pressing_requests(session, user, now) - shown if shown >= REQUEST_LIMIT else 0
    return {"emergencies": found, "emergency_version": emergencies_version(found), "hidden_requests": hidden,
            "emergency_kinds": EMERGENCY_KIND_LABELS, "poll_seconds": POLL_SECONDS, "now": now}


# Drawn at about a phone's width so the 12 px labels stay readable; a PC scales the SVG up.
CHART_WIDTH = 360


def _noon(day: dt.date) -> dt.datetime:
    return as_utc(dt.datetime.combine(day, dt.time(12), tzinfo=LOCAL_TZ))


def trend_charts(trends: list[DayFigures]) -> list[dict[str, Any]]:
    """The dashboard's charts (SVG with a title and a description of their numbers) from the daily trends."""
    days = [t.day for t in trends]
    since, until = _noon(days[0]), _noon(days[-1])
    today = trends[-1]

    def line(values: list[tuple[dt.date, float | None]], *, title: str, desc: str, lo: float, hi: float,
             unit: str = "") -> Any:
        points = [(_noon(day), float(v)) for day, v in values if v is not None]
        return line_svg(points, since=since, until=until, lo=lo, hi=hi, width=CHART_WIDTH, height=150, axis=True,
                        label=title, desc=desc, css="chart", unit=unit)

    charts = []
    title = gettext("近%(n)s天工单：新增与办结", n=len(days))
    desc = gettext("共新增%(opened)s张，办结%(resolved)s张；今天新增%(today_opened)s张，办结%(today_resolved)s张",
                   opened=sum(t.opened for t in trends), resolved=sum(t.resolved for t in trends),
                   today_opened=today.opened, today_resolved=today.resolved)
    charts.append({"id": "chart-requests", "title": title, "desc": desc, "svg": bars_svg(
        days, [(gettext("新增"), [t.opened for t in trends], "#0b4f9c"),
               (gettext("办结"), [t.resolved for t in trends], "#1b5e20")],
        width=CHART_WIDTH, height=170, label=title, desc=desc)})
    title = gettext("超期未办结（每天结束时）")
    desc = gettext("现在%(now)s张，%(days)s天前%(then)s张，最多%(most)s张", now=today.overdue_open, days=len(days) - 1,
                   then=trends[0].overdue_open, most=max(t.overdue_open for t in trends))
    charts.append({"id": "chart-overdue", "title": title, "desc": desc, "svg": line(
        [(t.day, t.overdue_open) for t in trends], title=title, desc=desc, lo=0.0,
        hi=max(4.0, *(t.overdue_open for t in trends)))})
    title = gettext("手环告警（每天条数）")
    waits = [t.ack_minutes_median for t in trends if t.ack_minutes_median is not None]
    total = sum(t.alerts for t in trends)
    desc = (gettext("共%(total)s条告警；各天确认用时中位数%(low)s～%(high)s分钟", total=total, low=f"{min(waits):g}",
                    high=f"{max(waits):g}") if waits else gettext("共%(total)s条告警", total=total))
    charts.append({"id": "chart-alerts", "title": title, "desc": desc, "svg": bars_svg(
        days, [(gettext("告警"), [t.alerts for t in trends], "#8a1c00")], width=CHART_WIDTH, height=150, label=title,
        desc=desc)})
    title = gettext("告警确认用时中位数（分钟）")
    charts.append({"id": "chart-ack", "title": title, "desc": desc, "svg": line(
        [(t.day, t.ack_minutes_median) for t in trends], title=title, desc=desc, lo=0.0,
        hi=max([10.0, *waits]))})
    rates = [t.checkin_rate for t in trends if t.checkin_rate is not None]
    title = gettext("每日签到率")
    desc = gettext("今天%(today)s，%(days)s天平均%(avg)s", days=len(days),
                   today=_pct(today.checkin_rate), avg=_pct(sum(rates) / len(rates) if rates else None))
    charts.append({"id": "chart-checkins", "title": title, "desc": desc, "svg": line(
        [(t.day, None if t.checkin_rate is None else round(t.checkin_rate * 100, 1)) for t in trends],
        title=title, desc=desc, lo=0.0, hi=100.0, unit="%")})
    return charts


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


@bp.get("/live.json")
@staff_required()
def dashboard_live() -> Response:
    """What the dashboard's live part shows, as a fingerprint and counts; the page reloads the part when it changes."""
    user = current_staff()
    session = db_session()
    now = current_services().clock.now()
    found = emergencies(session, user, now)
    return jsonify(version=emergencies_version(found), emergencies=len(found),
                   by_kind={k: sum(1 for e in found if e.kind == k) for k in EMERGENCY_KIND_LABELS},
                   counts=_counts(session, user, now), now=to_local(now).strftime("%H:%M:%S"))


@bp.get("/")
@staff_required()
def dashboard() -> str:
    """Home page: emergencies first, then the numbers a 院长 or the 指挥中心 checks and the requests to act on.

    `?partial=emergencies` returns only the emergency list (for the page's polling).
    """
    user = current_staff()
    session = db_session()
    now = current_services().clock.now()
    live = _emergency_context(session, user, now)
    if request.args.get("partial") == "emergencies":
        return render_template("console/_emergencies.html", **live)
    scope = request_scope(user)
    counts = _counts(session, user, now)
    base = sa.select(Request).where(scope)
    supervised = list(session.scalars(
        base.where(Request.supervised.is_(True), Request.status.in_(OPEN_STATUSES)).order_by(Request.due_at).limit(10)
    ))
    mine = list(session.scalars(
        base.where(Request.assignee_id == user.id, Request.status.in_(OPEN_STATUSES))
        .order_by(Request.due_at).limit(10)
    ))
    by_courtyard: Sequence[Any] = []
    if user.role in ("admin", "town", "village", "grid_worker"):
        is_open = Request.status.in_(OPEN_STATUSES)
        by_courtyard = session.execute(
            sa.select(
                Courtyard.name,
                sa.func.count(Request.id),
                sa.func.sum(sa.case((overdue_clause(now), 1), else_=0)),
            )
            .join(Courtyard, Request.courtyard_id == Courtyard.id)
            .where(scope, is_open)
            .group_by(Courtyard.id, Courtyard.name)
            .order_by(Courtyard.name)
        ).all()
    trends = daily_trends(session, user, now)
    return render_template(
        "console/dashboard.html", counts=counts, supervised=supervised, mine=mine,
        type_labels=TYPE_LABELS, status_labels=STATUS_LABELS, by_courtyard=by_courtyard, **live,
        trends=trends, charts=trend_charts(trends), pct=_pct,
    )



@bp.before_request
def refuse_nul_characters() -> None:
    """Form or query text with NUL characters is never typed by a person (and PostgreSQL refuses it): 400."""
    for values in (request.args, request.form):
        for _key, value in values.items(multi=True):
            if "\x00" in value:
                abort(400)


ERROR_PAGES = {
    400: (N_("请求有误"), N_("提交的内容无法处理，请返回重试。")),
    403: (N_("没有权限"), N_("您的角色不能打开这个页面。")),
    404: (N_("找不到"), N_("找不到这个页面，或者它不在您管辖的范围内。")),
}


def _error_page(exc: HTTPException) -> tuple[str, int]:
    title, message = ERROR_PAGES.get(exc.code or 400, ERROR_PAGES[400])
    return render_template("console/error.html", title=title, message=message), exc.code or 400


for _code in ERROR_PAGES:
    bp.register_error_handler(_code, _error_page)
