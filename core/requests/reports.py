"""Daily / weekly / monthly reports (日通报 / 周小结 / 月总结) per town and per village.

Periods are local (Asia/Shanghai) calendar days, ISO weeks (Monday first) and months. Every figure is
computed from the raw rows with the definitions below, so it can be recomputed and reconciled:

- new: requests created in the period; resolved: requests with a "resolved" event in the period
  (counted once; time to resolve = their last resolution in the period minus creation);
- overdue (flow, 本期新超期): requests that fell due in the period without being resolved or closed by
  their due time;
- overdue_open (stock, 截至报告时超期未办结): requests still open and past due at report time, i.e. at the
  end of the period, or now while the period is still running (status at that time = the last status
  change recorded by then, "new" when there was none);
- supervised: requests marked 挂牌 (a "supervised" event) in the period;
- satisfaction: requests evaluated in the period ("evaluated" events, and closes as unevaluated), by
  their evaluation; satisfaction rate = (满意 + 基本满意) / (满意 + 基本满意 + 不满意);
- alerts: raised in the period, by type, with the median minutes from raising to acknowledgement;
- unknown callers: requests created in the period from phone calls nobody could place (no household);
- one-key calls: raised in the period; reached = someone pressed 1 (status reached or bridged);
- check-ins: household-days with a check-in / households × days of the period;
- points: awarded = net of all entries except redemptions and refunds; redeemed = net points spent.
- boards (帮我卖 / 找活干): listings made, sold and withdrawn in the period, still open at its end, buyers'
  我要买 in the period; day jobs posted and sign-ups in the period (a town-wide job counts for the town).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, UTC, to_local
from core.community.bins import bin_figures
from core.community.board_figures import board_figures
from core.container import Services
from core.db import transaction
from core.errors import InvalidInput, NotFound
from core.i18n import DEFAULT_LOCALE, N_, translate
from core.models.alerts import Alert
from core.models.checkins import CheckIn
from core.models.helpcalls import HelpCall, HelpCallLeg
from core.models.outbox import OutboxMessage
from core.models.places import Courtyard, Household, Town, Village
from core.models.points import PointEntry
from core.models.requests import Request, RequestEvent
from core.models.staff import User
from core.notify.outbox import enqueue_message, recipient_for_user
from core.requests import texts
from core.requests.workorders import OPEN_STATUSES, TYPE_LABELS

KINDS = ("daily", "weekly", "monthly")
KIND_LABELS = {"daily": N_("日通报"), "weekly": N_("周小结"), "monthly": N_("月总结")}
SATISFACTION_KEYS = ("satisfied", "basic", "dissatisfied", "unevaluated")
REACHED_STATUSES = ("reached", "bridged")


def period_bounds(kind: str, day: dt.date) -> tuple[dt.date, dt.date]:
    """The local dates [start, end) of the daily / weekly (ISO week) / monthly period containing `day`."""
    if kind == "daily":
        return day, day + dt.timedelta(days=1)
    if kind == "weekly":
        start = day - dt.timedelta(days=day.weekday())
        return start, start + dt.timedelta(days=7)
    if kind == "monthly":
        start = day.replace(day=1)
        end = (start.replace(year=start.year + 1, month=1) if start.month == 12
               else start.replace(month=start.month + 1))
        return start, end
    raise InvalidInput(N_("未知的报表类型：%(kind)s"), kind=kind)


def local_midnight_utc(day: dt.date) -> dt.datetime:
    """Local midnight at the start of `day`, as UTC."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=LOCAL_TZ).astimezone(UTC)


def median_p90(values: list[float]) -> tuple[float | None, float | None]:
    """The median and the nearest-rank 90th percentile (None for no values)."""
    if not values:
        return None, None
    ordered = sorted(values)
    return statistics.median(ordered), ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


@dataclass
class Report:
    """The figures of one report; `to_dict()` is the JSON form."""

    kind: str
    start: str
    end: str  # exclusive
    scope: str  # "town" or "village"
    scope_id: int
    scope_name: str
    requests: dict[str, Any] = field(default_factory=dict)
    satisfaction: dict[str, Any] = field(default_factory=dict)
    alerts: dict[str, Any] | None = None
    help_calls: dict[str, Any] = field(default_factory=dict)
    checkins: dict[str, Any] | None = None
    points: dict[str, Any] | None = None
    bins: dict[str, Any] | None = None
    boards: dict[str, Any] | None = None  # 帮我卖 and 找活干

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _scoped(column_village: Any, column_town: Any, scope: str, scope_id: int) -> Any:
    return column_village == scope_id if scope == "village" else column_town == scope_id


def overdue_open_at(where: Any, at: dt.datetime | sa.ColumnElement[Any]) -> Any:
    """The requests (within `where`) that were open and past their due time at `at`: the 超期 stock. `at` may
    also be a column, e.g. of a table of moments, to count the stock at each of them in one query."""
    status_then = (
        sa.select(RequestEvent.to_status)
        .where(RequestEvent.request_id == Request.id, RequestEvent.at <= at, RequestEvent.to_status.is_not(None))
        .order_by(RequestEvent.at.desc(), RequestEvent.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return sa.select(Request.id, Request.type, Request.courtyard_id).where(
        where, Request.created_at <= at, Request.due_at < at,
        sa.func.coalesce(status_then, "new").in_(OPEN_STATUSES))


def _request_figures(session: Session, scope: str, scope_id: int, start: dt.datetime, end: dt.datetime,
                     as_of: dt.datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    where = _scoped(Request.village_id, Request.town_id, scope, scope_id)
    courtyard_names = dict(session.execute(sa.select(Courtyard.id, Courtyard.name)).all())
    new = session.execute(sa.select(Request.id, Request.type, Request.courtyard_id).where(
        where, Request.created_at >= start, Request.created_at < end)).all()
    resolved_rows = session.execute(
        sa.select(Request.id, Request.type, Request.courtyard_id, Request.created_at, sa.func.max(RequestEvent.at))
        .join(RequestEvent, RequestEvent.request_id == Request.id)
        .where(where, RequestEvent.action == "resolved", RequestEvent.at >= start, RequestEvent.at < end)
        .group_by(Request.id, Request.type, Request.courtyard_id, Request.created_at)
    ).all()
    on_time = (
        sa.select(RequestEvent.id).where(
            RequestEvent.request_id == Request.id, RequestEvent.action.in_(("resolved", "closed")),
            RequestEvent.at <= Request.due_at,
        ).exists()
    )
    overdue = session.execute(sa.select(Request.id, Request.type, Request.courtyard_id).where(
        where, Request.due_at >= start, Request.due_at < end, ~on_time)).all()
    overdue_open = session.execute(overdue_open_at(where, as_of)).all()
    supervised = session.scalar(
        sa.select(sa.func.count(sa.distinct(RequestEvent.request_id)))
        .join(Request, RequestEvent.request_id == Request.id)
        .where(where, RequestEvent.action == "supervised", RequestEvent.at >= start, RequestEvent.at < end)
    ) or 0
    names = ("new", "resolved", "overdue", "overdue_open")
    by_type: dict[str, dict[str, int]] = {t: dict.fromkeys(names, 0) for t in TYPE_LABELS}
    by_courtyard: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(names, 0))
    for name, rows in zip(names, (new, resolved_rows, overdue, overdue_open), strict=True):
        for row in rows:
            by_type.setdefault(row[1], dict.fromkeys(names, 0))[name] += 1
            by_courtyard[courtyard_names.get(row[2], "—")][name] += 1
    hours = [(row[4] - row[3]).total_seconds() / 3600 for row in resolved_rows]
    median, p90 = median_p90(hours)
    unknown_callers = session.scalar(sa.select(sa.func.count(Request.id)).where(
        where, Request.created_at >= start, Request.created_at < end, Request.channel == "phone",
        Request.household_id.is_(None))) or 0
    figures = {
        "new": len(new), "resolved": len(resolved_rows), "overdue": len(overdue),
        "overdue_open": len(overdue_open), "as_of": to_local(as_of).strftime("%Y-%m-%d %H:%M"),
        "supervised": supervised, "unknown_callers": unknown_callers,
        "resolve_hours_median": None if median is None else round(median, 2),
        "resolve_hours_p90": None if p90 is None else round(p90, 2),
        "by_type": {t: v for t, v in by_type.items() if any(v.values())},
        "by_courtyard": dict(sorted(by_courtyard.items())),
    }
    evaluated = session.execute(
        sa.select(Request.id, Request.satisfaction).join(RequestEvent, RequestEvent.request_id == Request.id).where(
            where, RequestEvent.at >= start, RequestEvent.at < end,
            sa.or_(RequestEvent.action == "evaluated",
                   sa.and_(RequestEvent.action == "closed", Request.satisfaction == "unevaluated")),
        ).distinct()
    ).all()
    counts = Counter(s for _, s in evaluated if s in SATISFACTION_KEYS)
    answered = counts["satisfied"] + counts["basic"] + counts["dissatisfied"]
    satisfaction: dict[str, float | None] = {key: counts[key] for key in SATISFACTION_KEYS}
    satisfaction["rate"] = round((counts["satisfied"] + counts["basic"]) / answered, 4) if answered else None
    return figures, satisfaction


def _alert_figures(session: Session, scope: str, scope_id: int, start: dt.datetime, end: dt.datetime
                   ) -> dict[str, Any]:
    rows = session.execute(sa.select(Alert.type, Alert.raised_at, Alert.acknowledged_at).where(
        _scoped(Alert.village_id, Alert.town_id, scope, scope_id), Alert.raised_at >= start, Alert.raised_at < end,
    )).all()
    by_type: dict[str, dict[str, Any]] = {}
    for alert_type in sorted({r[0] for r in rows}):
        typed = [r for r in rows if r[0] == alert_type]
        waits = [(r[2] - r[1]).total_seconds() / 60 for r in typed if r[2] is not None]
        median, _ = median_p90(waits)
        by_type[alert_type] = {"count": len(typed), "acknowledged": len(waits),
                               "ack_minutes_median": None if median is None else round(median, 1)}
    waits = [(r[2] - r[1]).total_seconds() / 60 for r in rows if r[2] is not None]
    median, _ = median_p90(waits)
    return {"total": len(rows), "acknowledged": len(waits),
            "ack_minutes_median": None if median is None else round(median, 1), "by_type": by_type}


def _help_call_figures(session: Session, scope: str, scope_id: int, start: dt.datetime, end: dt.datetime
                       ) -> dict[str, Any]:
    where = [_scoped(HelpCall.village_id, HelpCall.town_id, scope, scope_id),
             HelpCall.created_at >= start, HelpCall.created_at < end]
    total, reached = session.execute(sa.select(
        sa.func.count(HelpCall.id),
        sa.func.count(HelpCall.id).filter(HelpCall.status.in_(REACHED_STATUSES)),
    ).where(*where)).one()
    legs = session.scalar(sa.select(sa.func.count(HelpCallLeg.id)).join(
        HelpCall, HelpCallLeg.help_call_id == HelpCall.id).where(*where)) or 0
    return {"total": total or 0, "reached": reached or 0, "legs": legs}


def _checkin_figures(session: Session, scope: str, scope_id: int, start_day: dt.date, end_day: dt.date
                     ) -> dict[str, Any]:
    households = session.scalar(
        sa.select(sa.func.count(Household.id)).join(Courtyard, Household.courtyard_id == Courtyard.id)
        .join(Village, Courtyard.village_id == Village.id)
        .where(_scoped(Village.id, Village.town_id, scope, scope_id))
    ) or 0
    done = session.scalar(sa.select(sa.func.count(CheckIn.id)).where(
        _scoped(CheckIn.village_id, CheckIn.town_id, scope, scope_id),
        CheckIn.local_date >= start_day, CheckIn.local_date < end_day,
    )) or 0
    expected = households * (end_day - start_day).days
    return {"households": households, "checked_in": done, "expected": expected,
            "rate": round(done / expected, 4) if expected else None}


def _point_figures(session: Session, scope: str, scope_id: int, start: dt.datetime, end: dt.datetime
                   ) -> dict[str, Any]:
    spent = PointEntry.source.in_(("redemption", "refund"))
    awarded, redeemed = session.execute(sa.select(
        sa.func.coalesce(sa.func.sum(PointEntry.delta).filter(~spent), 0),
        sa.func.coalesce(sa.func.sum(PointEntry.delta).filter(spent), 0),
    ).where(_scoped(PointEntry.village_id, PointEntry.town_id, scope, scope_id),
            PointEntry.created_at >= start, PointEntry.created_at < end)).one()
    return {"awarded": int(awarded), "redeemed": -int(redeemed)}


def build_report(session: Session, *, kind: str, day: dt.date, village_id: int | None = None,
                 town_id: int | None = None, now: dt.datetime | None = None) -> Report:
    """Compute the report of the period containing local date `day` for a village or a town.

    `now` is the report time: the 超期 stock is counted at the period's end, or at `now` when that is earlier.
    """
    start_day, end_day = period_bounds(kind, day)
    place: Village | Town | None
    if village_id is not None:
        place = session.get(Village, village_id)
        scope, scope_id = "village", village_id
    elif town_id is not None:
        place = session.get(Town, town_id)
        scope, scope_id = "town", town_id
    else:
        raise InvalidInput(N_("请指定村或镇"))
    if place is None:
        raise NotFound(N_("找不到这个地方"))
    start, end = local_midnight_utc(start_day), local_midnight_utc(end_day)
    as_of = end if now is None else min(end, now)
    requests, satisfaction = _request_figures(session, scope, scope_id, start, end, as_of)
    return Report(
        kind=kind, start=start_day.isoformat(), end=end_day.isoformat(), scope=scope, scope_id=scope_id,
        scope_name=place.name, requests=requests, satisfaction=satisfaction,
        alerts=_alert_figures(session, scope, scope_id, start, end),
        help_calls=_help_call_figures(session, scope, scope_id, start, end),
        checkins=_checkin_figures(session, scope, scope_id, start_day, end_day),
        points=_point_figures(session, scope, scope_id, start, end),
        bins=bin_figures(session, _scoped(Request.village_id, Request.town_id, scope, scope_id), start, end),
        boards=board_figures(session, scope=scope, scope_id=scope_id, start=start, end=end),
    )


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _num(value: float | None, unit: str, locale: str = DEFAULT_LOCALE) -> str:
    return "—" if value is None else translate(unit, locale, n=f"{value:g}")


def period_label(report: Report) -> str:
    """"2026-11-26", "2026-11-23～11-29" or "2026-11"."""
    if report.kind == "daily":
        return report.start
    if report.kind == "monthly":
        return report.start[:7]
    last = dt.date.fromisoformat(report.end) - dt.timedelta(days=1)
    return f"{report.start}～{last.strftime('%m-%d')}"


def render_text(report: Report, locale: str = DEFAULT_LOCALE) -> str:
    """The short text pushed to staff in their `locale` (a few lines, fits an SMS / robot message)."""
    r, s = report.requests, report.satisfaction
    lines = [
        translate(texts.REPORT_TITLE, locale, scope=report.scope_name, kind=translate(KIND_LABELS[report.kind], locale),
                  period=period_label(report)),
        translate(texts.REPORT_REQUESTS, locale, new=r["new"], resolved=r["resolved"], overdue=r["overdue"],
                  overdue_open=r["overdue_open"],
                  supervised=r["supervised"], median=_num(r["resolve_hours_median"], texts.HOURS, locale),
                  p90=_num(r["resolve_hours_p90"], texts.HOURS, locale)),
        translate(texts.REPORT_SATISFACTION, locale, satisfied=s["satisfied"], basic=s["basic"],
                  dissatisfied=s["dissatisfied"], unevaluated=s["unevaluated"], rate=_pct(s["rate"])),
    ]
    if r.get("unknown_callers"):
        lines.append(translate(texts.REPORT_UNKNOWN_CALLERS, locale, count=r["unknown_callers"]))
    if report.alerts is not None:
        types = translate(texts.ENUMERATION_SEPARATOR, locale).join(
            f"{t}{v['count']}" for t, v in report.alerts["by_type"].items())
        lines.append(translate(texts.REPORT_ALERTS_TYPES if types else texts.REPORT_ALERTS, locale,
                               total=report.alerts["total"], types=types,
                               median=_num(report.alerts["ack_minutes_median"], texts.MINUTES, locale)))
    h = report.help_calls
    lines.append(translate(texts.REPORT_HELP_CALLS, locale, total=h["total"], reached=h["reached"], legs=h["legs"]))
    if report.checkins is not None:
        c = report.checkins
        lines.append(translate(texts.REPORT_CHECKINS, locale, checked_in=c["checked_in"], expected=c["expected"],
                               rate=_pct(c["rate"])))
    if report.points is not None:
        lines.append(translate(texts.REPORT_POINTS, locale, awarded=report.points["awarded"],
                               redeemed=report.points["redeemed"]))
    if report.bins is not None and (report.bins["reported"] or report.bins["emptied"]):
        b = report.bins
        lines.append(translate(texts.REPORT_BINS, locale, reported=b["reported"], scans=b["scans"],
                               emptied=b["emptied"], median=_num(b["empty_hours_median"], texts.HOURS, locale)))
    if report.boards is not None and any(report.boards.values()):  # quiet days add no line to the SMS
        lines.append(translate(texts.REPORT_BOARDS, locale, **report.boards))
    return "\n".join(lines)


def render_json(report: Report) -> str:
    """The report as JSON (Chinese unescaped)."""
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2)


def report_rows(report: Report) -> list[tuple[str, str, str, Any]]:
    """Flat (section, key, metric, value) rows: what the CSV holds."""
    rows: list[tuple[str, str, str, Any]] = []
    for section in ("requests", "satisfaction", "alerts", "help_calls", "checkins", "points", "bins", "boards"):
        data = getattr(report, section)
        if data is None:
            continue
        for metric, value in data.items():
            if isinstance(value, dict):
                for key, inner in value.items():
                    if isinstance(inner, dict):
                        rows.extend((f"{section}.{metric}", key, m, v) for m, v in inner.items())
                    else:
                        rows.append((f"{section}.{metric}", key, "value", inner))
            else:
                rows.append((section, "", metric, value))
    return rows


def render_csv(report: Report) -> str:
    """The report as CSV: a header line with the period and scope, then section,key,metric,value rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["kind", "start", "end", "scope", "scope_id", "scope_name"])
    writer.writerow([report.kind, report.start, report.end, report.scope, report.scope_id, report.scope_name])
    writer.writerow(["section", "key", "metric", "value"])
    for row in report_rows(report):
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()


RENDERERS = {"text": render_text, "json": render_json, "csv": render_csv}


def due_reports(local_today: dt.date) -> list[tuple[str, dt.date]]:
    """Reports due for pushing on a local day: yesterday's daily; last week's Mon–Wed; last month's on days 1–5."""
    yesterday = local_today - dt.timedelta(days=1)
    due = [("daily", yesterday)]
    if local_today.weekday() <= 2:
        due.append(("weekly", local_today - dt.timedelta(days=local_today.weekday() + 1)))
    if local_today.day <= 5:
        due.append(("monthly", local_today.replace(day=1) - dt.timedelta(days=1)))
    return due


def push_reports(services: Services) -> int:
    """Job: from report_hour, push every due report's short text to the configured staff (once each)."""
    now = services.clock.now()
    cfg = services.settings.ops
    local = to_local(now)
    if not (cfg.report_hour <= local.hour < cfg.report_until_hour):
        return 0
    sent = 0
    with transaction(services.session_factory) as session:
        users = list(session.scalars(sa.select(User).where(
            User.active.is_(True), User.role.in_(cfg.report_roles)).order_by(User.id)))
        rendered: dict[tuple[str, dt.date, str, int, str], str] = {}
        built: dict[tuple[str, dt.date, str, int], Report] = {}
        for kind, day in due_reports(local.date()):
            start, _ = period_bounds(kind, day)
            for user in users:
                if user.role == "village" and user.village_id is not None:
                    key = (kind, day, "village", user.village_id)
                elif user.town_id is not None:
                    key = (kind, day, "town", user.town_id)
                else:
                    continue
                dedup = f"report:{kind}:{start.isoformat()}:{user.id}"
                if session.scalar(sa.select(OutboxMessage.id).where(OutboxMessage.dedup_key == dedup)):
                    continue  # already pushed: do not even build the report again
                if key not in built:
                    built[key] = build_report(session, kind=kind, day=day, now=now, **{f"{key[2]}_id": key[3]})
                recipient = recipient_for_user(user)
                if (*key, recipient.locale) not in rendered:
                    rendered[(*key, recipient.locale)] = render_text(built[key], recipient.locale)
                enqueue_message(
                    session, now=now, recipient=recipient, template=f"report.{kind}",
                    text=rendered[(*key, recipient.locale)], params={"kind": kind, "start": start.isoformat()},
                    priority=7,
                    dedup_key=dedup, village_id=user.village_id,
                )
                sent += 1
    return sent
