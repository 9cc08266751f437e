"""Alert escalation: plan the levels (pure), tell one level through the outbox, and sweep what is due.

The plan is a snapshot stored on the alert: ordered levels built from the resident's caregiver
chain plus staff (院长, village). Each level has a timeout; the chain repeats `repeat` times. The
sweep acts on whatever is due according to the database, in one transaction per alert, so a
restarted or stopped worker loses nothing and tells nobody twice.
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


@dataclass(frozen=True)
class Policy:
    """How one severity escalates."""

    timeout_min: float = 5
    repeat: int = 1
    channels: tuple[str, ...] = ("message",)
    kinds: tuple[str, ...] = ()
    staff: bool = True
    quiet_hours: bool = True
    ack_timeout_min: float = 60


@dataclass(frozen=True)
class EscalationConfig:
    """Policies per severity plus the SMS channel used when a recipient has no channel of their own."""

    policies: Mapping[str, Policy]
    sms_channel: str = "twilio_sms"

    @classmethod
    def from_settings(cls, settings: Settings) -> EscalationConfig:
        """Read [devices.escalation] from the settings."""
        section = settings.devices.escalation
        policies = {severity: Policy(**getattr(section, severity).model_dump()) for severity in SEVERITY_PRIORITY}
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


def plan_escalation(chain: Sequence[Contact], staff: Sequence[Contact], policy: Policy) -> list[Level]:
    """Ordered levels: each chain member (of the policy's kinds) in turn, then the staff together."""
    timeout = policy.timeout_min * 60
    chosen = [c for c in chain if not policy.kinds or c.kind in policy.kinds]
    levels = [Level((c,), policy.channels, timeout, policy.quiet_hours) for c in chosen]
    if policy.staff or not levels:
        seen = {c.key() for c in chosen}
        extra = []
        for contact in staff:
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


def _reachable(contact: Contact, level: Level, now: dt.datetime) -> bool:
    if not level.quiet_hours:
        return True
    return people.within_hours(contact, to_local(now))


def _who(session: Session, alert: Alert) -> str:
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
    kind: str = "alert",
) -> int:
    """Tell every reachable contact of one level (1-based); return how many were told."""
    levels = plan_from_json(alert.plan)
    level = levels[level_no - 1]
    who = _who(session, alert)
    told = 0
    for position, contact in enumerate(level.contacts):
        if not _reachable(contact, level, now):
            continue
        locale = user_locale(session, contact.user_id)
        sms, voice = alert_texts(alert, who, now, kind, locale=locale, summary=summary_for(session, alert, locale))
        recipient = Recipient(name=contact.name, phone=contact.phone, channels=contact.channels,
                              user_id=contact.user_id, locale=locale)
        outbox_ids = []
        for channel in level.channels:
            if channel == "voice_call" and not contact.phone:
                continue
            chosen = ["voice_call"] if channel == "voice_call" else list(contact.channels or (alert.message_channel,))
            message = enqueue_message(
                session, now=now, recipient=recipient, template=f"alert.{kind}",
                text=voice if channel == "voice_call" else sms,
                params={"alert_id": alert.id, "type": alert.type, "severity": alert.severity,
                        "short_code": alert.short_code, "level": level_no, "round": round_},
                priority=SEVERITY_PRIORITY.get(alert.severity, 3),
                dedup_key=f"alert:{alert.id}:{alert.severity}:{kind}:{round_}:{level_no}:{position}:{channel}",
                subject=("alert", alert.id), village_id=alert.village_id, channels=chosen,
            )
            outbox_ids.append(message.id)
        session.add(AlertNotification(
            alert_id=alert.id, severity=alert.severity, kind=kind, round=round_, level=level_no, position=position,
            recipient_name=contact.name, recipient_phone=contact.phone, user_id=contact.user_id,
            channels=list(level.channels), outbox_ids=outbox_ids, sent_at=now,
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


def cancel_pending_calls(session: Session, alert_id: int) -> int:
    """Cancel voice calls for an alert that have not been placed yet (someone already answered)."""
    result = session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.subject_type == "alert", OutboxMessage.subject_id == alert_id,
               OutboxMessage.channel == "voice_call", OutboxMessage.status == "pending")
        .values(status="cancelled")
    )
    return rows_changed(result) or 0
