"""Alert escalation: plan the levels (pure), tell one level through the outbox, and sweep what is due.

The plan is a snapshot stored on the alert: ordered levels built from the resident's caregiver
chain (`ring_at_once` people per level), then staff (院长, village), then the town 指挥中心. A band
given to nobody goes to the staff of its site's village. Each level has a timeout, which only
covers a call whose end is never reported: when every call of the current level ends unanswered
(no answer, busy, failed, a machine), the next level is told at once (`call_ended`). The chain
repeats `repeat` times. The sweep acts on whatever is due according to the database, in one
transaction per alert, so a restarted or stopped worker loses nothing and tells nobody twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.bands import texts
from core.bands.config import PolicySettings
from core.clock import to_local
from core.container import Services
from core.db import rows_changed
from core.i18n import DEFAULT_LOCALE, N_, SPOKEN_LOCALE, translate
from core.models.alerts import Alert, AlertNotification
from core.models.outbox import OutboxMessage
from core.models.places import CaregiverLink, Household, Resident
from core.models.staff import User
from core.notify.outbox import Recipient, enqueue_message, user_locale
from core.people import directory as people
from core.settings import Settings

log = logging.getLogger(__name__)

SEVERITY_PRIORITY = {"critical": 0, "urgent": 1, "warning": 3}
SEVERITY_LABELS = {"critical": N_("紧急"), "urgent": N_("重要"), "warning": N_("提醒")}
SEVERITY_ORDER = {"warning": 1, "urgent": 2, "critical": 3}


# How one severity escalates: the typed [devices.escalation.*] section itself, so its defaults live in one place.
Policy = PolicySettings


@dataclass(frozen=True)
class EscalationConfig:
    """Policies per severity plus the SMS channel used when a recipient has no channel of their own."""

    policies: Mapping[str, Policy]
    sms_channel: str = "twilio_sms"

    @classmethod
    def from_settings(cls, settings: Settings) -> EscalationConfig:
        """Read [devices.escalation] from the settings."""
        section = settings.devices.escalation
        policies = {severity: getattr(section, severity) for severity in SEVERITY_PRIORITY}
        return cls(policies=policies, sms_channel=section.sms_channel)

    def policy(self, severity: str) -> Policy:
        """The policy of a severity (urgent's when unknown)."""
        return self.policies.get(severity) or self.policies.get("urgent") or Policy()


@dataclass(frozen=True)
class Contact:
    """Someone an alert may reach (a snapshot, so a later chain edit does not change a running alert)."""

    name: str
    phone: str | None = None
    channels: tuple[str, ...] = ()
    user_id: int | None = None
    kind: str = "other"
    hours_start: int | None = None
    hours_end: int | None = None

    def key(self) -> str:
        """Identity for de-duplication across chain and staff."""
        return f"u{self.user_id}" if self.user_id else f"p{self.phone or self.name}"


@dataclass(frozen=True)
class Level:
    """One escalation level: who is told, through which channels, how long they have."""

    contacts: tuple[Contact, ...]
    channels: tuple[str, ...]
    timeout_s: float
    quiet_hours: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def plan_escalation(chain: Sequence[Contact], staff: Sequence[Contact], policy: Policy,
                    town: Sequence[Contact] = ()) -> list[Level]:
    """Ordered levels: the chain members (of the policy's kinds) `ring_at_once` at a time, then the staff
    together, then the town 指挥中心 as the last level (staff and town only when the policy has staff, or
    when the chain gave no level at all)."""
    timeout = policy.timeout_min * 60
    chosen = [c for c in chain if not policy.kinds or c.kind in policy.kinds]
    size = max(1, policy.ring_at_once)
    levels = [Level(tuple(chosen[i:i + size]), policy.channels, timeout, policy.quiet_hours)
              for i in range(0, len(chosen), size)]
    if policy.staff or not levels:
        seen = {c.key() for c in chosen}
        for group in (staff, town):
            extra = []
            for contact in group:
                if contact.key() not in seen:
                    seen.add(contact.key())
                    extra.append(contact)
            if extra:
                levels.append(Level(tuple(extra), policy.channels, timeout, policy.quiet_hours))
    return levels


def next_step(level: int, round_: int, n_levels: int, repeat: int) -> tuple[int, int] | None:
    """The (level, round) after `level` in `round_`, or None when every round is done."""
    if n_levels == 0:
        return None
    if level < n_levels:
        return level + 1, round_
    if round_ < repeat:
        return 1, round_ + 1
    return None


def plan_to_json(levels: Sequence[Level]) -> list[dict[str, Any]]:
    """Store a plan on the alert."""
    return [asdict(level) for level in levels]


def plan_from_json(raw: Sequence[Mapping[str, Any]]) -> list[Level]:
    """Read a stored plan."""
    levels = []
    for item in raw:
        contacts = tuple(Contact(**{**c, "channels": tuple(c.get("channels") or ())}) for c in item["contacts"])
        levels.append(Level(contacts, tuple(item["channels"]), float(item["timeout_s"]), bool(item["quiet_hours"])))
    return levels


def contact_for_link(link: CaregiverLink) -> Contact:
    """A chain entry as a contact."""
    return Contact(name=link.name, phone=link.phone, channels=tuple(link.channels or ()), user_id=link.user_id,
                   kind=link.kind, hours_start=link.hours_start, hours_end=link.hours_end)


def contact_for_user(user: User, kind: str) -> Contact:
    """A staff user as a contact (staff have no quiet hours)."""
    return Contact(name=user.display_name, phone=user.phone, channels=tuple(user.channels or ()), user_id=user.id,
                   kind=kind)


def load_contacts(
    session: Session, resident_id: int | None, household_id: int | None
) -> tuple[list[Contact], list[Contact]]:
    """The resident's chain and the staff of their place (院长, then village staff)."""
    chain = [contact_for_link(link) for link in people.caregiver_chain(session, resident_id)] if resident_id else []
    staff: list[Contact] = []
    if household_id is not None:
        head = people.courtyard_head(session, household_id)
        if head is not None:
            staff.append(contact_for_user(head, "courtyard_head"))
        place = people.place_of_household(session, household_id)
        staff += [contact_for_user(u, "village") for u in people.village_staff(session, place.village_id)]
    return chain, staff


# Who answers for a band that was given to nobody: the village's cadres and grid workers.
UNASSIGNED_BAND_ROLES = ("village", "grid_worker")


def plan_for_alert(session: Session, alert: Alert, policy: Policy) -> list[Level]:
    """The escalation levels of an alert: its resident's chain and staff, or for a band given to nobody
    the staff of the band's village; the town 指挥中心 last."""
    if alert.resident_id is not None or alert.household_id is not None:
        chain, staff = load_contacts(session, alert.resident_id, alert.household_id)
    else:
        chain = []
        staff = [contact_for_user(u, "village") for u in people.village_staff(
            session, alert.village_id, roles=UNASSIGNED_BAND_ROLES)] if alert.village_id is not None else []
    town = [contact_for_user(u, "town") for u in people.town_staff(session, alert.town_id)] \
        if alert.town_id is not None else []
    return plan_escalation(chain, staff, policy, town)


def _reachable(contact: Contact, level: Level, now: dt.datetime) -> bool:
    if not level.quiet_hours:
        return True
    return people.within_hours(contact, to_local(now))


def household_name(session: Session, alert: Alert) -> str:
    """The name of the alert's household ("" for a band given to nobody): the place in its messages."""
    if alert.household_id is not None:
        household = session.get(Household, alert.household_id)
        if household is not None:
            return household.name
    return ""


def summary_for(session: Session, alert: Alert, locale: str) -> str:
    """The alert's summary in `locale`: the stored Chinese one, or re-rendered from its readings."""
    if locale == DEFAULT_LOCALE or alert.type not in texts.SUMMARIES:
        return alert.summary
    resident = session.get(Resident, alert.resident_id) if alert.resident_id is not None else None
    who = resident.name if resident is not None else translate(texts.BAND_NAME, locale,
                                                               band=alert.device_id or alert.band_id)
    return texts.alert_summary(alert.type, who, alert.value or {}, alert.type, locale)


def alert_texts(alert: Alert, who: str, now: dt.datetime, kind: str = "alert", *, locale: str = DEFAULT_LOCALE,
                summary: str | None = None) -> tuple[str, str]:
    """(SMS text in the reader's `locale`, spoken text) for an alert message, short, with the short code in the SMS.

    The phone line speaks Chinese, so the spoken text is always Chinese (with the stored summary).
    """
    label = SEVERITY_LABELS.get(alert.severity, N_("提醒"))

    def render(template: str, text_locale: str, text_summary: str) -> str:
        place = translate(texts.ALERT_PLACE, text_locale, household=who) if who else ""
        return translate(template, text_locale, label=translate(label, text_locale), summary=text_summary,
                         place=place, when=to_local(alert.raised_at).strftime("%H:%M"),
                         at=to_local(now).strftime("%H:%M"), code=alert.short_code)

    if kind == "all_clear":
        return (render(texts.ALERT_ALL_CLEAR, locale, summary or alert.summary),
                render(texts.ALERT_ALL_CLEAR, SPOKEN_LOCALE, alert.summary))
    sms = texts.ALERT_AGAIN_SMS if kind == "retrigger" else texts.ALERT_SMS
    return render(sms, locale, summary or alert.summary), render(texts.ALERT_CALL, SPOKEN_LOCALE, alert.summary)


def notify_level(
    session: Session, alert: Alert, *, level_no: int, round_: int, now: dt.datetime, config: EscalationConfig,
    kind: str = "alert", only_channels: Sequence[str] | None = None,
) -> int:
    """Tell every reachable contact of one level (1-based); return how many were told.

    `only_channels` limits the level's channels (a warning's readers are called when it turns urgent).
    """
    levels = plan_from_json(alert.plan)
    level = levels[level_no - 1]
    channels = [c for c in level.channels if only_channels is None or c in only_channels]
    who = household_name(session, alert)
    told = 0
    for position, contact in enumerate(level.contacts):
        if not _reachable(contact, level, now) or (only_channels is not None and not contact.phone):
            continue
        locale = user_locale(session, contact.user_id)
        sms, voice = alert_texts(alert, who, now, kind, locale=locale, summary=summary_for(session, alert, locale))
        recipient = Recipient(name=contact.name, phone=contact.phone, channels=contact.channels,
                              user_id=contact.user_id, locale=locale)
        outbox_ids = []
        for channel in channels:
            if channel == "voice_call" and not contact.phone:
                continue
            chosen = ["voice_call"] if channel == "voice_call" else list(contact.channels or (alert.message_channel,))
            message = enqueue_message(
                session, now=now, recipient=recipient, template=f"alert.{kind}",
                text=voice if channel == "voice_call" else sms,
                params={"alert_id": alert.id, "type": alert.type, "severity": alert.severity,
                        "short_code": alert.short_code, "level": level_no, "round": round_,
                        "reply_hint": False, **({"machine_detection": True} if channel == "voice_call"
                                                and config.policy(alert.severity).machine_detection else {})},
                priority=SEVERITY_PRIORITY.get(alert.severity, 3),
                dedup_key=f"alert:{alert.id}:{alert.severity}:{kind}:{round_}:{level_no}:{position}:{channel}",
                subject=("alert", alert.id), village_id=alert.village_id, channels=chosen,
            )
            outbox_ids.append(message.id)
        session.add(AlertNotification(
            alert_id=alert.id, severity=alert.severity, kind=kind, round=round_, level=level_no, position=position,
            recipient_name=contact.name, recipient_phone=contact.phone, user_id=contact.user_id,
            channels=channels, outbox_ids=outbox_ids, sent_at=now,
        ))
        told += 1
    session.flush()
    return told


def walk(session: Session, alert: Alert, *, now: dt.datetime, config: EscalationConfig, kind: str = "alert") -> None:
    """Tell the next level that has someone reachable; set when the one after is due (or stop)."""
    levels = plan_from_json(alert.plan)
    policy = config.policy(alert.severity)
    step = next_step(alert.level, alert.round, len(levels), policy.repeat)
    for _ in range(len(levels) * policy.repeat + 1):
        if step is None:
            alert.next_escalation_at = None
            alert.exhausted = True
            if not levels:
                log.error("alert %s: NOBODY was told: no caregiver chain, no staff and no town centre to tell",
                          alert.id)
            elif not _anyone_told(session, alert.id):
                log.error("alert %s: NOBODY was told: no one in the plan could be reached now", alert.id)
            else:
                log.warning("alert %s: every level of the chain was told and nobody acknowledged", alert.id)
            return
        level_no, round_ = step
        told = notify_level(session, alert, level_no=level_no, round_=round_, now=now, config=config, kind=kind)
        alert.level, alert.round = level_no, round_
        if told:
            if alert.status == "open":
                alert.status = "notified"
                alert.notified_at = now
            alert.next_escalation_at = now + dt.timedelta(seconds=levels[level_no - 1].timeout_s)
            alert.updated_at = now
            return
        step = next_step(level_no, round_, len(levels), policy.repeat)
    alert.next_escalation_at = None


def _anyone_told(session: Session, alert_id: int) -> bool:
    told = session.scalar(sa.select(sa.func.count()).select_from(AlertNotification).where(
        AlertNotification.alert_id == alert_id, AlertNotification.kind.in_(("alert", "retrigger"))))
    return bool(told)


def advance_escalation(session: Session, alert: Alert, *, now: dt.datetime, config: EscalationConfig) -> bool:
    """Do what is due for one alert now (next level, or re-trigger after the ack timeout); idempotent."""
    due = alert.next_escalation_at is not None and alert.next_escalation_at <= now
    if alert.status in ("open", "notified") and due:
        walk(session, alert, now=now, config=config)
        return True
    if alert.status == "acknowledged" and alert.ack_deadline_at is not None and alert.ack_deadline_at <= now:
        # Acknowledged but not resolved in time: raise it again from the top of the chain, in a new round.
        log.info("alert %s: acknowledged but not resolved in time, re-triggering", alert.id)
        alert.status = "notified"
        alert.ack_deadline_at = None
        alert.exhausted = False
        alert.level = 0
        alert.round += 1
        walk(session, alert, now=now, config=config, kind="retrigger")
        return True
    return False


def due_alert_ids(session: Session, now: dt.datetime, limit: int = 200) -> list[int]:
    """Ids of alerts whose next step is due."""
    return list(session.scalars(
        sa.select(Alert.id).where(sa.or_(
            sa.and_(Alert.status.in_(("open", "notified")), Alert.next_escalation_at <= now),
            sa.and_(Alert.status == "acknowledged", Alert.ack_deadline_at <= now),
        )).order_by(Alert.id).limit(limit)
    ))


def sweep_alerts(services: Services) -> int:
    """Advance every alert whose escalation step is due; one transaction per alert; return how many."""
    config = EscalationConfig.from_settings(services.settings)
    now = services.clock.now()
    with services.session_factory() as session:
        ids = due_alert_ids(session, now)
    done = 0
    for alert_id in ids:
        try:
            with services.session_factory() as session, session.begin():
                alert = session.scalar(
                    sa.select(Alert).where(Alert.id == alert_id).with_for_update(skip_locked=True)
                )
                if alert is not None and advance_escalation(session, alert, now=now, config=config):
                    done += 1
        except Exception:
            log.exception("alert sweep failed for alert %s", alert_id)
    return done


# How an alert call can end without anyone taking the alert: only a keypress 1 acknowledges, so a call
# that completed (voicemail without detection, or hung up without a key) did not reach anyone either.
UNANSWERED_CALLS = ("no_answer", "busy", "failed", "canceled", "machine", "completed")


def level_unanswered(notes: Sequence[AlertNotification], *, level: int, round_: int, severity: str) -> bool:
    """Whether every call placed at this level and round ended without an acknowledgement."""
    calls = [n for n in notes if n.kind in ("alert", "retrigger") and (n.level, n.round, n.severity) == (
        level, round_, severity) and "voice_call" in (n.channels or []) and n.recipient_phone]
    return bool(calls) and all(n.call_status in UNANSWERED_CALLS for n in calls)


def call_ended(services: Services, *, alert_id: int, message_id: int, outcome: str) -> bool:
    """An alert call ended (`outcome` from UNANSWERED_CALLS): note it on the person's notification; when every
    call of the alert's current level has ended unanswered, tell the next level now. True when it moved on.

    Repeated or late reports change nothing: the first end is kept, and a call of an earlier level (or of
    an alert someone already took) does not move the alert.
    """
    config = EscalationConfig.from_settings(services.settings)
    now = services.clock.now()
    with services.session_factory() as session, session.begin():
        alert = session.scalar(sa.select(Alert).where(Alert.id == alert_id).with_for_update())
        if alert is None:
            return False
        notes = list(session.scalars(sa.select(AlertNotification).where(AlertNotification.alert_id == alert.id)))
        note = next((n for n in notes if message_id in (n.outbox_ids or [])), None)
        if note is None:
            return False
        if note.call_status is None:
            note.call_status = outcome[:20]
        if alert.status not in ("open", "notified") or (note.level, note.round, note.severity) != (
                alert.level, alert.round, alert.severity):
            return False
        if not level_unanswered(notes, level=alert.level, round_=alert.round, severity=alert.severity):
            return False
        log.info("alert %s: every call of level %s ended unanswered; telling the next level now", alert.id,
                 alert.level)
        walk(session, alert, now=now, config=config)
        return True


def hang_up_other_calls(session: Session, alert: Alert, *, now: dt.datetime, keep_user_id: int | None,
                        keep_name: str | None) -> int:
    """Hang up the alert calls still ringing (someone else took it); the taker's own call stays up.

    A hang-up is an outbox row of channel call_hangup, so it is sent at once by whoever holds the
    telephony provider and survives a crash. Calls whose end was reported already are left alone.
    """
    ended = {message_id for n in alert.notifications if n.call_status for message_id in (n.outbox_ids or [])}
    rows = session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.subject_type == "alert", OutboxMessage.subject_id == alert.id,
        OutboxMessage.channel == "voice_call", OutboxMessage.status == "sent", OutboxMessage.provider_ref.is_not(None)))
    count = 0
    for row in rows:
        mine = (keep_user_id is not None and row.recipient_user_id == keep_user_id) or (
            keep_name is not None and row.recipient_name == keep_name)
        if row.id in ended or mine:
            continue
        enqueue_message(session, now=now, recipient=Recipient(name=row.recipient_name, phone=row.recipient_phone),
                        template="alert.hangup", text="", params={"call_id": row.provider_ref, "alert_id": alert.id},
                        priority=0, dedup_key=f"hangup:{row.id}", subject=("alert_call", alert.id),
                        village_id=alert.village_id, channels=["call_hangup"])
        count += 1
    return count


def cancel_pending_calls(session: Session, alert_id: int) -> int:
    """Cancel voice calls for an alert that have not been placed yet (someone already answered)."""
    result = session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.subject_type == "alert", OutboxMessage.subject_id == alert_id,
               OutboxMessage.channel == "voice_call", OutboxMessage.status == "pending")
        .values(status="cancelled")
    )
    return rows_changed(result) or 0
