"""The points ledger (积分): append-only entries per household, plus a per-household account row.

The balance is the sum of a household's entries. `PointAccount.balance` is kept equal to that sum in
the same transaction as every entry; it exists so that a redemption can take points with one
conditional UPDATE (atomic on SQLite and PostgreSQL) and never drive the balance below zero.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base


class PointEntry(Base):
    """One ledger line: never edited or deleted; a correction is a reversal entry."""

    __tablename__ = "point_entry"
    __table_args__ = (
        # Ranking of a 小院 / village over a period reads only these indexes (covering: household, delta).
        sa.Index("ix_point_entry_courtyard_time", "courtyard_id", "created_at", "household_id", "delta"),
        sa.Index("ix_point_entry_village_time", "village_id", "created_at", "household_id", "delta"),
        sa.Index("ix_point_entry_household_time", "household_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("household.id"))
    courtyard_id: Mapped[int] = mapped_column(sa.ForeignKey("courtyard.id"))
    village_id: Mapped[int] = mapped_column(sa.ForeignKey("village.id"))
    town_id: Mapped[int] = mapped_column(sa.ForeignKey("town.id"), index=True)
    delta: Mapped[int]
    category: Mapped[str] = mapped_column(sa.String(20))
    reason: Mapped[str] = mapped_column(sa.String(200), default="")
    source: Mapped[str] = mapped_column(sa.String(20))  # console / batch / redemption / refund / reversal / cli
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    actor_label: Mapped[str] = mapped_column(sa.String(80), default="system")
    reverses_id: Mapped[int | None] = mapped_column(sa.ForeignKey("point_entry.id"), unique=True)
    redemption_id: Mapped[int | None] = mapped_column(sa.ForeignKey("redemption.id", use_alter=True), index=True)
    batch_id: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    created_at: Mapped[dt.datetime]


class PointAccount(Base):
    """A household's running balance (always the sum of its entries); the row redemptions lock."""

    __tablename__ = "point_account"
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("household.id"), primary_key=True)
    balance: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[dt.datetime]
