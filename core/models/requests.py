"""Requests (工单): anything a resident reports or asks for, with its timeline."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import Base

CHANNELS = ("tv", "phone", "console", "qr", "wristband", "api")
STATUSES = ("new", "assigned", "in_progress", "resolved", "evaluated", "closed")


class Request(Base):
    """One 工单. Place columns are copied at submit time so scoping needs no joins."""

    __tablename__ = "request"
    __table_args__ = (sa.Index("ix_request_status_due", "status", "due_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(20), index=True)
    channel: Mapped[str] = mapped_column(sa.String(12))
    status: Mapped[str] = mapped_column(sa.String(12), default="new")
    text: Mapped[str] = mapped_column(sa.Text, default="")
    transcript: Mapped[str | None] = mapped_column(sa.Text)
    confidence: Mapped[float | None]
    recording_url: Mapped[str | None] = mapped_column(sa.String(500))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    urgent: Mapped[bool] = mapped_column(default=False)
    resident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("resident.id"), index=True)
    household_id: Mapped[int | None] = mapped_column(sa.ForeignKey("household.id"), index=True)
    courtyard_id: Mapped[int | None] = mapped_column(sa.ForeignKey("courtyard.id"), index=True)
    village_id: Mapped[int | None] = mapped_column(sa.ForeignKey("village.id"), index=True)
    town_id: Mapped[int | None] = mapped_column(sa.ForeignKey("town.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    due_at: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime | None]
    resolved_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    resolution: Mapped[str] = mapped_column(sa.Text, default="")
    satisfaction: Mapped[str | None] = mapped_column(sa.String(20))  # satisfied / basic / dissatisfied / unevaluated
    reopen_count: Mapped[int] = mapped_column(default=0)
    supervised: Mapped[bool] = mapped_column(default=False)  # 挂牌督办
    overdue_level: Mapped[int] = mapped_column(default=0)  # 0 none, 1 assignee told, 2 village, 3 town
    events: Mapped[list[RequestEvent]] = relationship(
        back_populates="request", order_by="RequestEvent.id", cascade="all, delete-orphan"
    )
    resident: Mapped[Any] = relationship("Resident")
    assignee: Mapped[Any] = relationship("User", foreign_keys=[assignee_id])


class RequestEvent(Base):
    """One entry of a request's timeline: who did what, when, why."""

    __tablename__ = "request_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("request.id"), index=True)
    at: Mapped[dt.datetime]
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    actor_label: Mapped[str] = mapped_column(sa.String(80))
    action: Mapped[str] = mapped_column(sa.String(20))
    from_status: Mapped[str | None] = mapped_column(sa.String(12))
    to_status: Mapped[str | None] = mapped_column(sa.String(12))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    request: Mapped[Request] = relationship(back_populates="events")
