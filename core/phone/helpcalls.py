"""One-key call (一键呼叫): start a help call with a snapshot of the caregiver chain, cancel it, describe it.

The dialler (core/phone/dialler.py) walks the chain; this module only creates the call, keeps
one active call per household, and turns the call's state into the words the TV shows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.errors import InvalidTransition, NotFound
from core.i18n import N_
from core.models.helpcalls import HelpCall, HelpCallLeg
from core.models.places import Household
from core.people.audit import record_audit
from core.people.directory import caregiver_chain, courtyard_head, place_of_household, primary_resident

ENDED_STATUSES = ("failed", "cancelled")
CANCELLABLE_STATUSES = ("pending", "calling", "failed_round")
RINGING_LEGS = ("queued", "ringing")
REACHED_LEGS = ("answered", "accepted")
DRYRUN_NOTE = N_("演示模式：没有真的拨打电话")
DEFAULT_ACTIVE_MINUTES = 30


def snapshot_chain(session: Session, household_id: int, resident_id: int | None) -> list[dict[str, Any]]:
    """The people to call, in order: the resident's caregiver chain, else the 小院's 院长."""
    chain: list[dict[str, Any]] = []
    if resident_id is not None:
        for link in caregiver_chain(session, resident_id):
            chain.append({"position": link.position, "name": link.name, "phone": link.phone, "kind": link.kind,
                          "relation": link.relation, "user_id": link.user_id})
    if not chain:
        head = courtyard_head(session, household_id)
        if head is not None:
            chain.append({"position": 1, "name": head.display_name, "phone": head.phone, "kind": "courtyard_head",
                          "relation": "院长", "user_id": head.id})
    return chain


def active_help_call(session: Session, *, now: dt.datetime, household_id: int,
                     active_minutes: int = DEFAULT_ACTIVE_MINUTES) -> HelpCall | None:
    """The household's help call still in progress (not ended, not failed or cancelled, recent)."""
    return session.scalar(
        sa.select(HelpCall).where(
            HelpCall.household_id == household_id, HelpCall.status.not_in(ENDED_STATUSES),
            HelpCall.ended_at.is_(None), HelpCall.created_at >= now - dt.timedelta(minutes=active_minutes),
        ).order_by(HelpCall.id.desc())
    )


def start_help_call(
    session: Session, *, now: dt.datetime, household_id: int, source: str = "tv", actor: Any = None,
    dryrun: bool = False, active_minutes: int = DEFAULT_ACTIVE_MINUTES,
) -> HelpCall:
    """Start a help call for a household, or return the one already in progress (pressing again joins it).

    `dryrun` is True when the telephony provider places no real calls (the TV then says so).
    """
    # Serialise presses of one household (PostgreSQL row lock; SQLite's write lock covers it).
    household = session.scalar(
        sa.select(Household).where(Household.id == household_id).with_for_update(key_share=True)
    )
    if household is None:
        raise NotFound("找不到这一户 / household not found")
    existing = active_help_call(session, now=now, household_id=household_id, active_minutes=active_minutes)
    if existing is not None:
        return existing
    place = place_of_household(session, household_id)
    resident = primary_resident(session, household_id)
    call = HelpCall(
        household_id=household_id, resident_id=resident.id if resident else None, courtyard_id=place.courtyard_id,
        village_id=place.village_id, town_id=place.town_id, source=source, status="pending",
        chain=snapshot_chain(session, household_id, resident.id if resident else None), current_index=0, round=1,
        dryrun=dryrun, next_action_at=now, created_at=now, updated_at=now,
    )
    session.add(call)
    session.flush()
    record_audit(session, at=now, actor=actor, action="helpcall.start", entity_type="help_call", entity_id=call.id,
                 household_id=household_id, source=source)
    return call


def get_help_call_for_household(session: Session, household_id: int, help_call_id: int) -> HelpCall:
    """A help call of this household; NotFound for anyone else's."""
    call = session.scalar(sa.select(HelpCall).where(HelpCall.id == help_call_id,
                                                    HelpCall.household_id == household_id))
    if call is None:
        raise NotFound("找不到这次呼叫 / help call not found")
    return call


def cancel_help_call(session: Session, *, now: dt.datetime, help_call_id: int, actor: Any = None) -> HelpCall:
    """Cancel a help call nobody has accepted yet (the dialler stops dialling cancelled calls)."""
    call = session.get(HelpCall, help_call_id)
    if call is None:
        raise NotFound("找不到这次呼叫 / help call not found")
    if call.status == "cancelled":
        return call
    if call.status not in CANCELLABLE_STATUSES:
        raise InvalidTransition("已经有人接听，不能取消 / someone has already answered")
    call.status = "cancelled"
    call.ended_at = now
    call.updated_at = now
    call.next_action_at = None
    session.flush()
    record_audit(session, at=now, actor=actor, action="helpcall.cancel", entity_type="help_call", entity_id=call.id)
    return call


def _kind_at(chain: Sequence[dict[str, Any]], position: int) -> str:
    for entry in chain:
        if entry.get("position") == position:
            return str(entry.get("kind", ""))
    return ""


def describe_steps(
    *, status: str, legs: Sequence[Any], chain: Sequence[dict[str, Any]], reached_name: str | None,
) -> list[str]:
    """The steps of a help call in words for the TV, oldest first (pure: works on any leg-like objects)."""
    steps: list[str] = []
    if not legs and status in ("pending", "calling"):
        first = chain[0]["name"] if chain else "院长"
        steps.append(f"正在准备呼叫 {first}")
    ordered = sorted(legs, key=lambda leg: (leg.round, leg.id or 0))
    for index, leg in enumerate(ordered):
        later = index + 1 < len(ordered) or status in ("pending", "calling")
        is_head = _kind_at(chain, leg.position) == "courtyard_head"
        if leg.status in RINGING_LEGS:
            steps.append(f"正在呼叫 {leg.name}")
            if is_head:
                steps.append("已通知院长，请稍候")
        elif leg.status == "answered":
            # Picked up but no key pressed yet: a voicemail also "answers", so this is not reached.
            steps.append(f"{leg.name} 的电话接起了，正在确认")
        elif leg.status in REACHED_LEGS:
            steps.append(f"{leg.name} 已接听")
        elif later:
            steps.append(f"{leg.name} 无人接听，正在呼叫下一位")
        else:
            steps.append(f"{leg.name} 无人接听")
    if status == "reached":
        steps.append(f"{reached_name or '家人'} 已接听，正在为您接通")
    elif status == "bridged":
        steps.append("已接通")
    elif status == "failed_round":
        steps.append("已通知院长，请稍候")
    elif status == "failed":
        steps.append("暂时没有联系上，已给家人和院长发了消息")
    elif status == "cancelled":
        steps.append("已取消呼叫")
    if not steps:
        steps.append("正在呼叫")
    return steps


def help_call_status(session: Session, help_call_id: int) -> dict[str, Any]:
    """The TV's status view of a help call: status, the steps in Chinese, the current step, dry-run note."""
    call = session.get(HelpCall, help_call_id)
    if call is None:
        raise NotFound("找不到这次呼叫 / help call not found")
    legs = list(session.scalars(sa.select(HelpCallLeg).where(HelpCallLeg.help_call_id == call.id)
                                .order_by(HelpCallLeg.id)))
    steps = describe_steps(status=call.status, legs=legs, chain=call.chain or [], reached_name=call.reached_name)
    return {
        "id": call.id,
        "status": call.status,
        "active": call.status not in ENDED_STATUSES and call.ended_at is None,
        "cancellable": call.status in CANCELLABLE_STATUSES,
        "steps": steps,
        "current": steps[-1],
        "dryrun": bool(call.dryrun),
        "dryrun_note": DRYRUN_NOTE if call.dryrun else "",
        "chain": [entry.get("name", "") for entry in (call.chain or [])],
        "updated_at": call.updated_at.isoformat() if call.updated_at else None,
    }
