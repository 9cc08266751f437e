"""Help calls (一键呼叫): a snapshot of the caregiver chain and one leg per dial attempt."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import Base

# calling: a leg is ringing; reached: someone pressed 1; bridged: put through to the resident;
# failed_round: the whole chain failed once (messages sent, waiting to retry); failed: gave up;
# cancelled: cancelled before dialling; told: too many starts from one box in a short time, so nobody was
# dialled and staff were told instead.
HELP_CALL_STATUSES = ("pending", "calling", "reached", "bridged", "failed_round", "failed", "cancelled", "told")
LEG_STATUSES = ("queued", "ringing", "answered", "accepted", "no_answer", "busy", "failed", "declined", "completed")


class HelpCall(Base):
    """One 一键呼叫 from the TV, the phone or the console, walked through the chain by the dialler."""

    __tablename__ = "help_call"
    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("household.id"), index=True)
    resident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("resident.id"), index=True)
    courtyard_id: Mapped[int | None] = mapped_column(sa.ForeignKey("courtyard.id"), index=True)
    village_id: Mapped[int | None] = mapped_column(sa.ForeignKey("village.id"), index=True)
    town_id: Mapped[int | None] = mapped_column(sa.ForeignKey("town.id"), index=True)
    source: Mapped[str] = mapped_column(sa.String(12))  # tv / phone / console / wristband
    box_id: Mapped[int | None] = mapped_column(index=True)  # the TV box pressed (no FK: boxes are forgotten)
    status: Mapped[str] = mapped_column(sa.String(14), default="pending")
    chain: Mapped[list[Any]] = mapped_column(default=list)  # snapshot: [{name, phone, kind, relation}]
    current_index: Mapped[int] = mapped_column(default=0)
    round: Mapped[int] = mapped_column(default=1)
    dryrun: Mapped[bool] = mapped_column(default=False)
    reached_name: Mapped[str | None] = mapped_column(sa.String(80))
    next_action_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    legs: Mapped[list[HelpCallLeg]] = relationship(
        back_populates="help_call", order_by="HelpCallLeg.id", cascade="all, delete-orphan"
    )


class HelpCallLeg(Base):
    """One outbound call to one person in the chain."""

    __tablename__ = "help_call_leg"
    id: Mapped[int] = mapped_column(primary_key=True)
    help_call_id: Mapped[int] = mapped_column(sa.ForeignKey("help_call.id"), index=True)
    position: Mapped[int]
    round: Mapped[int] = mapped_column(default=1)
    name: Mapped[str] = mapped_column(sa.String(80))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(12), default="queued")
    provider_call_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    started_at: Mapped[dt.datetime]
    deadline_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime | None]
    digits: Mapped[str | None] = mapped_column(sa.String(10))
    help_call: Mapped[HelpCall] = relationship(back_populates="legs")
