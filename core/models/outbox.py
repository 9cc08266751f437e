"""The notification outbox: one row per message to deliver, written with the change that caused it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base

OUTBOX_STATUSES = ("pending", "sent", "not_sent", "failed", "cancelled")


class OutboxMessage(Base):
    """A message to someone through a channel; the dispatcher delivers it at least once."""

    __tablename__ = "outbox_message"
    __table_args__ = (sa.Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    dedup_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    recipient_name: Mapped[str] = mapped_column(sa.String(80), default="")
    recipient_phone: Mapped[str | None] = mapped_column(sa.String(20))
    recipient_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(20))
    fallback_channels: Mapped[list[Any]] = mapped_column(default=list)
    template: Mapped[str] = mapped_column(sa.String(60))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    text: Mapped[str] = mapped_column(sa.Text)
    priority: Mapped[int] = mapped_column(default=5)  # 0 most urgent
    status: Mapped[str] = mapped_column(sa.String(12), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime]
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    provider_ref: Mapped[str | None] = mapped_column(sa.String(100))
    subject_type: Mapped[str | None] = mapped_column(sa.String(30))
    subject_id: Mapped[int | None]
    village_id: Mapped[int | None] = mapped_column(sa.ForeignKey("village.id"), index=True)
    created_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]
