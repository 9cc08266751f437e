"""Scheduled operations: follow-up attempts (闭环回访) and reminders (会议 / 用药 / 复诊 提醒)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base

FOLLOWUP_CHANNELS = ("voice_call", "tv")
# pending: waiting for an answer until expires_at; answered; expired: no answer in time;
# cancelled: the request changed (reopened, evaluated by staff) before the resident answered.
FOLLOWUP_STATUSES = ("pending", "answered", "expired", "cancelled")


class FollowupAttempt(Base):
    """One try at asking a resident whether they are satisfied with a resolved request."""

    __tablename__ = "followup_attempt"
    __table_args__ = (
        sa.UniqueConstraint("request_id", "cycle", "attempt", name="uq_followup_attempt_request_cycle_attempt"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("request.id"), index=True)
    # The request's reopen_count when it was resolved: a reopened and re-resolved request is asked again.
    cycle: Mapped[int] = mapped_column(default=0)
    attempt: Mapped[int]  # 1, 2, …
    channel: Mapped[str] = mapped_column(sa.String(12))
    household_id: Mapped[int | None] = mapped_column(sa.ForeignKey("household.id"), index=True)
    resident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("resident.id"), index=True)
    outbox_message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("outbox_message.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(10), default="pending", index=True)
    created_at: Mapped[dt.datetime]
    asks_at: Mapped[dt.datetime]  # when the question is put (a call waits for calling hours)
    expires_at: Mapped[dt.datetime]
    answered_at: Mapped[dt.datetime | None]
    answer: Mapped[str | None] = mapped_column(sa.String(20))  # satisfied / basic / dissatisfied


REMINDER_KINDS = ("meeting", "medication", "appointment", "other")


class Reminder(Base):
    """A reminder for a whole 小院 (e.g. 云坝会) or for one resident (medicine, doctor's appointment)."""

    __tablename__ = "reminder"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(12))
    text: Mapped[str] = mapped_column(sa.Text)
    at: Mapped[dt.datetime] = mapped_column(index=True)  # when the thing happens
    call_at: Mapped[dt.datetime | None] = mapped_column(index=True)  # when reminder calls are placed
    courtyard_id: Mapped[int | None] = mapped_column(sa.ForeignKey("courtyard.id"), index=True)
    resident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("resident.id"), index=True)
    village_id: Mapped[int] = mapped_column(sa.ForeignKey("village.id"), index=True)
    town_id: Mapped[int] = mapped_column(sa.ForeignKey("town.id"), index=True)
    # Call even residents who have a paired TV (they asked for it).
    always_call: Mapped[bool] = mapped_column(default=False)
    calls_placed_at: Mapped[dt.datetime | None]
    cancelled_at: Mapped[dt.datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    created_at: Mapped[dt.datetime]


REMINDER_CALL_STATUSES = ("pending", "confirmed", "unconfirmed")


class ReminderCall(Base):
    """One outbound reminder call to one resident, waiting for 按1确认."""

    __tablename__ = "reminder_call"
    __table_args__ = (sa.UniqueConstraint("reminder_id", "resident_id", name="uq_reminder_call_reminder_resident"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    reminder_id: Mapped[int] = mapped_column(sa.ForeignKey("reminder.id"), index=True)
    resident_id: Mapped[int] = mapped_column(sa.ForeignKey("resident.id"), index=True)
    outbox_message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("outbox_message.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(12), default="pending")
    created_at: Mapped[dt.datetime]
    confirm_by: Mapped[dt.datetime]
    confirmed_at: Mapped[dt.datetime | None]
    caregiver_notified_at: Mapped[dt.datetime | None]
