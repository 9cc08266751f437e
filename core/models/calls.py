"""The phone line's records: call logs, recordings (and their transcription), dry-run telephony and SMS reply codes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base

RECORDING_STATUSES = ("pending", "running", "done", "failed", "skipped")


class CallLog(Base):
    """One phone call (inbound to the village line, or outbound: help-call legs, confirmations)."""

    __tablename__ = "call_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    provider_call_id: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    direction: Mapped[str] = mapped_column(sa.String(10), default="inbound")  # inbound / outbound
    caller: Mapped[str | None] = mapped_column(sa.String(20))  # E.164 when known (never logged in full)
    called: Mapped[str | None] = mapped_column(sa.String(20))
    resident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("resident.id"), index=True)
    household_id: Mapped[int | None] = mapped_column(sa.ForeignKey("household.id"), index=True)
    courtyard_id: Mapped[int | None] = mapped_column(sa.ForeignKey("courtyard.id"), index=True)
    village_id: Mapped[int | None] = mapped_column(sa.ForeignKey("village.id"), index=True)
    unknown_caller: Mapped[bool] = mapped_column(default=False)  # flagged for staff
    path: Mapped[list[Any]] = mapped_column(default=list)  # steps taken: ["menu", "key:1", ...]
    transcripts: Mapped[list[Any]] = mapped_column(default=list)  # [{text, confidence, intent}]
    outcome: Mapped[str] = mapped_column(sa.String(40), default="")
    request_id: Mapped[int | None] = mapped_column(sa.ForeignKey("request.id"))
    help_call_id: Mapped[int | None] = mapped_column(sa.ForeignKey("help_call.id"))
    status: Mapped[str] = mapped_column(sa.String(20), default="in-progress")
    started_at: Mapped[dt.datetime] = mapped_column(index=True)
    ended_at: Mapped[dt.datetime | None]
    duration_s: Mapped[int | None]


class CallRecording(Base):
    """One recording made during a call; transcribed off the webhook thread when speech is enabled.

    Any web process may pick a pending one up (the claim is a row update), so a restart loses nothing.
    """

    __tablename__ = "call_recording"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_log_id: Mapped[int | None] = mapped_column(sa.ForeignKey("call_log.id"), index=True)
    recording_url: Mapped[str] = mapped_column(sa.String(500))  # provider URL (authenticated)
    duration_s: Mapped[int | None]
    purpose: Mapped[str] = mapped_column(sa.String(20), default="menu")  # menu / sell / message / identity
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")  # pending/running/done/failed/skipped
    text: Mapped[str | None] = mapped_column(sa.Text)
    confidence: Mapped[float | None]
    request_id: Mapped[int | None] = mapped_column(sa.ForeignKey("request.id"))  # its transcript is filled in
    local_file: Mapped[str | None] = mapped_column(sa.String(300))  # relative to the data dir
    error: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
    claimed_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class DryRunRecord(Base):
    """A call or SMS the dry-run provider recorded instead of sending (shown in the console as not sent)."""

    __tablename__ = "telephony_dryrun"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(6))  # call / sms / update / hangup
    ref: Mapped[str] = mapped_column(sa.String(64), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    to_number: Mapped[str | None] = mapped_column(sa.String(20))
    from_number: Mapped[str | None] = mapped_column(sa.String(20))
    url: Mapped[str | None] = mapped_column(sa.String(500))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[str] = mapped_column(sa.String(12), default="not_sent")
    created_at: Mapped[dt.datetime]


class WebhookReceipt(Base):
    """A provider webhook already acted on (call id + step + its one-time token, or a recording id).

    A repeated delivery is answered with the stored document instead of acting twice.
    """

    __tablename__ = "webhook_receipt"
    __table_args__ = (sa.UniqueConstraint("call_id", "key", name="uq_webhook_receipt_call_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(sa.String(64))
    key: Mapped[str] = mapped_column(sa.String(200))
    response: Mapped[str | None] = mapped_column(sa.Text)  # None while the first delivery is still being served
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
