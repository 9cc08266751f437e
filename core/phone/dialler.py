"""The one-key-call dialler (一键呼叫): walks a help call's caregiver chain, one leg at a time.

State lives in HelpCall / HelpCallLeg. Status callbacks and keypresses (voice webhooks) update legs
through the functions below; `advance_help_call` decides what is due next (dial, give up, retry)
and `sweep_help_calls` advances calls whose callback never came, so a restart loses nothing.
Only a keypress counts as reaching someone: voicemail completes calls too.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.clock import as_utc
from core.container import Services
from core.db import transaction
from core.i18n import DEFAULT_LOCALE, translate
from core.models.calls import CallLog
from core.models.helpcalls import HelpCall, HelpCallLeg
from core.models.places import Household, Resident
from core.notify.outbox import Recipient, enqueue_message, recipient_for_user
from core.people.directory import courtyard_head
from core.phone import texts
from core.phone.telephony.port import TelephonyError
from core.phones import mask_phone, try_normalise_phone

log = logging.getLogger(__name__)
ACTIVE_LEGS = ("queued", "ringing", "answered")
FAILED_LEGS = ("no_answer", "busy", "failed", "declined", "completed")
OPEN_CALLS = ("pending", "calling", "failed_round")
ANSWER_PATH = "/voice/twilio/help/answer"
STATUS_PATH = "/voice/twilio/help/status"
_PROVIDER_STATUS = {"busy": "busy", "no-answer": "no_answer", "failed": "failed", "canceled": "failed"}
SOURCE_CHANNELS = {"tv": "tv", "phone": "phone", "console": "console", "wristband": "wristband"}


@dataclass(frozen=True)
class DialerSettings:
    """How the dialler behaves (from [telephony] and [voice])."""

    ring_timeout_s: int
    callback_grace_s: int
    answer_keypress_s: int
    rounds: int
    retry_delay_s: int
    machine_detection: bool

    @classmethod
    def from_settings(cls, settings: Any) -> DialerSettings:
        """Read the [telephony] ring timeout and the [voice] help-call settings."""
        voice = settings.voice
        return cls(ring_timeout_s=settings.telephony.ring_timeout_s, callback_grace_s=voice.callback_grace_s,
                   answer_keypress_s=voice.answer_keypress_s, rounds=voice.help_call_rounds,
                   retry_delay_s=voice.help_call_retry_delay_s, machine_detection=voice.help_call_machine_detection)


@dataclass(frozen=True)
class _Dial:
    leg_id: int
    help_call_id: int
    to: str


def _lock_call(session: Session, help_call_id: int) -> HelpCall | None:
    return session.scalar(sa.select(HelpCall).where(HelpCall.id == help_call_id).with_for_update())


def _current_leg(session: Session, call: HelpCall) -> HelpCallLeg | None:
    chain = call.chain or []
    if call.current_index >= len(chain):
        return None
    position = chain[call.current_index].get("position", call.current_index + 1)
    return session.scalar(
        sa.select(HelpCallLeg).where(HelpCallLeg.help_call_id == call.id, HelpCallLeg.round == call.round,
                                     HelpCallLeg.position == position).order_by(HelpCallLeg.id.desc())
    )


def _active_legs(session: Session, call: HelpCall) -> list[HelpCallLeg]:
    return list(session.scalars(sa.select(HelpCallLeg).where(HelpCallLeg.help_call_id == call.id,
                                                             HelpCallLeg.status.in_(ACTIVE_LEGS))))


def _who(session: Session, call: HelpCall, locale: str = DEFAULT_LOCALE) -> tuple[str, str]:
    household = session.get(Household, call.household_id)
    resident = session.get(Resident, call.resident_id) if call.resident_id else None
    return (household.name if household else ""), (resident.name if resident else translate(texts.ELDER, locale))


def _notify_chain_failed(session: Session, services: Services, call: HelpCall, now: dt.datetime) -> None:
    """Messages to every contact (and the 院长), plus an urgent request on the first failed round."""

    def text(locale: str) -> str:
        household_name, resident_name = _who(session, call, locale)
        return translate(texts.UNANSWERED_MESSAGE, locale, household=household_name, resident=resident_name,
                         round=call.round)

    from core.models.staff import User

    recipients: list[Recipient] = []
    seen_users: set[int] = set()
    for entry in call.chain or []:
        user = session.get(User, entry["user_id"]) if entry.get("user_id") else None
        if user is not None:
            seen_users.add(user.id)
            base = recipient_for_user(user)
            recipients.append(Recipient(name=entry.get("name") or base.name, phone=base.phone or entry.get("phone"),
                                        channels=base.channels, user_id=base.user_id, locale=base.locale))
        elif entry.get("phone"):
            recipients.append(Recipient(name=entry.get("name", ""), phone=entry.get("phone")))
    head = courtyard_head(session, call.household_id)
    if head is not None and head.id not in seen_users:
        recipients.append(recipient_for_user(head))
    for index, recipient in enumerate(recipients):
        enqueue_message(session, now=now, recipient=recipient, template="helpcall.unanswered",
                        text=text(recipient.locale), params={"help_call_id": call.id, "round": call.round}, priority=0,
                        dedup_key=f"helpcall:{call.id}:round:{call.round}:{index}", subject=("help_call", call.id),
                        village_id=call.village_id)
    if call.round == 1 and call.source != "phone":  # the phone line filed its urgent request when asked
        from core.requests.workorders import submit_request

        household_name, resident_name = _who(session, call)
        submit_request(
            session, now=now, due_hours=services.settings.requests.due_hours, resident_id=call.resident_id,
            household_id=call.household_id, type="help", channel=SOURCE_CHANNELS.get(call.source, "tv"),
            text=translate(texts.UNANSWERED_REQUEST, household=household_name, resident=resident_name), urgent=True,
            details={"help_call_id": call.id}, system_label=translate(texts.UNANSWERED_REQUEST_LABEL),
        )


def _plan(session: Session, services: Services, call: HelpCall, now: dt.datetime, cfg: DialerSettings,
          hangups: list[str]) -> _Dial | None:
    """Decide the next thing to do for one locked help call (mutates it); return a leg to dial, if any."""
    if call.status == "cancelled":
        for active in _active_legs(session, call):
            active.status, active.ended_at = "completed", now
            if active.provider_call_id:
                hangups.append(active.provider_call_id)
        return None
    if call.status not in OPEN_CALLS:
        return None
    if call.status == "pending":
        call.status = "calling"
        if services.telephony is not None:
            call.dryrun = bool(services.telephony.is_dryrun)
    elif call.status == "failed_round":
        if call.next_action_at is not None and as_utc(call.next_action_at) > now:
            return None
        call.round += 1
        call.current_index = 0
        call.status = "calling"
    else:
        leg = _current_leg(session, call)
        if leg is not None:
            if leg.status in ACTIVE_LEGS:
                if as_utc(leg.deadline_at) > now:
                    call.next_action_at = leg.deadline_at
                    return None
                leg.status, leg.ended_at = ("declined" if leg.status == "answered" else "no_answer"), now
                if leg.provider_call_id:
                    hangups.append(leg.provider_call_id)
            elif leg.status == "accepted":
                call.status = "reached"
                return None
            call.current_index += 1  # this leg failed: the next person
    call.updated_at = now
    chain = call.chain or []
    while call.current_index < len(chain):
        entry = chain[call.current_index]
        phone = try_normalise_phone(entry.get("phone"))
        leg = HelpCallLeg(help_call_id=call.id, position=entry.get("position", call.current_index + 1),
                          round=call.round, name=str(entry.get("name", ""))[:80], phone=phone, status="queued",
                          started_at=now,
                          deadline_at=now + dt.timedelta(seconds=cfg.ring_timeout_s + cfg.callback_grace_s))
        session.add(leg)
        if phone is None or services.telephony is None:
            leg.status, leg.ended_at = "failed", now
            call.current_index += 1
            continue
        session.flush()
        call.next_action_at = leg.deadline_at
        return _Dial(leg.id, call.id, phone)
    # Nobody in the chain was reached this round.
    _notify_chain_failed(session, services, call, now)
    if call.round < cfg.rounds:
        call.status = "failed_round"
        call.next_action_at = now + dt.timedelta(seconds=cfg.retry_delay_s)
    else:
        call.status = "failed"
        call.ended_at = now
        call.next_action_at = None
    log.info("help call %s: chain failed in round %s -> %s", call.id, call.round, call.status)
    return None


def _place(services: Services, dial: _Dial, cfg: DialerSettings) -> bool:
    """Place one leg's call; False when the provider refused (the leg is then failed)."""
    base = services.settings.public_base_url
    telephony = services.telephony
    try:
        sid = telephony.place_call(
            dial.to, telephony.from_number, f"{base}{ANSWER_PATH}?leg={dial.leg_id}",
            f"{base}{STATUS_PATH}?leg={dial.leg_id}", cfg.ring_timeout_s, idempotency_key=f"helpcall-leg-{dial.leg_id}",
            machine_detection=cfg.machine_detection,
        )
    except TelephonyError as exc:
        log.warning("help call %s: dialling %s failed: %s", dial.help_call_id, mask_phone(dial.to), exc)
        with transaction(services.session_factory) as session:
            leg = session.get_one(HelpCallLeg, dial.leg_id)
            if leg.status in ACTIVE_LEGS:
                leg.status, leg.ended_at = "failed", services.clock.now()
        return False
    with transaction(services.session_factory) as session:
        leg = session.get_one(HelpCallLeg, dial.leg_id)
        leg.provider_call_id = sid
        if leg.status == "queued":
            leg.status = "ringing"
        if telephony.is_dryrun and getattr(telephony, "demo_answer", False):
            # Demo only (telephony.demo_answer): pretend the person pressed 1.
            _accept(session, services.clock.now(), leg, digits="1")
    log.info("help call %s: leg %s ringing %s", dial.help_call_id, dial.leg_id, mask_phone(dial.to))
    return True


def _hang_up(services: Services, call_ids: list[str]) -> None:
    for call_id in call_ids:
        try:
            services.telephony.hangup(call_id)
        except (TelephonyError, AttributeError) as exc:
            log.warning("hang-up of %s failed: %s", call_id, exc)


def advance_help_call(services: Services, help_call_id: int) -> None:
    """Do whatever is due for one help call now (dial the next leg, give up, retry); idempotent."""
    cfg = DialerSettings.from_settings(services.settings)
    for _ in range(64):  # each pass dials one leg; a refused dial moves on to the next
        hangups: list[str] = []
        with transaction(services.session_factory) as session:
            call = _lock_call(session, help_call_id)
            if call is None:
                return
            dial = _plan(session, services, call, services.clock.now(), cfg, hangups)
        _hang_up(services, hangups)
        if dial is None or _place(services, dial, cfg):
            return


def sweep_help_calls(services: Services) -> None:
    """Advance every help call whose next action is due (legs whose callback never came, retries)."""
    now = services.clock.now()
    with services.session_factory() as session:
        due = list(session.scalars(
            sa.select(HelpCall.id).where(HelpCall.status.in_(OPEN_CALLS),
                                         sa.or_(HelpCall.next_action_at.is_(None), HelpCall.next_action_at <= now))
            .order_by(HelpCall.id)
        ))
    for help_call_id in due:
        try:
            advance_help_call(services, help_call_id)
        except Exception:
            log.exception("sweep: help call %s failed to advance", help_call_id)


# --- what the voice webhooks report -------------------------------------------------------------------------


@dataclass(frozen=True)
class LegView:
    """What a webhook needs to talk to the person on a leg."""

    leg_id: int
    help_call_id: int
    household_name: str
    resident_name: str
    resident_phone: str | None
    call_status: str
    leg_status: str


def leg_view(session: Session, leg_id: int) -> LegView | None:
    """The leg, its help call and who is asking for help."""
    leg = session.get(HelpCallLeg, leg_id)
    if leg is None:
        return None
    call = session.get_one(HelpCall, leg.help_call_id)
    household_name, resident_name = _who(session, call)
    resident = session.get(Resident, call.resident_id) if call.resident_id else None
    household = session.get(Household, call.household_id)
    phone = (resident.phone if resident and resident.phone else None) or (household.landline if household else None)
    if call.source == "phone":
        # Asked for on the phone line: put the caregiver through to the phone the elder called from.
        phone = session.scalar(sa.select(CallLog.caller).where(CallLog.help_call_id == call.id,
                                                               CallLog.caller.is_not(None))
                               .order_by(CallLog.id)) or phone
    return LegView(leg.id, call.id, household_name, resident_name, try_normalise_phone(phone), call.status, leg.status)


def record_leg_status(session: Session, *, now: dt.datetime, leg_id: int, provider_status: str,
                      answer_keypress_s: int = 45) -> bool:
    """Apply a provider status callback to a leg; True when the help call should move on.

    Ended legs stay ended, so repeated and out-of-order callbacks are harmless.
    """
    leg = session.scalar(sa.select(HelpCallLeg).where(HelpCallLeg.id == leg_id).with_for_update())
    if leg is None:
        return False
    if leg.status in ACTIVE_LEGS:
        if provider_status == "ringing" and leg.status == "queued":
            leg.status = "ringing"
        elif provider_status in ("in-progress", "answered") and leg.status != "answered":
            leg.status = "answered"
            leg.deadline_at = now + dt.timedelta(seconds=answer_keypress_s)  # time to hear the message and press 1
        elif provider_status == "completed":
            leg.status = "declined" if leg.status == "answered" else "completed"
            leg.ended_at = now
        elif provider_status in _PROVIDER_STATUS:
            leg.status = _PROVIDER_STATUS[provider_status]
            leg.ended_at = now
    elif provider_status == "completed" and leg.ended_at is None:
        leg.ended_at = now
    if leg.status not in FAILED_LEGS:
        return False
    return session.get_one(HelpCall, leg.help_call_id).status == "calling"


SPOKEN_CHARS_PER_S = 3.5  # Chinese prompts as the TTS speaks them to elders (slowly)
KEYPRESS_GRACE_S = 10


def keypress_deadline_s(prompt: str, *, repeat: int, timeout_s: int) -> int:
    """Seconds a person who picked up needs to hear the whole prompt (every repeat) and press 1 (pure)."""
    spoken = len("".join(prompt.split())) / SPOKEN_CHARS_PER_S
    return int(max(1, repeat) * (spoken + timeout_s) + KEYPRESS_GRACE_S + 0.999)


def leg_answered(session: Session, *, now: dt.datetime, leg_id: int, answer_keypress_s: int = 45) -> LegView | None:
    """The leg's call was picked up (by a person or a voicemail: only a keypress will count).

    The leg's deadline becomes at least `answer_keypress_s` from now, even when the status callback already
    set a shorter one, so the dialler never moves on while the prompt is still being played.
    """
    record_leg_status(session, now=now, leg_id=leg_id, provider_status="in-progress",
                      answer_keypress_s=answer_keypress_s)
    leg = session.get(HelpCallLeg, leg_id)
    if leg is not None and leg.status == "answered":
        wanted = now + dt.timedelta(seconds=answer_keypress_s)
        if as_utc(leg.deadline_at) < wanted:
            leg.deadline_at = wanted
            call = session.get(HelpCall, leg.help_call_id)
            if call is not None and call.next_action_at is not None and as_utc(call.next_action_at) < wanted:
                call.next_action_at = wanted
    return leg_view(session, leg_id)


def leg_machine(session: Session, *, now: dt.datetime, leg_id: int) -> bool:
    """Answering-machine detection says a machine took the leg: it counts as not answered; True to move on."""
    leg = session.scalar(sa.select(HelpCallLeg).where(HelpCallLeg.id == leg_id).with_for_update())
    if leg is None or leg.status not in ACTIVE_LEGS:
        return False
    leg.status, leg.ended_at = "declined", now
    call = session.get(HelpCall, leg.help_call_id)
    return call is not None and call.status == "calling"


def _accept(session: Session, now: dt.datetime, leg: HelpCallLeg, digits: str) -> HelpCall:
    call = session.get_one(HelpCall, leg.help_call_id)
    leg.status, leg.digits = "accepted", digits[:10]
    if call.status in OPEN_CALLS:
        call.status = "reached"
        call.reached_name = leg.name
        call.next_action_at = None
        call.updated_at = now
    return call


def leg_pressed(session: Session, *, now: dt.datetime, leg_id: int, digits: str) -> tuple[str, LegView | None,
                                                                                           list[str]]:
    """A key on a leg: "accepted" (bridge or ask to visit), "taken" (someone else already did), "again".

    Returns the outcome, the leg view and provider call ids of other ringing legs to hang up.
    """
    leg = session.scalar(sa.select(HelpCallLeg).where(HelpCallLeg.id == leg_id).with_for_update())
    if leg is None:
        return "again", None, []
    call = session.scalars(sa.select(HelpCall).where(HelpCall.id == leg.help_call_id).with_for_update()).one()
    if digits[:1] != "1":
        return "again", leg_view(session, leg_id), []
    if call.status in ("reached", "bridged") and leg.status != "accepted":
        return "taken", leg_view(session, leg_id), []
    if call.status == "cancelled":
        return "taken", leg_view(session, leg_id), []
    _accept(session, now, leg, digits)
    others = [other for other in _active_legs(session, call) if other.id != leg.id]
    for other in others:
        other.status, other.ended_at = "completed", now
    return "accepted", leg_view(session, leg_id), [o.provider_call_id for o in others if o.provider_call_id]


def mark_bridged(session: Session, *, now: dt.datetime, leg_id: int) -> None:
    """The resident's phone answered the bridge: the help call is connected (已接通)."""
    leg = session.get(HelpCallLeg, leg_id)
    if leg is None:
        return
    call = session.get_one(HelpCall, leg.help_call_id)
    if call.status in ("reached", "bridged"):
        call.status = "bridged"
        call.updated_at = now


def finish_help_call(session: Session, *, now: dt.datetime, leg_id: int) -> None:
    """The accepted leg's call ended: the help call is over."""
    leg = session.get(HelpCallLeg, leg_id)
    if leg is None or leg.status != "accepted":
        return
    call = session.get_one(HelpCall, leg.help_call_id)
    if call.status in ("reached", "bridged") and call.ended_at is None:
        call.ended_at = now
        call.updated_at = now
