"""Caregiver console for wristband alerts: live board, acknowledge / resolve, history, vitals charts,
the hut's wall screen and the band registry. Every page is scoped by role through
core.bands.visibility: a 院长 sees only their 小院, a caregiver only the residents they care for.

Charts are inline SVG (console.charts) drawn from core.bands.registry.vitals_series (no JavaScript needed);
the board polls a small JSON endpoint with plain ES5 and works without JavaScript too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext
from markupsafe import Markup
from werkzeug.wrappers import Response

from console.api_schemas import MAX_ID
from console.auth import current_staff, safe_next, staff_required
from console.blueprint import bp
from console.charts import downsample, line_svg
from console.common import DEFAULT_PER_PAGE, MAX_PER_PAGE, paginate, parse_day, parse_positive_int
from console.db import db_session
from console.forms import form_action
from console.nav import MANAGERS, register_nav
from core.bands import alerts as alert_service
from core.bands import registry as device_service
from core.bands.visibility import (
    BAND_REGISTRARS,
    active_alerts,
    alert_query,
    band_scope,
    get_alert_for,
    get_band_for,
)
from core.bands.watches import held_summary
from core.clock import LOCAL_TZ, as_utc, to_local
from core.container import current_services
from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.models.alerts import ALERT_STATUSES, SEVERITIES, Alert
from core.models.devices import Band
from core.models.places import Resident
from core.models.staff import ROLES, User
from core.people.access import MANAGER_ROLES, get_resident_for, scoped_residents

log = logging.getLogger(__name__)

SEVERITY_LABELS = {"critical": N_("紧急"), "urgent": N_("重要"), "warning": N_("提醒")}
STATUS_LABELS = {"open": N_("待通知"), "notified": N_("已通知"), "acknowledged": N_("已确认"),
                 "resolved": N_("已处理"), "auto_cleared": N_("已自动恢复")}
VIA_LABELS = {"console": N_("工作台"), "call": N_("电话按键"), "sms": N_("短信回复"), "cli": N_("命令行")}
# Which vital a board sparkline shows for an alert type (heart rate for everything else).
SPARK_METRIC = {"spo2_low": "spo2", "temp_high": "temp_c", "temp_low": "temp_c"}
METRICS = {
    # key: (label, unit, lower bound, upper bound, guide lines)
    "hr": (N_("心率"), N_("次/分"), 30.0, 160.0, (45.0, 120.0)),
    "spo2": (N_("血氧"), "%", 80.0, 100.0, (90.0,)),
    "temp_c": (N_("体温"), "°C", 34.0, 40.0, (35.0, 38.0)),
}
RANGES = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7)}
POLL_SECONDS = 5

register_nav("console.alert_board", N_("告警"), ROLES, 15, group="daily")
register_nav("console.band_list", N_("手环"), ROLES, 40, group="people")
register_nav("console.wall_screen", N_("大屏"), MANAGERS, 45, group="people")

# ---- charts (pure) -----------------------------------------------------------------------------

def series(points: Iterable[dict[str, Any]], key: str) -> list[tuple[dt.datetime, float]]:
    """(time, value) pairs of one vital from vitals_series rows, skipping gaps."""
    return [(as_utc(p["ts"]), float(p[key])) for p in points if p.get(key) is not None]


def summarise_series(values: Sequence[tuple[dt.datetime, float]]) -> dict[str, float | None]:
    """Minimum, mean, maximum and latest value (None when there is nothing)."""
    if not values:
        return {"min": None, "avg": None, "max": None, "last": None}
    nums = [v for _, v in values]
    return {"min": min(nums), "avg": sum(nums) / len(nums), "max": max(nums), "last": nums[-1]}


# ---- board rows ----------------------------------------------------------------------------------

def _names(session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(sa.select(Resident.id, Resident.name).where(Resident.id.in_(ids))).all())


def _local(value: dt.datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    return to_local(value).strftime(fmt) if value is not None else ""


def alert_row(alert: Alert, resident_name: str | None) -> dict[str, Any]:
    """One alert as the board shows it and the JSON endpoint returns it (times in Asia/Shanghai)."""
    return {
        "id": alert.id, "type": alert.type, "type_label": alert_service.TYPE_LABELS.get(alert.type, alert.type),
        "severity": alert.severity, "status": alert.status, "resident_id": alert.resident_id,
        "resident_name": resident_name or (
            gettext("手环%(device)s", device=alert.device_id) if alert.device_id else ""),
        "summary": alert.summary, "raised_at": as_utc(alert.raised_at).isoformat(),
        "raised_local": _local(alert.raised_at), "lat": alert.lat, "lon": alert.lon,
        "acknowledged_by": alert.acknowledged_by, "occurrences": alert.occurrences, "level": alert.level,
        "exhausted": alert.exhausted,
    }


def board_version(rows: Iterable[dict[str, Any]], alerts: Iterable[Alert]) -> str:
    """A short fingerprint of what the board shows; the page reloads its board when it changes."""
    digest = hashlib.sha1(usedforsecurity=False)
    for row, alert in zip(rows, alerts, strict=False):
        digest.update(f"{row['id']}:{row['status']}:{row['severity']}:{alert.updated_at.isoformat()};".encode())
    return digest.hexdigest()[:16]


def _board(session, user: User, now: dt.datetime) -> dict[str, Any]:
    found = active_alerts(session, user)
    rows = [alert_row(alert, name) for alert, name in found]
    since = now - RANGES["24h"]
    cache: dict[tuple[int, str], Markup] = {}
    for row in rows:
        metric = SPARK_METRIC.get(row["type"], "hr")
        rid = row["resident_id"]
        if rid is None:
            row["spark"] = None
            continue
        key = (rid, metric)
        if key not in cache:
            points = device_service.vitals_series(session, rid, since=since, until=now)
            label, unit, lo, hi, guides = METRICS[metric]
            values = downsample(series(points, metric), since=since, until=now, max_points=144)
            cache[key] = line_svg(values, since=since, until=now, lo=lo, hi=hi, width=160, height=36,
                                  label=gettext("%(name)s 24小时%(metric)s", name=row["resident_name"],
                                                metric=gettext(label)), guides=guides)
        row["spark"] = cache[key]
        row["spark_metric"] = metric
    return {"rows": rows, "version": board_version(rows, [a for a, _ in found]), "now": now}


# ---- pages ---------------------------------------------------------------------------------------

def _labels() -> dict[str, Any]:
    return {"severity_labels": SEVERITY_LABELS, "alert_status_labels": STATUS_LABELS,
            "alert_type_labels": alert_service.TYPE_LABELS, "via_labels": VIA_LABELS, "metrics": METRICS,
            "call_labels": alert_service.CALL_LABELS}


@bp.get("/alerts")
@staff_required()
def alert_board() -> str:
    """The live board of active alerts; `?partial=1` returns only the board (for the page's polling)."""
    user = current_staff()
    board = _board(db_session(), user, current_services().clock.now())
    template = "console/alerts/_board.html" if request.args.get("partial") == "1" else "console/alerts/board.html"
    return render_template(template, board=board, poll_seconds=POLL_SECONDS, **_labels())


@bp.get("/alerts/live.json")
@staff_required()
def alert_board_json() -> Response:
    """What the board shows, as JSON: a version fingerprint and the active alerts."""
    user = current_staff()
    board = _board(db_session(), user, current_services().clock.now())
    rows = [{k: v for k, v in row.items() if k not in ("spark", "spark_metric")} for row in board["rows"]]
    return jsonify(version=board["version"], count=len(rows),
                   critical=sum(1 for r in rows if r["severity"] == "critical" and r["status"] != "acknowledged"),
                   now=_local(board["now"], "%Y-%m-%d %H:%M:%S"), alerts=rows)


@bp.get("/alerts/<int:alert_id>")
@staff_required()
def alert_detail(alert_id: int) -> str:
    """One alert: what, who, where, who was told at which level, and the buttons."""
    user = current_staff()
    session = db_session()
    try:
        alert = get_alert_for(session, user, alert_id)
    except NotFound:
        abort(404)
    resident = session.get(Resident, alert.resident_id) if alert.resident_id is not None else None
    now = current_services().clock.now()
    spark = None
    if resident is not None:
        metric = SPARK_METRIC.get(alert.type, "hr")
        label, _, lo, hi, guides = METRICS[metric]
        since = min(now, as_utc(alert.raised_at)) - RANGES["24h"] / 4
        until = max(now, as_utc(alert.raised_at))
        values = downsample(series(device_service.vitals_series(session, resident.id, since=since, until=until),
                                   metric), since=since, until=until, max_points=200)
        spark = line_svg(values, since=since, until=until, lo=lo, hi=hi, width=640, height=160, axis=True,
                         label=f"{resident.name} {gettext(label)}", guides=guides, css="chart")
    return render_template("console/alerts/detail.html", alert=alert, resident=resident, spark=spark,
                           row=alert_row(alert, resident.name if resident else None), **_labels())


def _back(alert_id: int) -> Response:
    return redirect(safe_next(request.form.get("next")) or url_for("console.alert_detail", alert_id=alert_id))


def _act_on_alert(alert_id: int, done: str, change: Callable[[Any, dt.datetime, User], Alert]) -> Response:
    """Apply `change(session, now, user)` to an alert in the user's scope (404 outside it) and go back."""
    def scoped(session: Any, user: User, now: dt.datetime) -> Alert:
        get_alert_for(session, user, alert_id)
        return change(session, now, user)

    form_action(scoped, done=done, missing_is_404=True)
    return _back(alert_id)


@bp.post("/alerts/<int:alert_id>/acknowledge")
@staff_required()
def alert_acknowledge(alert_id: int) -> Response:
    """Take the alert: escalation stops (it must still be resolved within its ack timeout)."""
    return _act_on_alert(alert_id, N_("已确认，正在处理"), lambda session, now, user: (
        alert_service.acknowledge_alert(session, now=now, alert_id=alert_id, by=user.display_name or user.username,
                                        via="console", user_id=user.id, actor=user)))


@bp.post("/alerts/<int:alert_id>/resolve")
@staff_required()
def alert_resolve(alert_id: int) -> Response:
    """Close the alert with a note saying what was done."""
    note = request.form.get("note") or ""
    return _act_on_alert(alert_id, N_("已处理完毕"), lambda session, now, user: (
        alert_service.resolve_alert(session, now=now, alert_id=alert_id, note=note,
                                    by=user.display_name or user.username, user_id=user.id, via="console",
                                    actor=user)))


def filtered_alerts(user: User, args) -> tuple[sa.Select, dict[str, str]]:
    """The scoped select of alerts for the history, with the filters actually applied (dates are local)."""
    status = args.get("status") or ""
    known = status == "active" or status in ALERT_STATUSES
    query = alert_query(user, status=status if known else None)
    applied: dict[str, str] = {"status": status} if known else {}
    severity = args.get("severity") or ""
    if severity in SEVERITIES:
        query = query.where(Alert.severity == severity)
        applied["severity"] = severity
    alert_type = args.get("type") or ""
    if alert_type in alert_service.TYPE_LABELS:
        query = query.where(Alert.type == alert_type)
        applied["type"] = alert_type
    resident_id = args.get("resident_id") or ""
    if resident_id.isdigit() and int(resident_id) <= MAX_ID:
        query = query.where(Alert.resident_id == int(resident_id))
        applied["resident_id"] = resident_id
    for key, op in (("from", "ge"), ("to", "lt")):
        day = parse_day(args.get(key))
        if day is None:
            continue
        if op == "lt":
            day = day + dt.timedelta(days=1)
        start = as_utc(dt.datetime.combine(day, dt.time(0), tzinfo=LOCAL_TZ))
        query = query.where(Alert.raised_at >= start if op == "ge" else Alert.raised_at < start)
        applied[key] = args.get(key)
    return query, applied


@bp.get("/alerts/history")
@staff_required()
def alert_history() -> str:
    """Every alert the user may see, filtered by status, severity, type, resident and local dates; paged."""
    user = current_staff()
    session = db_session()
    query, applied = filtered_alerts(user, request.args)
    page = paginate(session, query.order_by(Alert.raised_at.desc(), Alert.id.desc()),
                    parse_positive_int(request.args.get("page"), 1),
                    parse_positive_int(request.args.get("per_page"), DEFAULT_PER_PAGE, maximum=MAX_PER_PAGE))
    ids = {a.resident_id for a in page.items if a.resident_id is not None}
    names = _names(session, ids)
    return render_template("console/alerts/history.html", page=page, applied=applied, names=names,
                           statuses=ALERT_STATUSES, severities=SEVERITIES, **_labels())


@bp.get("/vitals/<int:resident_id>")
@staff_required()
def resident_vitals(resident_id: int) -> str:
    """Heart rate, SpO2 and temperature of one resident over 24 hours or 7 days, as SVG charts."""
    user = current_staff()
    session = db_session()
    try:
        resident = get_resident_for(session, user, resident_id)
    except NotFound:
        abort(404)
    chosen = request.args.get("range") or ""
    span = chosen if chosen in RANGES else "24h"
    now = current_services().clock.now()
    since = now - RANGES[span]
    points = device_service.vitals_series(session, resident.id, since=since, until=now)
    charts = []
    for key, (label, unit, lo, hi, guides) in METRICS.items():
        values = series(points, key)
        charts.append({
            "key": key, "label": label, "unit": unit, "stats": summarise_series(values), "count": len(values),
            "svg": line_svg(downsample(values, since=since, until=now, max_points=336), since=since, until=now,
                            lo=lo, hi=hi, width=720, height=180, axis=True, guides=guides, css="chart",
                            label=f"{resident.name} {gettext(label)}"),
        })
    bands = list(session.scalars(sa.select(Band).where(Band.resident_id == resident.id).order_by(Band.id)))
    return render_template("console/alerts/vitals.html", resident=resident, charts=charts, span=span,
                           ranges=list(RANGES), bands=bands, since=since, now=now, **_labels())


def _ago(now: dt.datetime, then: dt.datetime | None) -> int | None:
    return None if then is None else max(0, int((now - as_utc(then)).total_seconds() // 60))


@bp.get("/wall")
@staff_required()
def wall_screen() -> str:
    """The hut's wall screen: every band's online state, battery and last reading, and the active alerts."""
    user = current_staff()
    session = db_session()
    now = current_services().clock.now()
    rows = session.execute(
        sa.select(Band, Resident.name).outerjoin(Resident, Resident.id == Band.resident_id)
        .where(band_scope(user), Band.active.is_(True)).order_by(Resident.name, Band.device_id)
    ).all()
    tiles = []
    for band, name in rows:
        last = dict(band.last_reading or {})
        reading_at = None
        if isinstance(last.get("ts"), str):
            try:
                reading_at = as_utc(dt.datetime.fromisoformat(last["ts"]))
            except ValueError:
                reading_at = None
        tiles.append({"band": band, "name": name or band.device_id, "last": last,
                      "seen_minutes": _ago(now, band.last_seen_at), "reading_local": _local(reading_at, "%H:%M"),
                      "low_battery": band.battery is not None and band.battery <= 20})
    alerts = [alert_row(a, n) for a, n in active_alerts(session, user)]
    offline_count = sum(1 for band, _ in rows if not band.online)
    return render_template("console/alerts/wall.html", tiles=tiles, alerts=alerts, now=now, offline_count=offline_count,
                           now_local=_local(now, "%Y-%m-%d %H:%M"), **_labels())


# ---- band registry -------------------------------------------------------------------------------

def _band_page(status: int = 200, secret: tuple[str, str, str] | None = None) -> tuple[str, int]:
    user = current_staff()
    session = db_session()
    page = paginate(
        session, sa.select(Band).where(band_scope(user)).order_by(Band.device_id),
        parse_positive_int(request.args.get("page"), 1),
        parse_positive_int(request.args.get("per_page"), 50, maximum=MAX_PER_PAGE),
    )
    ids = {b.resident_id for b in page.items if b.resident_id is not None}
    names = _names(session, ids)
    can_assign = user.role in MANAGER_ROLES
    residents = list(session.scalars(scoped_residents(user).order_by(Resident.name, Resident.id).limit(1000))) \
        if can_assign else []
    held = {b.id: held_summary(b) for b in page.items if b.protocol == "watch"}  # what each watch confirmed
    return render_template("console/alerts/bands.html", page=page, names=names, residents=residents,
                           can_assign=can_assign, can_add=user.role in BAND_REGISTRARS, secret=secret,
                           held=held, watch_port=current_services().settings.watch.port,
                           now=current_services().clock.now()), status


@bp.get("/bands")
@staff_required()
def band_list() -> tuple[str, int]:
    """The bands the user may see (registrars also see unassigned ones), with assign and add forms."""
    return _band_page()


def _refresh_broker() -> None:
    """Tell the embedded broker about a new band (a hook the composition root sets; absent elsewhere)."""
    hook = current_services().extras.get("broker:refresh")
    if callable(hook):
        try:
            hook()
        except Exception:  # the band is registered; the broker learns it at its next reload or restart
            log.exception("the private broker could not reload its password file")


BAND_FIELDS = {
    N_("设备号只能包含字母、数字、- 和 _"): "device_id", N_("这个设备号已经登记过"): "device_id",
    N_("站点只能包含字母、数字、- 和 _"): "site", N_("上报间隔应在10秒到1天之间"): "interval_s",
    N_("找不到这位居民"): "resident_id",
}


@bp.post("/bands")
@staff_required(*BAND_REGISTRARS)
def band_add() -> Response | tuple[str, int]:
    """Register a band (its MQTT password is shown once on the page that follows; only a hash is kept) or a
    watch (no password: it speaks to the watch gateway)."""
    form = request.form
    raw_resident = form.get("resident_id") or ""
    outcome = form_action(lambda session, user, now: device_service.register_band(
        session, now=now, device_id=(form.get("device_id") or "").strip(),
        site=(form.get("site") or "default").strip(), model=(form.get("model") or "").strip()[:60],
        interval_s=parse_positive_int(form.get("interval_s"), 60),
        resident_id=int(raw_resident) if raw_resident.isdigit() else None, actor=user,
        protocol=form.get("protocol") or "mqtt"),
        done=N_("手环已登记"), fields=BAND_FIELDS)
    if not outcome.ok:
        return _band_page(outcome.status)
    band, secret, notice = outcome.result.band, outcome.result.secret, outcome.result.notice
    if not secret:  # a watch has no MQTT account
        return _band_page(201)
    _refresh_broker()
    if notice is not None:  # whoever registers a band for nobody learns where its alarms will go
        flash(gettext(notice[0], **notice[1]), "warning")
    return _band_page(201, secret=(band.device_id, secret, device_service.band_username(band.device_id)))


@bp.post("/bands/<int:band_id>/assign")
@staff_required(*MANAGER_ROLES)
def band_assign(band_id: int) -> Response:
    """Give a band to a resident in the user's scope (or take it back)."""
    try:
        band = get_band_for(db_session(), current_staff(), band_id)
    except NotFound:
        abort(404)
    raw = request.form.get("resident_id") or ""

    def assign(session: Any, user: User, now: dt.datetime) -> Band:
        if not raw.isdigit() and raw != "none":
            raise InvalidInput(N_("请选择居民"))
        return device_service.assign_band(session, now=now, band_ref=band.id,
                                          resident_id=int(raw) if raw.isdigit() else None, actor=user)

    form_action(assign, done=N_("已保存"))
    return redirect(url_for("console.band_list"))
