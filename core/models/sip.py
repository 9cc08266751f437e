"""What the web and worker processes ask of the SIP endpoint process, and what that process reports back."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base

SIP_COMMAND_KINDS = ("dial", "update", "hangup")
SIP_COMMAND_STATUSES = ("pending", "claimed", "done", "failed", "expired")


class SipCommand(Base):
    """A request to the `xiaoyuan phone` process: place a call, redirect a live call, or hang one up.

    The telephony port writes the row; an endpoint with a free channel claims a dial by a
    conditional update (so two endpoints never ring one person twice); a hang-up or redirect is
    claimed by the endpoint that holds the call. The call id is chosen here, when the row is written,
    so the caller can store it before the phone rings.
    """

    __tablename__ = "sip_command"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(8))  # dial / update / hangup
    call_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    status: Mapped[str] = mapped_column(sa.String(8), default="pending", index=True)
    to_number: Mapped[str | None] = mapped_column(sa.String(20))
    from_number: Mapped[str | None] = mapped_column(sa.String(20))
    flow_url: Mapped[str | None] = mapped_column(sa.String(500))  # what to run when answered / redirected to
    status_url: Mapped[str | None] = mapped_column(sa.String(500))  # whose state machine hears the progress
    timeout_s: Mapped[int | None]
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(100), unique=True)
    endpoint: Mapped[str | None] = mapped_column(sa.String(64))  # the endpoint that claimed it
    error: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
    claimed_at: Mapped[dt.datetime | None]


class SipEndpointStatus(Base):
    """One `xiaoyuan phone` process: its heartbeat and counters, read by /metrics in any process."""

    __tablename__ = "sip_endpoint"
    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # bind:port
    started_at: Mapped[dt.datetime]
    heartbeat_at: Mapped[dt.datetime]
    active_calls: Mapped[int] = mapped_column(default=0)
    calls_in: Mapped[int] = mapped_column(default=0)
    calls_out: Mapped[int] = mapped_column(default=0)
    busy_rejected: Mapped[int] = mapped_column(default=0)  # INVITEs answered 486 because every channel was in use
    forbidden: Mapped[int] = mapped_column(default=0)  # INVITEs from an address not allowed to call in
    frames_in: Mapped[int] = mapped_column(default=0)
    frames_out: Mapped[int] = mapped_column(default=0)
    frames_dropped: Mapped[int] = mapped_column(default=0)
