"""Daily check-ins (我很好) from the TV, one per household and local day."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base


class CheckIn(Base):
    """A household said "I'm fine today" on a local (Asia/Shanghai) date."""

    __tablename__ = "check_in"
    __table_args__ = (sa.UniqueConstraint("household_id", "local_date", name="uq_check_in_household_local_date"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("household.id"), index=True)
    resident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("resident.id"))
    courtyard_id: Mapped[int] = mapped_column(sa.ForeignKey("courtyard.id"), index=True)
    village_id: Mapped[int] = mapped_column(sa.ForeignKey("village.id"), index=True)
    town_id: Mapped[int] = mapped_column(sa.ForeignKey("town.id"), index=True)
    local_date: Mapped[dt.date] = mapped_column(index=True)
    at: Mapped[dt.datetime]
    source: Mapped[str] = mapped_column(sa.String(12), default="tv")
