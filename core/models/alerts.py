"""Alerts raised from wristbands, their escalation state, and the log of who was told at which level."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import Base

SEVERITIES = ("warning", "urgent", "critical")
# open: raised, nobody told yet; notified: at least one level told; acknowledged: someone took it;
# resolved: closed by a person with a note; auto_cleared: the condition ended by itself.
ALERT_STATUSES = ("open", "notified", "acknowledged", "resolved", "auto_cleared")
ACTIVE_STATUSES = ("open", "notified", "acknowledged")


class Alert(Base):
    """One alert. `open_key` equals `dedup_key` while the alert is active and is NULL once closed,
    so the unique index allows exactly one active alert per resident and type."""

    __tablename__ = "alert"
    __table_args__ = (sa.Index("ix_alert_due", "status", "next_escalation_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    dedup_key: Mapped[str] = mapped_column(sa.String(120), index=True)
    open_key: Mapped[str | None] = mapped_column(sa.String(120), unique=True)
    type: Mapped[str] = mapped_column(sa.String(20))
    severity: Mapped[str] = mapped_column(sa.String(10))
    status: Mapped[str] = mapped_column(sa.String(14), default="open")
    resident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("resident.id"), index=True)
    band_id: Mapped[int | None] = mapped_column(sa.ForeignKey("band.id"), index=True)
    device_id: Mapped[str | None] = mapped_column(sa.String(64))
    household_id: Mapped[int | None] = mapped_column(index=True)
    courtyard_id: Mapped[int | None] = mapped_column(index=True)
    village_id: Mapped[int | None] = mapped_column(index=True)
    town_id: Mapped[int | None] = mapped_column(index=True)
    summary: Mapped[str] = mapped_column(sa.String(200))  # Chinese, shown on the board and in messages
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the reading that raised it (not logged)
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    short_code: Mapped[str] = mapped_column(sa.String(8))  # reply to the SMS with it to acknowledge
    occurrences: Mapped[int] = mapped_column(default=1)
    raised_at: Mapped[dt.datetime] = mapped_column(index=True)
    updated_at: Mapped[dt.datetime]
    notified_at: Mapped[dt.datetime | None]
    acknowledged_at: Mapped[dt.datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String(80))
    acknowledged_via: Mapped[str | None] = mapped_column(sa.String(12))  # console / call / sms
    ack_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    resolved_at: Mapped[dt.datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(sa.String(80))
    resolution_note: Mapped[str] = mapped_column(sa.Text, default="")
    cleared_at: Mapped[dt.datetime | None]
    # Escalation state (the sweep acts on it; nothing lives only in memory).
    plan: Mapped[list[Any]] = mapped_column(default=list)  # snapshot of the levels, see core.bands.escalation
    level: Mapped[int] = mapped_column(default=0)  # last level told (1-based); 0 = nobody yet
    round: Mapped[int] = mapped_column(default=1)
    next_escalation_at: Mapped[dt.datetime | None]
    ack_deadline_at: Mapped[dt.datetime | None]
    exhausted: Mapped[bool] = mapped_column(default=False)  # every round of the chain was told, nobody answered
    ack_timeout_s: Mapped[int] = mapped_column(default=3600)  # acknowledged but unresolved this long: raise again
    message_channel: Mapped[str] = mapped_column(sa.String(20), default="twilio_sms")  # for people with no channel
    notifications: Mapped[list[AlertNotification]] = relationship(
        back_populates="alert", order_by="AlertNotification.id", cascade="all, delete-orphan"
    )


class AlertNotification(Base):
    """One person told about an alert at one level and round (or told it is over)."""

    __tablename__ = "alert_notification"
    __table_args__ = (
        sa.UniqueConstraint(
            "alert_id", "severity", "kind", "round", "level", "position", name="uq_alert_notification_step"
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(sa.ForeignKey("alert.id"), index=True)
    severity: Mapped[str] = mapped_column(sa.String(10))  # the alert's severity when told (it can only rise)
    kind: Mapped[str] = mapped_column(sa.String(14))  # alert / retrigger / all_clear / acknowledged
    round: Mapped[int]
    level: Mapped[int]
    position: Mapped[int]  # index of the recipient within the level
    recipient_name: Mapped[str] = mapped_column(sa.String(80))
    recipient_phone: Mapped[str | None] = mapped_column(sa.String(20))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    channels: Mapped[list[Any]] = mapped_column(default=list)
    outbox_ids: Mapped[list[Any]] = mapped_column(default=list)
    sent_at: Mapped[dt.datetime]
    # How this person's alert call ended (no_answer, busy, failed, machine, completed, …); NULL while ringing
    # or when no call was placed. Every call of the current level ending unanswered moves the alert on at once.
    call_status: Mapped[str | None] = mapped_column(sa.String(20))
    alert: Mapped[Alert] = relationship(back_populates="notifications")
