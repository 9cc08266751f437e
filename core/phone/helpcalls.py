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
from core.i18n import DEFAULT_LOCALE, N_, translate
from core.models.helpcalls import HelpCall, HelpCallLeg
from core.models.places import Household
from core.people.audit import record_audit
from core.people.directory import caregiver_chain, courtyard_head, place_of_household, primary_resident
from core.phone import texts

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
        raise NotFound(N_("找不到这一户"))
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
        raise NotFound(N_("找不到这次呼叫"))
    return call


def cancel_help_call(session: Session, *, now: dt.datetime, help_call_id: int, actor: Any = None) -> HelpCall:
    """Cancel a help call nobody has accepted yet (the dialler stops dialling cancelled calls)."""
    call = session.get(HelpCall, help_call_id)
    if call is None:
        raise NotFound(N_("找不到这次呼叫"))
    if call.status == "cancelled":
        return call
    if call.status not in CANCELLABLE_STATUSES:
        raise InvalidTransition(N_("已经有人接听，不能取消"))
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
    locale: str = DEFAULT_LOCALE,
) -> list[str]:
    """The steps of a help call in words for the TV in `locale`, oldest first (pure: any leg-like objects)."""

    def say(template: str, name: str = "") -> str:
        return translate(template, locale, name=name)

    steps: list[str] = []
    if not legs and status in ("pending", "calling"):
        first = chain[0]["name"] if chain else say(texts.HEAD)
        steps.append(say(texts.STEP_PREPARING, first))
    ordered = sorted(legs, key=lambda leg: (leg.round, leg.id or 0))
    for index, leg in enumerate(ordered):
        later = index + 1 < len(ordered) or status in ("pending", "calling")
        is_head = _kind_at(chain, leg.position) == "courtyard_head"
        if leg.status in RINGING_LEGS:
            steps.append(say(texts.STEP_RINGING, leg.name))
            if is_head:
                steps.append(say(texts.STEP_HEAD_TOLD))
        elif leg.status == "answered":
            # Picked up but no key pressed yet: a voicemail also "answers", so this is not reached.
            steps.append(say(texts.STEP_PICKED_UP, leg.name))
        elif leg.status in REACHED_LEGS:
            steps.append(say(texts.STEP_ANSWERED, leg.name))
        elif later:
            steps.append(say(texts.STEP_NO_ANSWER_NEXT, leg.name))
        else:
            steps.append(say(texts.STEP_NO_ANSWER, leg.name))
    if status == "reached":
        steps.append(say(texts.STEP_CONNECTING, reached_name or say(texts.FAMILY)))
    elif status == "bridged":
        steps.append(say(texts.STEP_BRIDGED))
    elif status == "failed_round":
        steps.append(say(texts.STEP_HEAD_TOLD))
    elif status == "failed":
        steps.append(say(texts.STEP_FAILED))
    elif status == "cancelled":
        steps.append(say(texts.STEP_CANCELLED))
    if not steps:
        steps.append(say(texts.STEP_CALLING))
    return steps


def help_call_status(session: Session, help_call_id: int, locale: str = DEFAULT_LOCALE) -> dict[str, Any]:
    """The TV's status view of a help call: status, the steps in `locale`, the current step, dry-run note."""
    call = session.get(HelpCall, help_call_id)
    if call is None:
        raise NotFound(N_("找不到这次呼叫"))
    legs = list(session.scalars(sa.select(HelpCallLeg).where(HelpCallLeg.help_call_id == call.id)
                                .order_by(HelpCallLeg.id)))
    steps = describe_steps(status=call.status, legs=legs, chain=call.chain or [], reached_name=call.reached_name,
                           locale=locale)
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
