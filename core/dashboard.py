"""What a staff member's dashboard shows first: the emergencies in their scope (active help calls, open
critical alerts, urgent and overdue requests), each with the phone numbers to ring, and a fingerprint
that changes whenever the list does (the page polls it to refresh itself)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.bands.alerts import TYPE_LABELS as ALERT_TYPE_LABELS
from core.bands.visibility import alert_scope
from core.clock import as_utc
from core.i18n import N_
from core.models.alerts import ACTIVE_STATUSES, Alert
from core.models.helpcalls import HelpCall
from core.models.places import CaregiverLink, Household, Resident
from core.models.requests import Request
from core.people.access import Viewer
from core.phone.visibility import help_call_scope
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


def _caregiver_ids(user: Viewer) -> sa.Select:
    return sa.select(CaregiverLink.resident_id).where(CaregiverLink.user_id == user.id)


def _help_scope(user: Viewer) -> Any:
    """Help calls the user may see; a caregiver sees those of the residents they care for."""
    if user.role == "caregiver":
        return HelpCall.resident_id.in_(_caregiver_ids(user))
    return help_call_scope(user)


def contacts_for(session: Session, resident_ids: set[int]) -> dict[int, tuple[list[Contact], list[Contact]]]:
    """Per resident: their own phone (else the household landline), and their caregiver chain's phones in order."""
    out: dict[int, tuple[list[Contact], list[Contact]]] = {rid: ([], []) for rid in resident_ids}
    if not resident_ids:
        return out
    rows = session.execute(
        sa.select(Resident.id, Resident.name, Resident.phone, Household.landline)
        .join(Household, Household.id == Resident.household_id).where(Resident.id.in_(resident_ids))
    ).all()
    for rid, name, phone, landline in rows:
        number = phone or landline
        if number:
            out[rid][0].append(Contact(name=name, relation="" if phone else N_("座机"), phone=number))
    links = session.scalars(sa.select(CaregiverLink).where(CaregiverLink.resident_id.in_(resident_ids))
                            .order_by(CaregiverLink.resident_id, CaregiverLink.position))
    for link in links:
        if link.phone:
            out[link.resident_id][1].append(Contact(name=link.name, relation=link.relation, phone=link.phone))
    return out


def _chain_contacts(chain: list[Any]) -> list[Contact]:
    return [Contact(name=str(step.get("name") or ""), relation=str(step.get("relation") or ""),
                    phone=str(step["phone"])) for step in chain or [] if isinstance(step, dict) and step.get("phone")]


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
    alerts = session.execute(
        sa.select(Alert, Resident.name).outerjoin(Resident, Resident.id == Alert.resident_id)
        .where(alert_scope(user), Alert.severity == "critical", Alert.status.in_(ACTIVE_STATUSES))
        .order_by(sa.case({"acknowledged": 1}, value=Alert.status, else_=0), Alert.raised_at.desc(), Alert.id.desc())
        .limit(LIMIT)).all()
    for alert, name in alerts:
        found.append(Emergency(
            kind="alert", id=alert.id, title=ALERT_TYPE_LABELS.get(alert.type, alert.type),
            state=ALERT_STATE_LABELS.get(alert.status, alert.status), state_params={},
            since=as_utc(alert.raised_at), resident_id=alert.resident_id, resident_name=name or "",
            summary=alert.summary or "", version=f"{alert.status}:{alert.level}"))
    requests = session.scalars(
        sa.select(Request).where(request_scope(user), Request.status.in_(OPEN_STATUSES),
                                 sa.or_(Request.urgent.is_(True), overdue_clause(now)))
        .order_by(Request.urgent.desc(), Request.due_at.asc(), Request.id).limit(LIMIT))
    for req in requests:
        overdue = req.due_at is not None and as_utc(req.due_at) < now
        state = "urgent_overdue" if req.urgent and overdue else ("urgent" if req.urgent else "overdue")
        found.append(Emergency(
            kind="request", id=req.id, title=TYPE_LABELS.get(req.type, req.type), state=REQUEST_STATE_LABELS[state],
            state_params={}, since=as_utc(req.due_at if overdue and req.due_at is not None else req.created_at),
            resident_id=req.resident_id, resident_name="", summary=(req.text or req.transcript or "")[:80],
            version=f"{req.status}:{state}"))
    ids = {e.resident_id for e in found if e.resident_id is not None}
    names = dict(session.execute(sa.select(Resident.id, Resident.name).where(Resident.id.in_(ids))).all())
    contacts = contacts_for(session, ids)
    for item in found:
        own, carers = contacts.get(item.resident_id, ([], [])) if item.resident_id is not None else ([], [])
        item.resident_name = item.resident_name or names.get(item.resident_id or 0, "")
        # The resident first, then a help call's chain snapshot (who is being rung), then the current chain.
        seen: set[str] = set()
        merged = []
        for contact in [*own, *item.contacts, *carers]:
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
