"""One-key call (一键呼叫): start a help call with a snapshot of the caregiver chain, cancel it, describe it.

The dialler (core/phone/dialler.py) walks the chain; this module only creates the call, keeps
one active call per household, and turns the call's state into the words the TV shows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.errors import InvalidTransition, NotFound
from core.i18n import DEFAULT_LOCALE, N_, translate
from core.models.helpcalls import HelpCall, HelpCallLeg
from core.models.outbox import OutboxMessage
from core.models.places import Household, Resident
from core.notify.outbox import Recipient, enqueue_message, recipient_for_user
from core.people.audit import record_audit
from core.people.directory import caregiver_chain, courtyard_head, place_of_household, primary_resident
from core.people.villages import village_duty_phone
from core.phone import texts
from core.phones import try_normalise_phone

ENDED_STATUSES = ("failed", "cancelled", "told")
CANCELLABLE_STATUSES = ("pending", "calling", "failed_round")
RINGING_LEGS = ("queued", "ringing")
REACHED_LEGS = ("answered", "accepted")
DRYRUN_NOTE = N_("演示模式：没有真的拨打电话")
DEFAULT_ACTIVE_MINUTES = 30


@dataclass(frozen=True)
class StartLimit:
    """At most `starts` help calls per TV box within `window_s` seconds (a stuck key or a game is not help)."""

    starts: int = 3
    window_s: int = 600


def _entry_key(entry: dict[str, Any]) -> tuple[str, str]:
    """Who an entry is, for de-duplication: the number, else the staff account, else kind + name."""
    phone = try_normalise_phone(entry.get("phone"))
    if phone:
        return "phone", phone
    if entry.get("user_id"):
        return "user", str(entry["user_id"])
    return "name", f"{entry.get('kind', '')}:{entry.get('name', '')}"


def merge_chains(chains: Sequence[Sequence[dict[str, Any]]], tail: Sequence[dict[str, Any]] = ()
                 ) -> list[dict[str, Any]]:
    """One calling order from several members' chains (pure): everyone's first contact, then everyone's second,
    …, each person once (by number, account or name), then `tail`; positions renumbered 1..n."""
    merged: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    longest = max((len(chain) for chain in chains), default=0)
    candidates = [chain[i] for i in range(longest) for chain in chains if i < len(chain)]
    for entry in [*candidates, *tail]:
        keys = {_entry_key(entry)}
        if entry.get("user_id"):
            keys.add(("user", str(entry["user_id"])))
        duplicate = bool(keys & seen)
        seen |= keys  # a duplicate's other identities (its account, its number) are known from now on too
        if not duplicate:
            merged.append({**entry, "position": len(merged) + 1})
    return merged


def snapshot_chain(session: Session, household_id: int, resident_id: int | None) -> list[dict[str, Any]]:
    """The people to call, in order: every household member's caregiver chain merged (the member the call is
    for first), then the 小院's 院长, then the village duty phone — each person once."""
    members = list(session.scalars(
        sa.select(Resident.id).where(Resident.household_id == household_id, Resident.erased.is_(False))
        .order_by(Resident.id)))
    if resident_id in members:
        members.remove(resident_id)
        members.insert(0, resident_id)
    chains = [[{"position": link.position, "name": link.name, "phone": link.phone, "kind": link.kind,
                "relation": link.relation, "user_id": link.user_id} for link in caregiver_chain(session, member)]
              for member in members]
    tail: list[dict[str, Any]] = []
    head = courtyard_head(session, household_id)
    if head is not None:
        tail.append({"name": head.display_name, "phone": head.phone, "kind": "courtyard_head", "relation": "院长",
                     "user_id": head.id})
    duty = village_duty_phone(session, place_of_household(session, household_id).village_id)
    if duty:
        tail.append({"name": translate(texts.DUTY_PHONE), "phone": duty, "kind": "duty", "relation": "",
                     "user_id": None})
    return merge_chains(chains, tail)


def active_help_call(session: Session, *, now: dt.datetime, household_id: int,
                     active_minutes: int = DEFAULT_ACTIVE_MINUTES) -> HelpCall | None:
    """The household's help call still in progress (not ended, not failed or cancelled, recent)."""
    return session.scalar(
        sa.select(HelpCall).where(active_help_call_clause(household_id, now - dt.timedelta(minutes=active_minutes)))
        .order_by(HelpCall.id.desc())
    )


def active_help_call_clause(household_id: Any, since: Any) -> sa.ColumnElement[bool]:
    """A household's help call not ended and started at or after `since` (values or SQL expressions)."""
    return sa.and_(HelpCall.household_id == household_id, HelpCall.status.not_in(ENDED_STATUSES),
                   HelpCall.ended_at.is_(None), HelpCall.created_at >= since)


def _limited(session: Session, *, now: dt.datetime, box_id: int | None, limit: StartLimit) -> bool:
    """Whether this box already started `limit.starts` help calls within the window."""
    if box_id is None or limit.starts <= 0:
        return False
    started = session.scalar(sa.select(sa.func.count(HelpCall.id)).where(
        HelpCall.box_id == box_id, HelpCall.status != "told",
        HelpCall.created_at >= now - dt.timedelta(seconds=limit.window_s))) or 0
    return started >= limit.starts


def _tell_staff_instead(session: Session, *, now: dt.datetime, household_id: int, box_id: int | None,
                        source: str, limit: StartLimit) -> HelpCall:
    """Too many starts from one box: no more dialling; the 院长 and the duty phone are told once per window."""
    recent = session.scalar(sa.select(HelpCall).where(
        HelpCall.box_id == box_id, HelpCall.status == "told",
        HelpCall.created_at >= now - dt.timedelta(seconds=limit.window_s)).order_by(HelpCall.id.desc()))
    if recent is not None:
        return recent
    place = place_of_household(session, household_id)
    resident = primary_resident(session, household_id)
    call = HelpCall(household_id=household_id, resident_id=resident.id if resident else None, box_id=box_id,
                    courtyard_id=place.courtyard_id, village_id=place.village_id, town_id=place.town_id, source=source,
                    status="told", chain=[], current_index=0, round=1, created_at=now, updated_at=now, ended_at=now)
    session.add(call)
    session.flush()
    household = session.get(Household, household_id)
    recipients: list[Recipient] = []
    head = courtyard_head(session, household_id)
    if head is not None:
        recipients.append(recipient_for_user(head))
    duty = village_duty_phone(session, place.village_id)
    if duty and (head is None or try_normalise_phone(head.phone) != duty):
        recipients.append(Recipient(name=translate(texts.DUTY_PHONE), phone=duty))
    for index, recipient in enumerate(recipients):
        enqueue_message(session, now=now, recipient=recipient, template="helpcall.too_many",
                        text=translate(texts.TOO_MANY_STARTS, recipient.locale,
                                       household=household.name if household else "",
                                       resident=resident.name if resident else translate(texts.ELDER, recipient.locale),
                                       count=limit.starts + 1, minutes=limit.window_s // 60),
                        params={"help_call_id": call.id}, priority=0, subject=("help_call", call.id),
                        dedup_key=f"helpcall:{call.id}:too_many:{index}", village_id=place.village_id)
    record_audit(session, at=now, actor=None, action="helpcall.limited", entity_type="help_call", entity_id=call.id,
                 household_id=household_id, box_id=box_id)
    return call


def start_help_call(
    session: Session, *, now: dt.datetime, household_id: int, source: str = "tv", actor: Any = None,
    dryrun: bool = False, active_minutes: int = DEFAULT_ACTIVE_MINUTES, box_id: int | None = None,
    limit: StartLimit | None = None,
) -> HelpCall:
    """Start a help call for a household, or return the one already in progress (pressing again joins it).

    `dryrun` is True when the telephony provider places no real calls (the TV then says so). A TV box
    (`box_id`) may start at most `limit.starts` calls per `limit.window_s`; past that nobody is dialled, the
    院长 and the village duty phone are told, and the returned call has status "told" (the TV says so).
    """
    limit = limit or StartLimit()
    # Serialise presses of one household (PostgreSQL row lock; SQLite's write lock covers it).
    household = session.scalar(
        sa.select(Household).where(Household.id == household_id).with_for_update(key_share=True)
    )
    if household is None:
        raise NotFound(N_("找不到这一户"))
    existing = active_help_call(session, now=now, household_id=household_id, active_minutes=active_minutes)
    if existing is not None:
        return existing
    if _limited(session, now=now, box_id=box_id, limit=limit):
        return _tell_staff_instead(session, now=now, household_id=household_id, box_id=box_id, source=source,
                                   limit=limit)
    place = place_of_household(session, household_id)
    resident = primary_resident(session, household_id)
    call = HelpCall(
        household_id=household_id, resident_id=resident.id if resident else None, courtyard_id=place.courtyard_id,
        village_id=place.village_id, town_id=place.town_id, source=source, status="pending", box_id=box_id,
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


def _entry_at(chain: Sequence[dict[str, Any]], position: int) -> dict[str, Any]:
    for entry in chain:
        if entry.get("position") == position:
            return entry
    return {}


def _kind_at(chain: Sequence[dict[str, Any]], position: int) -> str:
    return str(_entry_at(chain, position).get("kind", ""))


def person_label(name: str, relation: str | None, locale: str = DEFAULT_LOCALE) -> str:
    """"王小明（儿子）", or the bare name when the relation adds nothing ("李院长", not "李院长（院长）") (pure)."""
    if not relation or relation in name:
        return name
    return translate(texts.NAME_WITH_RELATION, locale, name=name, relation=relation)


def describe_steps(
    *, status: str, legs: Sequence[Any], chain: Sequence[dict[str, Any]], reached_name: str | None,
    locale: str = DEFAULT_LOCALE, told: Sequence[str] = (), ended: bool = False,
) -> list[str]:
    """The steps of a help call in words for the TV in `locale`, oldest first (pure: any leg-like objects).

    Only what is true: the person ringing now (and "再打一次" when a later round rings them again),
    who did not answer, and after a round nobody answered, exactly who got a message (`told`).
    """

    def say(template: str, name: str = "", **extra: Any) -> str:
        return translate(template, locale, name=name, **extra)

    def label(leg: Any) -> str:
        return person_label(leg.name, _entry_at(chain, leg.position).get("relation"), locale)

    def round_failed(template_told: str, template_plain: str) -> str:
        if told:
            return say(template_told, names=translate(texts.NAMES_SEPARATOR, locale).join(told))
        return say(template_plain)

    steps: list[str] = []
    if not legs and status in ("pending", "calling"):
        first = person_label(chain[0]["name"], chain[0].get("relation"), locale) if chain else say(texts.HEAD)
        steps.append(say(texts.STEP_PREPARING, first))
    ordered = sorted(legs, key=lambda leg: (leg.round, leg.id or 0))
    for index, leg in enumerate(ordered):
        following = ordered[index + 1] if index + 1 < len(ordered) else None
        if leg.status in RINGING_LEGS:
            steps.append(say(texts.STEP_RINGING_AGAIN if leg.round > 1 else texts.STEP_RINGING, label(leg)))
        elif leg.status == "answered":
            # Picked up but no key pressed yet: a voicemail also "answers", so this is not reached.
            steps.append(say(texts.STEP_PICKED_UP, label(leg)))
        elif leg.status in REACHED_LEGS:
            steps.append(say(texts.STEP_ANSWERED, label(leg)))
        elif leg.status == "failed" and not getattr(leg, "phone", "unknown"):
            steps.append(say(texts.STEP_NO_NUMBER, label(leg)))
        elif following is not None and following.round == leg.round:
            steps.append(say(texts.STEP_NO_ANSWER_NEXT, label(leg)))
        else:
            steps.append(say(texts.STEP_NO_ANSWER, label(leg)))
        if following is not None and following.round > leg.round:
            steps.append(round_failed(texts.STEP_ROUND_FAILED_TOLD, texts.STEP_ROUND_FAILED))
    if status in ("reached", "bridged"):
        steps.append(say(texts.STEP_CONNECTING if status == "reached" else texts.STEP_BRIDGED,
                         reached_name or say(texts.FAMILY)))
        if ended:
            steps.append(say(texts.STEP_TALK_ENDED, reached_name or say(texts.FAMILY)))
    elif status == "failed_round":
        steps.append(round_failed(texts.STEP_ROUND_FAILED_TOLD, texts.STEP_ROUND_FAILED))
    elif status == "failed":
        steps.append(round_failed(texts.STEP_FAILED_TOLD, texts.STEP_FAILED))
    elif status == "cancelled":
        steps.append(say(texts.STEP_CANCELLED))
    elif status == "told":
        steps.append(say(texts.STEP_TOLD))
    if not steps:
        steps.append(say(texts.STEP_CALLING))
    return steps


def told_names(session: Session, help_call_id: int) -> list[str]:
    """Who really got a "nobody answered" message for this help call, in the order they were written."""
    names: list[str] = []
    for name in session.scalars(sa.select(OutboxMessage.recipient_name).where(
            OutboxMessage.subject_type == "help_call", OutboxMessage.subject_id == help_call_id,
            OutboxMessage.template == "helpcall.unanswered").order_by(OutboxMessage.id)):
        if name and name not in names:
            names.append(name)
    return names


def help_call_status(session: Session, help_call_id: int, locale: str = DEFAULT_LOCALE) -> dict[str, Any]:
    """The TV's status view of a help call: status, the steps in `locale`, the current step, dry-run note."""
    call = session.get(HelpCall, help_call_id)
    if call is None:
        raise NotFound(N_("找不到这次呼叫"))
    legs = list(session.scalars(sa.select(HelpCallLeg).where(HelpCallLeg.help_call_id == call.id)
                                .order_by(HelpCallLeg.id)))
    active = call.status not in ENDED_STATUSES and call.ended_at is None
    told = told_names(session, call.id) if call.status in ("failed_round", "failed") or call.round > 1 else []
    steps = describe_steps(status=call.status, legs=legs, chain=call.chain or [], reached_name=call.reached_name,
                           locale=locale, told=told, ended=not active)
    return {
        "id": call.id,
        "status": call.status,
        "active": active,
        "ended": not active,
        "cancellable": call.status in CANCELLABLE_STATUSES,
        "steps": steps,
        "current": steps[-1],
        "told": told,
        "dryrun": bool(call.dryrun),
        "dryrun_note": DRYRUN_NOTE if call.dryrun else "",
        "chain": [entry.get("name", "") for entry in (call.chain or [])],
        "updated_at": call.updated_at.isoformat() if call.updated_at else None,
    }
