"""Rewards (积分超市 catalogue) and redemptions with their 4-digit pickup codes."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import Base

REDEMPTION_STATUSES = ("open", "collected", "cancelled")


class Reward(Base):
    """Something a household can take for points: offered by a village, or by one 小院 of it."""

    __tablename__ = "reward"
    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = mapped_column(sa.ForeignKey("village.id"), index=True)
    courtyard_id: Mapped[int | None] = mapped_column(sa.ForeignKey("courtyard.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    description: Mapped[str] = mapped_column(sa.String(300), default="")
    photo_url: Mapped[str] = mapped_column(sa.String(300), default="")
    cost: Mapped[int]
    stock: Mapped[int] = mapped_column(default=0)
    pickup_place: Mapped[str] = mapped_column(sa.String(120), default="")  # empty: the 小院's pickup place
    active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class Redemption(Base):
    """One redemption. `open_code` equals `code` while open and is NULL after, so the unique
    constraint makes a pickup code unique among the open redemptions of a village only."""

    __tablename__ = "redemption"
    __table_args__ = (
        sa.UniqueConstraint("village_id", "open_code", name="uq_redemption_village_open_code"),
        sa.UniqueConstraint("household_id", "request_key", name="uq_redemption_household_request_key"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("household.id"), index=True)
    reward_id: Mapped[int] = mapped_column(sa.ForeignKey("reward.id"), index=True)
    courtyard_id: Mapped[int] = mapped_column(sa.ForeignKey("courtyard.id"), index=True)
    village_id: Mapped[int] = mapped_column(sa.ForeignKey("village.id"), index=True)
    town_id: Mapped[int] = mapped_column(sa.ForeignKey("town.id"), index=True)
    reward_name: Mapped[str] = mapped_column(sa.String(80))
    cost: Mapped[int]
    code: Mapped[str] = mapped_column(sa.String(4))
    open_code: Mapped[str | None] = mapped_column(sa.String(4))
    pickup_place: Mapped[str] = mapped_column(sa.String(120), default="")
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    request_key: Mapped[str | None] = mapped_column(sa.String(40))  # the confirm screen's nonce (double press)
    source: Mapped[str] = mapped_column(sa.String(12), default="tv")
    created_at: Mapped[dt.datetime]
    collected_at: Mapped[dt.datetime | None]
    collected_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    cancelled_at: Mapped[dt.datetime | None]
    cancelled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    cancel_reason: Mapped[str] = mapped_column(sa.String(200), default="")
    reward: Mapped[Reward] = relationship()
