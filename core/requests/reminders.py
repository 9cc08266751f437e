"""Reminders (会议 / 用药 / 复诊 提醒) for a 小院 or a resident, and the monthly base-points award.

A reminder is shown on the TV home on its day; residents without a paired TV (or who asked for calls)
get an outbound call at `call_at` that asks them to press 1. An unconfirmed medication or appointment
reminder is passed to the resident's first caregiver. State lives in `ReminderCall` rows.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, UTC, to_local
from core.community.points import award_points, point_categories
from core.container import Services
from core.db import transaction
from core.errors import InvalidInput, NotFound
from core.i18n import N_, SPOKEN_LOCALE, translate
from core.models.ops import REMINDER_KINDS, Reminder, ReminderCall
from core.models.outbox import OutboxMessage
from core.models.places import Courtyard, Household, Resident, Village
from core.models.points import PointEntry
from core.notify.outbox import Recipient, enqueue_message, user_locale
from core.people import access
from core.people.audit import record_audit
from core.people.directory import caregiver_chain, primary_resident, recipient_for_link
from core.phone.confirmations import register_confirmation, reply_locale
from core.requests import texts
from core.requests.followup import household_has_tv

log = logging.getLogger(__name__)

KIND_LABELS = {"meeting": N_("会议"), "medication": N_("用药"), "appointment": N_("复诊"), "other": N_("事项")}
CAREGIVER_KINDS = ("medication", "appointment")
STALE_AFTER = dt.timedelta(hours=12)  # calls for a reminder this far in the past are no longer placed


def default_call_at(at: dt.datetime, call_hour: int) -> dt.datetime:
    """Calls go out at call_hour on the reminder's local day, or an hour before it when it is earlier."""
    local = to_local(at)
    call = dt.datetime.combine(local.date(), dt.time(call_hour), tzinfo=LOCAL_TZ).astimezone(UTC)
    return min(call, at - dt.timedelta(hours=1))


def create_reminder(session: Session, *, now: dt.datetime, actor: access.Viewer | None, kind: str, text: str,
                    at: dt.datetime, courtyard_id: int | None = None, resident_id: int | None = None,
                    call_at: dt.datetime | None = None, always_call: bool = False, call_hour: int = 8) -> Reminder:
    """Schedule a reminder for a 小院 or one resident (checked against the actor's scope); audited."""
    if kind not in REMINDER_KINDS:
        raise InvalidInput(N_("未知的提醒类型：%(kind)s"), kind=kind)
    if not text.strip():
        raise InvalidInput(N_("请写提醒内容"))
    if (courtyard_id is None) == (resident_id is None):
        raise InvalidInput(N_("请选择一个小院或一位居民"))
    if resident_id is not None:
        resident = (access.get_resident_for(session, actor, resident_id) if actor is not None
                    else session.get(Resident, resident_id))
        if resident is None or resident.erased:
            raise NotFound(N_("找不到这位居民"))
        household = session.get_one(Household, resident.household_id)
        courtyard = session.get_one(Courtyard, household.courtyard_id)
    else:
        found = session.get(Courtyard, courtyard_id)
        if found is None:
            raise NotFound(N_("找不到这个小院"))
        courtyard = found
    village = session.get_one(Village, courtyard.village_id)
    if actor is not None:
        access.require_manager(actor)
        if not access.can_see_place(actor, courtyard_id=courtyard.id, village_id=village.id, town_id=village.town_id):
            raise NotFound(N_("找不到这个小院"))
    reminder = Reminder(
        kind=kind, text=text.strip()[:500], at=at, call_at=call_at or max(now, default_call_at(at, call_hour)),
        courtyard_id=courtyard_id, resident_id=resident_id, village_id=village.id, town_id=village.town_id,
        always_call=always_call, created_by_id=actor.id if actor else None, created_at=now,
    )
    session.add(reminder)
    session.flush()
    record_audit(session, at=now, actor=actor or "system", action="reminder.create", entity_type="reminder",
                 entity_id=reminder.id, kind=reminder.kind)
    return reminder


@dataclass(frozen=True)
class ReminderItem:
    """A reminder as the TV home shows it."""

    id: int
    kind: str
    kind_label: str
    text: str
    time: str  # local "HH:MM"


def local_day(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in UTC of the local day containing `now` (pure)."""
    start = dt.datetime.combine(to_local(now).date(), dt.time(0), tzinfo=LOCAL_TZ).astimezone(UTC)
    return start, start + dt.timedelta(days=1)


def household_reminder_clause(household_id: Any, courtyard_id: Any, start: Any, end: Any) -> sa.ColumnElement[bool]:
    """A live reminder in [start, end) for the household: its 小院's or one of its residents' own.

    The arguments may be values or SQL expressions."""
    residents = sa.select(Resident.id).where(Resident.household_id == household_id)
    return sa.and_(
        Reminder.cancelled_at.is_(None), Reminder.at >= start, Reminder.at < end,
        sa.or_(Reminder.courtyard_id == courtyard_id, Reminder.resident_id.in_(residents)),
    )


def reminders_for_household_today(session: Session, household_id: int, now: dt.datetime) -> list[ReminderItem]:
    """Today's (local) reminders for a household: its 小院's and its residents' own, in time order."""
    household = session.get(Household, household_id)
    if household is None:
        return []
    start, end = local_day(now)
    rows = session.scalars(sa.select(Reminder).where(
        household_reminder_clause(household_id, household.courtyard_id, start, end),
    ).order_by(Reminder.at, Reminder.id))
    return [ReminderItem(r.id, r.kind, KIND_LABELS[r.kind], r.text, to_local(r.at).strftime("%H:%M")) for r in rows]


def call_text(reminder: Reminder) -> str:
    """What the reminder call says (spoken, so in Chinese)."""
    when = to_local(reminder.at).strftime("%m月%d日%H点%M分").lstrip("0").replace("月0", "月")
    return translate(texts.REMINDER_CALL, SPOKEN_LOCALE, kind=translate(KIND_LABELS[reminder.kind], SPOKEN_LOCALE),
                     text=reminder.text, when=when)


def _targets(session: Session, reminder: Reminder) -> list[Resident]:
    if reminder.resident_id is not None:
        resident = session.get(Resident, reminder.resident_id)
        return [resident] if resident is not None and not resident.erased else []
    households = session.scalars(sa.select(Household.id).where(Household.courtyard_id == reminder.courtyard_id)
                                 .order_by(Household.id))
    return [r for r in (primary_resident(session, h) for h in households) if r is not None]


def place_reminder_calls(session: Session, reminder: Reminder, now: dt.datetime, confirm_minutes: float) -> int:
    """Call every target resident without a paired TV (or who asked for calls); return calls placed."""
    placed = 0
    for resident in _targets(session, reminder):
        if household_has_tv(session, resident.household_id) and not reminder.always_call:
            continue
        phone = resident.phone or session.scalar(
            sa.select(Household.landline).where(Household.id == resident.household_id))
        if not phone:
            continue
        exists = session.scalar(sa.select(ReminderCall.id).where(
            ReminderCall.reminder_id == reminder.id, ReminderCall.resident_id == resident.id))
        if exists is not None:
            continue
        message = enqueue_message(
            session, now=now, recipient=Recipient(name=resident.name, phone=phone), template="reminder.call",
            text=call_text(reminder), params={"reminder_id": reminder.id, "resident_id": resident.id,
                                              "expect_digits": "1"},
            priority=4, dedup_key=f"reminder:{reminder.id}:{resident.id}", subject=("reminder", reminder.id),
            village_id=reminder.village_id, channels=["voice_call"],
        )
        session.add(ReminderCall(reminder_id=reminder.id, resident_id=resident.id, outbox_message_id=message.id,
                                 status="pending", created_at=now,
                                 confirm_by=now + dt.timedelta(minutes=confirm_minutes)))
        placed += 1
    reminder.calls_placed_at = now
    return placed


def _on_keypress(session: Session, now: dt.datetime, message: OutboxMessage, digits: str) -> str | None:
    """Confirmation handler for reminder calls: 1 confirms."""
    if (digits or "").strip()[:1] != "1":
        return None
    call = session.scalar(sa.select(ReminderCall).where(ReminderCall.outbox_message_id == message.id))
    if call is None:
        return None
    if call.status != "confirmed":
        call.status, call.confirmed_at = "confirmed", now
    return translate(texts.REMINDER_CONFIRMED, reply_locale(session, message))


register_confirmation("reminder", _on_keypress)


def _next_allowed(link, now: dt.datetime) -> dt.datetime | None:
    """When a non-urgent message may reach a caregiver (None: now)."""
    if link.hours_start is None or link.hours_end is None:
        return None
    from core.people.directory import within_hours

    local = to_local(now)
    if within_hours(link, local):
        return None
    day = local.date() if local.hour < link.hours_start else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(link.hours_start), tzinfo=LOCAL_TZ).astimezone(UTC)


def notify_unconfirmed(session: Session, call: ReminderCall, now: dt.datetime) -> bool:
    """An unconfirmed call: medication / appointment reminders go to the first caregiver; return whether told."""
    reminder = session.get(Reminder, call.reminder_id)
    resident = session.get(Resident, call.resident_id)
    call.status = "unconfirmed"
    if reminder is None or resident is None or reminder.kind not in CAREGIVER_KINDS:
        return False
    chain = caregiver_chain(session, resident.id)
    if not chain:
        return False
    link = chain[0]
    recipient = replace(recipient_for_link(link), locale=user_locale(session, link.user_id))
    enqueue_message(
        session, now=now, recipient=recipient, template="reminder.unconfirmed",
        text=translate(texts.REMINDER_UNCONFIRMED, recipient.locale, resident=resident.name,
                       kind=translate(KIND_LABELS[reminder.kind], recipient.locale), text=reminder.text,
                       when=to_local(reminder.at).strftime("%H:%M")),
        params={"reminder_id": reminder.id, "resident_id": resident.id}, priority=4,
        dedup_key=f"reminder-unconfirmed:{call.id}", not_before=_next_allowed(link, now),
        subject=("reminder", reminder.id), village_id=reminder.village_id,
    )
    call.caregiver_notified_at = now
    return True


def reminder_sweep(services: Services) -> int:
    """Job: place due reminder calls and pass unconfirmed ones on; return how many things were done."""
    now = services.clock.now()
    cfg = services.settings.ops
    done = 0
    with transaction(services.session_factory) as session:
        due = session.scalars(sa.select(Reminder).where(
            Reminder.cancelled_at.is_(None), Reminder.calls_placed_at.is_(None), Reminder.call_at <= now,
            Reminder.at > now - STALE_AFTER,
        ).order_by(Reminder.call_at))
        for reminder in due:
            done += place_reminder_calls(session, reminder, now, cfg.reminder_confirm_minutes)
        for call in session.scalars(sa.select(ReminderCall).where(
                ReminderCall.status == "pending", ReminderCall.confirm_by <= now)):
            done += notify_unconfirmed(session, call, now)
    return done


def award_monthly_base_points(services: Services) -> int:
    """Job: on the local month's first run, give every household of the 积分制 villages its base points once."""
    cfg = services.settings.ops
    points = cfg.monthly_base_points
    if points <= 0:
        return 0
    now = services.clock.now()
    month = to_local(now).strftime("%Y-%m")
    batch = f"base-{month}"
    awarded = 0
    with transaction(services.session_factory) as session:
        query = sa.select(Household.id).join(Courtyard, Household.courtyard_id == Courtyard.id).order_by(Household.id)
        if cfg.monthly_base_points_villages:
            query = query.where(Courtyard.village_id.in_(cfg.monthly_base_points_villages))
        done = set(session.scalars(sa.select(PointEntry.household_id).where(PointEntry.batch_id == batch)))
        for household_id in session.scalars(query):
            if household_id in done:
                continue
            award_points(session, now=now, household_id=household_id, delta=points,
                         category=cfg.monthly_base_points_category, reason=f"{month} 每月基础积分",
                         actor="system", source="monthly_base", categories=point_categories(services.settings),
                         batch_id=batch)
            awarded += 1
    return awarded
