"""Alerts from wristbands: raise (deduplicated), clear with an all-clear, acknowledge, resolve.

One active alert per resident and type (`Alert.open_key`). Raising tells the first escalation level
in the same transaction (so an SOS reaches the outbox at once); the sweep in
core.bands.escalation tells the next levels when they are due. A keypress 1 on the alert call, or
an SMS reply with the alert's short code, acknowledges (registered with core.phone.confirmations).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.bands import texts
from core.bands.escalation import (
    SEVERITY_ORDER,
    EscalationConfig,
    alert_texts,
    call_ended,
    cancel_pending_calls,
    hang_up_other_calls,
    household_name,
    notify_level,
    plan_for_alert,
    plan_from_json,
    plan_to_json,
    summary_for,
    walk,
)
from core.bands.registry import site_place
from core.clock import to_local
from core.errors import InvalidInput, InvalidTransition, NotFound
from core.i18n import DEFAULT_LOCALE, N_, translate
from core.models.alerts import ACTIVE_STATUSES, Alert, AlertNotification
from core.models.outbox import OutboxMessage
from core.models.places import Resident
from core.notify.outbox import Recipient, enqueue_message, user_locale
from core.people import directory as people
from core.people.audit import record_audit
from core.phone.confirmations import register_call_ended, register_confirmation, reply_locale

log = logging.getLogger(__name__)

TYPE_LABELS = {
    "sos": N_("求救"), "fall": N_("跌倒"), "hr_high": N_("心率偏高"), "hr_low": N_("心率偏低"),
    "spo2_low": N_("血氧偏低"), "temp_high": N_("体温偏高"), "temp_low": N_("体温偏低"), "removed": N_("手环摘下"),
    "silent": N_("手环无消息"), "battery_low": N_("手环电量低"), "no_activity": N_("无活动"),
}


# How each person's alert call ended, as the console's notification log shows it.
CALL_LABELS = {
    "no_answer": N_("没接"), "busy": N_("占线"), "failed": N_("打不通"), "canceled": N_("已取消"),
    "machine": N_("语音信箱接听"), "completed": N_("接了但没按1"),
}


def dedup_key_for(alert_type: str, *, resident_id: int | None, band_id: int | None) -> str:
    """One active alert per resident and type (per band when the band is not assigned)."""
    return f"r{resident_id}:{alert_type}" if resident_id is not None else f"b{band_id}:{alert_type}"


def summarise(alert_type: str, who: str, value: Mapping[str, Any], locale: str = DEFAULT_LOCALE) -> str:
    """The one-line summary of an alert (stored in Chinese for the board; messages render it per reader)."""
    label = TYPE_LABELS.get(alert_type, alert_type)
    return texts.alert_summary(alert_type, who, dict(value), label, locale)[:200]


def find_open_alert(session: Session, dedup_key: str, *, lock: bool = False) -> Alert | None:
    """The active alert with this dedup key, if any."""
    query = sa.select(Alert).where(Alert.open_key == dedup_key)
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def _told_keys(alert: Alert, *, channel: str | None = None) -> set[str]:
    """Who was told about this alert (through `channel` only, when given), as `Contact.key()` reads."""
    return {f"u{n.user_id}" if n.user_id else f"p{n.recipient_phone or n.recipient_name}"
            for n in alert.notifications
            if n.kind in ("alert", "retrigger") and (channel is None or channel in (n.channels or []))}


def raise_alert(
    session: Session, *, now: dt.datetime, config: EscalationConfig, alert_type: str, severity: str,
    resident_id: int | None, band_id: int | None = None, device_id: str | None = None,
    value: Mapping[str, Any] | None = None, who: str | None = None,
) -> tuple[Alert, bool]:
    """Raise an alert or update the active one of the same resident and type; return (alert, created).

    A new alert tells its first level at once. A repeat raises nothing new, except when the severity
    rises (a silent band going from warning to urgent): then the plan is rebuilt for the new
    severity and the first level with someone not yet told is told now.
    """
    value = dict(value or {})
    key = dedup_key_for(alert_type, resident_id=resident_id, band_id=band_id)
    existing = find_open_alert(session, key)
    if existing is None:
        resident = session.get(Resident, resident_id) if resident_id is not None else None
        name = who or (resident.name if resident else translate(texts.BAND_NAME, band=device_id or band_id))
        place = people.place_of_household(session, resident.household_id) if resident else None
        # A band given to nobody belongs to the village of its site, whose staff take its alarms.
        village_id, town_id = (place.village_id, place.town_id) if place else site_place(session, band_id)
        policy = config.policy(severity)
        alert = Alert(
            dedup_key=key, open_key=key, type=alert_type, severity=severity, status="open",
            resident_id=resident_id, band_id=band_id, device_id=device_id,
            household_id=place.household_id if place else None, courtyard_id=place.courtyard_id if place else None,
            village_id=village_id, town_id=town_id,
            summary=summarise(alert_type, name, value), value=value,
            lat=value.get("lat"), lon=value.get("lon"), short_code=f"{secrets.randbelow(9000) + 1000}",
            raised_at=now, updated_at=now, level=0, round=1,
            ack_timeout_s=int(policy.ack_timeout_min * 60), message_channel=config.sms_channel,
        )
        try:
            with session.begin_nested():
                session.add(alert)
                session.flush()
        except IntegrityError:
            # Another process raised it a moment ago: treat this as a repeat of that one.
            existing = find_open_alert(session, key)
            if existing is None:
                raise
        else:
            alert.plan = plan_to_json(plan_for_alert(session, alert, policy))
            if resident is None:
                log.warning("alert %s comes from band %s, which is given to no resident: telling %s", alert.id,
                            device_id or band_id, f"the staff of village {village_id}" if village_id is not None
                            else "the town centre only (the band's site matches no village)")
            walk(session, alert, now=now, config=config)
            log.info("alert %s raised: type=%s severity=%s resident=%s", alert.id, alert_type, severity, resident_id)
            return alert, True
    return _repeat(session, existing, now=now, config=config, severity=severity, value=value, who=who), False


def _repeat(
    session: Session, alert: Alert, *, now: dt.datetime, config: EscalationConfig, severity: str,
    value: dict[str, Any], who: str | None,
) -> Alert:
    alert.occurrences += 1
    alert.updated_at = now
    if SEVERITY_ORDER.get(severity, 0) <= SEVERITY_ORDER.get(alert.severity, 0):
        return alert
    # The severity rose: rebuild the plan and go on with the first level not yet told.
    resident = session.get(Resident, alert.resident_id) if alert.resident_id is not None else None
    name = who or (resident.name if resident else translate(texts.BAND_NAME, band=alert.device_id or alert.band_id))
    alert.severity = severity
    alert.value = value
    alert.summary = summarise(alert.type, name, value)
    policy = config.policy(severity)
    alert.ack_timeout_s = int(policy.ack_timeout_min * 60)
    levels = plan_for_alert(session, alert, policy)
    alert.plan = plan_to_json(levels)
    told = _told_keys(alert)
    first_new = next((i for i, lv in enumerate(levels) if any(c.key() not in told for c in lv.contacts)), 0)
    if "voice_call" in policy.channels:
        # Those already told were only messaged (a warning): now it is urgent, they are called too.
        called = _told_keys(alert, channel="voice_call")
        for index in range(first_new):
            if any(c.key() not in called for c in levels[index].contacts):
                notify_level(session, alert, level_no=index + 1, round_=1, now=now, config=config,
                             only_channels=("voice_call",))
    alert.level, alert.round = first_new, 1
    alert.status = "notified" if alert.status != "open" else "open"
    alert.ack_deadline_at = None
    alert.exhausted = False
    walk(session, alert, now=now, config=config)
    log.info("alert %s raised to %s", alert.id, severity)
    return alert


def _tell_others(session: Session, alert: Alert, *, now: dt.datetime, kind: str, text: Callable[[str], str],
                 skip_user_id: int | None = None, skip_name: str | None = None) -> int:
    """Send a plain message (never a call) once to everyone who was told about this alert.

    `text(locale)` renders the message in each reader's language.
    """
    seen: set[str] = set()
    count = 0
    for note in list(alert.notifications):
        if note.kind not in ("alert", "retrigger"):
            continue
        key = f"u{note.user_id}" if note.user_id else f"p{note.recipient_phone or note.recipient_name}"
        skip = (skip_user_id and note.user_id == skip_user_id) or (skip_name and note.recipient_name == skip_name)
        if key in seen or skip:
            seen.add(key)
            continue
        seen.add(key)
        channels = _contact_channels(alert, note) or [alert.message_channel]
        locale = user_locale(session, note.user_id)
        message = enqueue_message(
            session, now=now, recipient=Recipient(name=note.recipient_name, phone=note.recipient_phone,
                                                  user_id=note.user_id, locale=locale),
            template=f"alert.{kind}", text=text(locale),
            params={"alert_id": alert.id, "type": alert.type, "reply_hint": False},
            priority=4, dedup_key=f"alert:{alert.id}:{kind}:{key}", subject=("alert", alert.id),
            village_id=alert.village_id, channels=channels,
        )
        session.add(AlertNotification(
            alert_id=alert.id, severity=alert.severity, kind=kind, round=0, level=0, position=count,
            recipient_name=note.recipient_name, recipient_phone=note.recipient_phone, user_id=note.user_id,
            channels=channels, outbox_ids=[message.id], sent_at=now,
        ))
        count += 1
    session.flush()
    return count


def _place(session: Session, alert: Alert, locale: str) -> str:
    household = household_name(session, alert)
    return translate(texts.ALERT_PLACE, locale, household=household) if household else ""


def _contact_channels(alert: Alert, note: AlertNotification) -> list[str]:
    for level in plan_from_json(alert.plan):
        for contact in level.contacts:
            if (contact.user_id and contact.user_id == note.user_id) or (
                not contact.user_id and contact.name == note.recipient_name and contact.phone == note.recipient_phone
            ):
                return list(contact.channels)
    return []


def _close(session: Session, alert: Alert, now: dt.datetime) -> None:
    alert.open_key = None
    alert.next_escalation_at = None
    alert.ack_deadline_at = None
    alert.updated_at = now
    cancel_pending_calls(session, alert.id)
    hang_up_other_calls(session, alert, now=now, keep_user_id=None, keep_name=None)


def clear_alert(
    session: Session, *, now: dt.datetime, alert_type: str, resident_id: int | None, band_id: int | None = None
) -> Alert | None:
    """The condition has ended: close the active alert and send 已恢复 to everyone who was told."""
    alert = find_open_alert(session, dedup_key_for(alert_type, resident_id=resident_id, band_id=band_id))
    if alert is None:
        return None
    alert.status = "auto_cleared"
    alert.cleared_at = now
    _close(session, alert, now)
    told = _tell_others(session, alert, now=now, kind="all_clear", text=lambda locale: alert_texts(
        alert, "", now, "all_clear", locale=locale, summary=summary_for(session, alert, locale))[0])
    log.info("alert %s cleared by itself; all-clear to %d people", alert.id, told)
    return alert


def get_alert(session: Session, alert_id: int) -> Alert:
    """Load an alert or raise NotFound."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(N_("找不到这条告警"))
    return alert


def acknowledge_alert(
    session: Session, *, now: dt.datetime, alert_id: int, by: str, via: str, user_id: int | None = None,
    actor: Any = None,
) -> Alert:
    """Someone has taken the alert: stop escalating; it must be resolved within its ack timeout.

    `via` says how (console, call, sms, cli); the audit entry names `actor` (a User), else `by`.
    """
    alert = get_alert(session, alert_id)
    if alert.status == "acknowledged":
        return alert
    if alert.status not in ("open", "notified"):
        raise InvalidTransition(N_("这条告警已经结束"))
    alert.status = "acknowledged"
    alert.acknowledged_at = now
    alert.acknowledged_by = by[:80]
    alert.acknowledged_via = via
    alert.ack_user_id = user_id
    alert.next_escalation_at = None
    alert.ack_deadline_at = now + dt.timedelta(seconds=alert.ack_timeout_s)
    alert.updated_at = now
    cancel_pending_calls(session, alert.id)
    hang_up_other_calls(session, alert, now=now, keep_user_id=user_id, keep_name=by)
    _tell_others(session, alert, now=now, kind="acknowledged", skip_user_id=user_id, skip_name=by,
                 text=lambda locale: translate(texts.ALERT_ACKNOWLEDGED, locale, by=by,
                                               summary=summary_for(session, alert, locale)))
    record_audit(session, at=now, actor=actor if actor is not None else by, action="alert.acknowledge",
                 entity_type="alert", entity_id=alert.id, via=via)
    log.info("alert %s acknowledged via %s", alert.id, via)
    return alert


def resolve_alert(
    session: Session, *, now: dt.datetime, alert_id: int, note: str, by: str, user_id: int | None = None,
    via: str = "console", actor: Any = None,
) -> Alert:
    """Close an alert with a note saying what was done (audited like `acknowledge_alert`)."""
    if not note or not note.strip():
        raise InvalidInput(N_("请写明处理情况"))
    alert = get_alert(session, alert_id)
    if alert.status not in ACTIVE_STATUSES:
        raise InvalidTransition(N_("这条告警已经结束"))
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by, alert.acknowledged_via = now, by[:80], via
        alert.ack_user_id = user_id
    alert.status = "resolved"
    alert.resolved_at = now
    alert.resolved_by = by[:80]
    alert.resolution_note = note.strip()
    _close(session, alert, now)
    # Everyone told hears it is over (the resolver knows already).
    _tell_others(session, alert, now=now, kind="resolved", skip_user_id=user_id, skip_name=by,
                 text=lambda locale: translate(texts.ALERT_RESOLVED, locale, by=by, at=to_local(now).strftime("%H:%M"),
                                               summary=summary_for(session, alert, locale),
                                               place=_place(session, alert, locale)))
    record_audit(session, at=now, actor=actor if actor is not None else by, action="alert.resolve",
                 entity_type="alert", entity_id=alert.id, via=via)
    log.info("alert %s resolved", alert.id)
    return alert


def _alerts_told_to(session: Session, phone: str, *, code: str | None = None, pending: bool = False) -> list[Alert]:
    """Alerts (newest first) that were sent to this phone; with `code` only that one, `pending` only unacknowledged."""
    query = (sa.select(Alert).where(Alert.id.in_(
        sa.select(AlertNotification.alert_id).where(AlertNotification.recipient_phone == phone,
                                                    AlertNotification.kind.in_(("alert", "retrigger")))))
             .order_by(Alert.id.desc()))
    if code is not None:
        query = query.where(Alert.short_code == code)
    if pending:
        query = query.where(Alert.status.in_(("open", "notified")))
    return list(session.scalars(query))


def _recipient(alert: Alert, phone: str) -> tuple[str, int | None]:
    note = next((n for n in alert.notifications if n.recipient_phone == phone), None)
    return (note.recipient_name, note.user_id) if note is not None else (phone, None)


def _acknowledge_from_phone(session: Session, alert: Alert, *, now: dt.datetime, phone: str) -> Alert:
    name, user_id = _recipient(alert, phone)
    return acknowledge_alert(session, now=now, alert_id=alert.id, by=name, via="sms", user_id=user_id)


def acknowledge_by_sms(session: Session, *, now: dt.datetime, phone: str, digit: str, code: str | None) -> str | None:
    """An SMS reply about an alert: its short code acknowledges it; "1" the sender's only pending alert.

    When several alerts await this sender, "1" acknowledges none and the reply lists their codes.
    Returns the reply text in the sender's language, or None when the reply is about no alert sent
    to this phone (another confirmation may match it).
    """
    if code is not None:
        alerts = _alerts_told_to(session, phone, code=code)
        if not alerts:
            return None
        alert = next((a for a in alerts if a.status in ACTIVE_STATUSES), alerts[0])
    elif digit == "1":
        pending = _alerts_told_to(session, phone, pending=True)
        if not pending:
            return None
        if len(pending) > 1:
            locale = user_locale(session, _recipient(pending[0], phone)[1])
            items = "\n".join(translate(texts.REPLY_SMS_ITEM, locale, code=a.short_code,
                                         summary=summary_for(session, a, locale)) for a in pending)
            return translate(texts.REPLY_SMS_CHOOSE, locale, count=len(pending), items=items)
        alert = pending[0]
    else:
        return None
    locale = user_locale(session, _recipient(alert, phone)[1])
    summary = summary_for(session, alert, locale)
    if alert.status in ("open", "notified"):
        _acknowledge_from_phone(session, alert, now=now, phone=phone)
        log.info("alert %s acknowledged by SMS reply", alert.id)
        return translate(texts.REPLY_SMS_ACKNOWLEDGED, locale, summary=summary)
    if alert.status == "acknowledged":
        return translate(texts.REPLY_SMS_TAKEN, locale, by=alert.acknowledged_by or "", summary=summary)
    return translate(texts.REPLY_SMS_CLOSED, locale, summary=summary)


def on_confirmation(session: Session, now: dt.datetime, message: OutboxMessage, digits: str) -> str | None:
    """Keypress 1 on the alert call, or the short code by SMS, acknowledges; anything else does nothing."""
    alert = session.get(Alert, message.subject_id) if message.subject_id is not None else None
    if alert is None:
        return None
    answer = (digits or "").strip()
    via = "call" if message.channel == "voice_call" else "sms"
    accepted = (via == "call" and answer == "1") or answer == alert.short_code
    if not accepted:
        return None
    if alert.status not in ACTIVE_STATUSES:
        return translate(texts.REPLY_ALREADY_CLOSED, reply_locale(session, message))
    if alert.status == "acknowledged" and alert.acknowledged_by != message.recipient_name[:80]:
        # Two people rang at once and the other one pressed 1 first: say so instead of "confirmed".
        locale = reply_locale(session, message)
        return translate(texts.REPLY_SMS_TAKEN, locale, by=alert.acknowledged_by or "",
                         summary=summary_for(session, alert, locale))
    acknowledge_alert(session, now=now, alert_id=alert.id, by=message.recipient_name, via=via,
                      user_id=message.recipient_user_id)
    return translate(texts.REPLY_ACKNOWLEDGED, reply_locale(session, message))


def on_call_ended(services: Any, message: OutboxMessage, outcome: str) -> None:
    """An alert call ended without a keypress: the next level is told at once when the whole level failed."""
    if message.subject_id is not None:
        call_ended(services, alert_id=message.subject_id, message_id=message.id, outcome=outcome)


register_confirmation("alert", on_confirmation)
register_call_ended("alert", on_call_ended)
