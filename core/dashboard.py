"""What a staff member's dashboard shows: first the emergencies in their scope (active help calls, open
critical alerts, urgent and overdue requests), each with the phone numbers to ring, and a fingerprint
that changes whenever the list does (the page polls it to refresh itself); then the daily trends its
charts draw (requests opened / resolved, overdue stock, alerts and time to acknowledge, check-in rate),
counted with the definitions of core.requests.reports."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.bands.alerts import TYPE_LABELS as ALERT_TYPE_LABELS
from core.bands.visibility import alert_scope
from core.clock import as_utc, to_local
from core.i18n import N_
from core.models.alerts import ACTIVE_STATUSES, Alert
from core.models.checkins import CheckIn
from core.models.helpcalls import HelpCall
from core.models.places import CaregiverLink, Household, Resident
from core.models.requests import Request, RequestEvent
from core.people.access import Viewer, cared_resident_ids, scoped_households
from core.phone.visibility import help_call_scope
from core.requests.reports import local_midnight_utc, median_p90, overdue_open_at
from core.requests.visibility import request_scope
from core.requests.workorders import OPEN_STATUSES, TYPE_LABELS, overdue_clause

# A help call is an emergency while the dialler still works on it, and for a while after nobody answered.
ACTIVE_HELP_STATUSES = ("pending", "calling", "failed_round")
FAILED_HELP_SHOWN_FOR = dt.timedelta(hours=12)
HELP_STATE_LABELS = {"pending": N_("准备呼叫"), "calling": N_("正在呼叫 %(name)s"),
                     "failed_round": N_("本轮无人接听，稍后重拨"), "failed": N_("无人接听，请立即联系")}
ALERT_STATE_LABELS = {"open": N_("待通知"), "notified": N_("已通知，等待确认"), "acknowledged": N_("已确认，处理中")}
REQUEST_STATE_LABELS = {"urgent": N_("紧急工单"), "overdue": N_("已超期"), "urgent_overdue": N_("紧急，已超期")}
KIND_LABELS = {"help_call": N_("一键呼叫"), "alert": N_("手环告警"), "request": N_("工单")}
LIMIT = 30
REQUEST_LIMIT = 10  # a phone shows the ten most pressing requests; the rest are one link away


@dataclass(frozen=True)
class Contact:
    """A number to ring about an emergency: the resident (or household landline) or a caregiver."""

    name: str
    relation: str  # msgid or free text ("儿子"); empty for the resident
    phone: str


@dataclass
class Emergency:
    """One row of the dashboard's emergency list."""

    kind: str  # help_call / alert / request
    id: int
    title: str  # msgid (translated when rendered)
    state: str  # msgid
    state_params: dict[str, Any]
    since: dt.datetime
    resident_id: int | None
    resident_name: str
    summary: str  # free text typed or generated elsewhere, shown as is
    contacts: list[Contact] = field(default_factory=list)
    version: str = ""


def _help_scope(user: Viewer) -> Any:
    """Help calls the user may see; a caregiver sees those of the residents they care for."""
    if user.role == "caregiver":
        return HelpCall.resident_id.in_(cared_resident_ids(user))
    return help_call_scope(user)


@dataclass(frozen=True)
class Reachable:
    """A resident's name and the numbers to ring about them: their own, then their caregiver chain's."""

    name: str
    own: list[Contact] = field(default_factory=list)
    carers: list[Contact] = field(default_factory=list)


def contacts_for(session: Session, resident_ids: set[int]) -> dict[int, Reachable]:
    """Per resident: their name, own phone (else the household landline) and caregiver chain's phones in order."""
    if not resident_ids:
        return {}
    rows = session.execute(
        sa.select(Resident.id, Resident.name, Resident.phone, Household.landline)
        .join(Household, Household.id == Resident.household_id).where(Resident.id.in_(resident_ids))
    ).all()
    out: dict[int, Reachable] = {}
    for rid, name, phone, landline in rows:
        number = phone or landline
        own = [Contact(name=name, relation="" if phone else N_("座机"), phone=number)] if number else []
        out[rid] = Reachable(name=name, own=own)
    links = session.scalars(sa.select(CaregiverLink).where(CaregiverLink.resident_id.in_(resident_ids))
                            .order_by(CaregiverLink.resident_id, CaregiverLink.position))
    for link in links:
        if link.phone and link.resident_id in out:
            out[link.resident_id].carers.append(Contact(name=link.name, relation=link.relation, phone=link.phone))
    return out


def _chain_contacts(chain: list[Any]) -> list[Contact]:
    return [Contact(name=str(step.get("name") or ""), relation=str(step.get("relation") or ""),
                    phone=str(step["phone"])) for step in chain or [] if isinstance(step, dict) and step.get("phone")]


def pressing_requests(user: Viewer, now: dt.datetime) -> tuple[Any, ...]:
    """Where-clauses of the user's open requests that are urgent or overdue."""
    return (request_scope(user), Request.status.in_(OPEN_STATUSES),
            sa.or_(Request.urgent.is_(True), overdue_clause(now)))


def count_pressing_requests(session: Session, user: Viewer, now: dt.datetime) -> int:
    """How many of the user's open requests are urgent or overdue (the list shows REQUEST_LIMIT of them)."""
    return session.scalar(sa.select(sa.func.count(Request.id)).where(*pressing_requests(user, now))) or 0


def emergencies(session: Session, user: Viewer, now: dt.datetime) -> list[Emergency]:
    """The user's emergencies, most pressing first: help calls, critical alerts, then urgent / overdue requests."""
    found: list[Emergency] = []
    calls = session.scalars(
        sa.select(HelpCall).where(_help_scope(user), sa.or_(
            HelpCall.status.in_(ACTIVE_HELP_STATUSES),
            sa.and_(HelpCall.status == "failed", HelpCall.updated_at >= now - FAILED_HELP_SHOWN_FOR),
        )).order_by(HelpCall.created_at.desc(), HelpCall.id.desc()).limit(LIMIT))
    for call in calls:
        chain = list(call.chain or [])
        ringing = chain[call.current_index] if 0 <= call.current_index < len(chain) else {}
        found.append(Emergency(
            kind="help_call", id=call.id, title=KIND_LABELS["help_call"], state=HELP_STATE_LABELS[call.status],
            state_params={"name": (ringing or {}).get("name") or ""}, since=as_utc(call.created_at),
            resident_id=call.resident_id, resident_name="", summary="", contacts=_chain_contacts(chain),
            version=f"{call.status}:{call.current_index}:{call.round}"))
    alerts = session.scalars(
        sa.select(Alert)
        .where(alert_scope(user), Alert.severity == "critical", Alert.status.in_(ACTIVE_STATUSES))
        .order_by(sa.case({"acknowledged": 1}, value=Alert.status, else_=0), Alert.raised_at.desc(), Alert.id.desc())
        .limit(LIMIT))
    for alert in alerts:
        found.append(Emergency(
            kind="alert", id=alert.id, title=ALERT_TYPE_LABELS.get(alert.type, alert.type),
            state=ALERT_STATE_LABELS.get(alert.status, alert.status), state_params={},
            since=as_utc(alert.raised_at), resident_id=alert.resident_id, resident_name="",
            summary=alert.summary or "", version=f"{alert.status}:{alert.level}"))
    requests = session.scalars(
        sa.select(Request).where(*pressing_requests(user, now))
        .order_by(Request.urgent.desc(), Request.due_at.asc(), Request.id).limit(REQUEST_LIMIT))
    for req in requests:
        overdue = req.due_at is not None and as_utc(req.due_at) < now
        state = "urgent_overdue" if req.urgent and overdue else ("urgent" if req.urgent else "overdue")
        found.append(Emergency(
            kind="request", id=req.id, title=TYPE_LABELS.get(req.type, req.type), state=REQUEST_STATE_LABELS[state],
            state_params={}, since=as_utc(req.due_at if overdue and req.due_at is not None else req.created_at),
            resident_id=req.resident_id, resident_name="", summary=(req.text or req.transcript or "")[:80],
            version=f"{req.status}:{state}"))
    ids = {e.resident_id for e in found if e.resident_id is not None}
    reachable = contacts_for(session, ids)
    for item in found:
        reach = reachable.get(item.resident_id or 0) or Reachable(name="")
        item.resident_name = reach.name
        # The resident first, then a help call's chain snapshot (who is being rung), then the current chain.
        seen: set[str] = set()
        merged = []
        for contact in [*reach.own, *item.contacts, *reach.carers]:
            if contact.phone not in seen:
                seen.add(contact.phone)
                merged.append(contact)
        item.contacts = merged
    return found


def emergencies_version(items: list[Emergency]) -> str:
    """A short fingerprint of the emergency list: the page reloads the list when it changes."""
    digest = hashlib.sha1(usedforsecurity=False)
    for item in items:
        digest.update(f"{item.kind}:{item.id}:{item.version};".encode())
    return digest.hexdigest()[:16]


TREND_DAYS = 14


@dataclass(frozen=True)
class DayFigures:
    """One local day of the dashboard's trends (None where there is nothing to measure)."""

    day: dt.date
    opened: int
    resolved: int
    overdue_open: int  # open past due at the end of the day (or now, for today)
    alerts: int
    ack_minutes_median: float | None
    checkin_rate: float | None  # households that checked in / households in scope


def daily_trends(session: Session, user: Viewer, now: dt.datetime, days: int = TREND_DAYS) -> list[DayFigures]:
    """The last `days` local days up to today in the user's scope, oldest first."""
    today = to_local(now).date()
    day_list = [today - dt.timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    start = local_midnight_utc(day_list[0])

    def local_day(value: dt.datetime) -> dt.date:
        return to_local(as_utc(value)).date()

    scope = request_scope(user)
    opened: dict[dt.date, int] = {}
    for (created,) in session.execute(sa.select(Request.created_at).where(scope, Request.created_at >= start)):
        opened[local_day(created)] = opened.get(local_day(created), 0) + 1
    resolved: dict[dt.date, int] = {}
    rows = session.execute(
        sa.select(RequestEvent.request_id, RequestEvent.at).join(Request, RequestEvent.request_id == Request.id)
        .where(scope, RequestEvent.action == "resolved", RequestEvent.at >= start))
    seen: set[tuple[int, dt.date]] = set()
    for request_id, at in rows:
        key = (request_id, local_day(at))
        if key not in seen:  # once per request and local day, as the reports count
            seen.add(key)
            resolved[key[1]] = resolved.get(key[1], 0) + 1
    alerts: dict[dt.date, list[tuple[dt.datetime, dt.datetime | None]]] = {}
    for raised, acked in session.execute(sa.select(Alert.raised_at, Alert.acknowledged_at)
                                         .where(alert_scope(user), Alert.raised_at >= start)):
        alerts.setdefault(local_day(raised), []).append((as_utc(raised), as_utc(acked) if acked else None))
    household_ids = scoped_households(user).with_only_columns(Household.id)
    households = session.scalar(sa.select(sa.func.count()).select_from(household_ids.subquery())) or 0
    checked = dict(session.execute(
        sa.select(CheckIn.local_date, sa.func.count(CheckIn.id))
        .where(CheckIn.household_id.in_(household_ids), CheckIn.local_date >= day_list[0])
        .group_by(CheckIn.local_date)).all())
    # The 超期 stock at the end of each day (now, for today), all days in one query: a small table of the
    # days' ends, each request checked against each end. A request closed before the window and untouched
    # since (every status change sets updated_at) was never open in it: only the rest need the check.
    may_be_open = sa.and_(scope, sa.or_(Request.status.in_(OPEN_STATUSES), Request.updated_at >= start))
    day_ends = [min(now, local_midnight_utc(day + dt.timedelta(days=1))) for day in day_list]
    ends = sa.union_all(*(sa.select(sa.literal(index).label("day"), sa.literal(end, Request.created_at.type)
                                    .label("end_at")) for index, end in enumerate(day_ends))).subquery("day_ends")
    stock = dict(session.execute(
        overdue_open_at(may_be_open, ends.c.end_at).with_only_columns(ends.c.day, sa.func.count(Request.id))
        .group_by(ends.c.day)).all())
    out = []
    for index, day in enumerate(day_list):
        waits = [(acked - raised).total_seconds() / 60 for raised, acked in alerts.get(day, []) if acked]
        median, _ = median_p90(waits)
        out.append(DayFigures(
            day=day, opened=opened.get(day, 0), resolved=resolved.get(day, 0), overdue_open=stock.get(index, 0),
            alerts=len(alerts.get(day, [])), ack_minutes_median=None if median is None else round(median, 1),
            checkin_rate=round(checked.get(day, 0) / households, 4) if households else None))
    return out
