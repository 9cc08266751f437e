"""People and places: town → village → 小院 (courtyard) → household → resident, and caregiver chains."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import Base


class Town(Base):
    """A town (镇/街道) with its command centre (指挥中心)."""

    __tablename__ = "town"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    villages: Mapped[list[Village]] = relationship(back_populates="town", order_by="Village.id")


class Village(Base):
    """A village (村/社区) within a town."""

    __tablename__ = "village"
    __table_args__ = (sa.UniqueConstraint("town_id", "name", name="uq_village_town_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    town_id: Mapped[int] = mapped_column(sa.ForeignKey("town.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    # E.164 number of whoever is on duty for the village (值班电话): the fallback person for the phone
    # line's 找人工 / 找院长, and the one unknown callers' requests and the help-call chain end with.
    duty_phone: Mapped[str | None] = mapped_column(sa.String(20), default=None)
    town: Mapped[Town] = relationship(back_populates="villages")
    courtyards: Mapped[list[Courtyard]] = relationship(back_populates="village", order_by="Courtyard.id")


class Courtyard(Base):
    """A 小院: 10–30 households with one 院长 (courtyard head, a staff user)."""

    __tablename__ = "courtyard"
    __table_args__ = (sa.UniqueConstraint("village_id", "name", name="uq_courtyard_village_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = mapped_column(sa.ForeignKey("village.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    head_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id", use_alter=True), index=True)
    pickup_place: Mapped[str] = mapped_column(sa.String(120), default="")
    village: Mapped[Village] = relationship(back_populates="courtyards")
    households: Mapped[list[Household]] = relationship(back_populates="courtyard", order_by="Household.id")
    head: Mapped[Any] = relationship("User", foreign_keys=[head_user_id])


class Household(Base):
    """A household (户) in a 小院; the unit that collects points and owns a TV box."""

    __tablename__ = "household"
    id: Mapped[int] = mapped_column(primary_key=True)
    courtyard_id: Mapped[int] = mapped_column(sa.ForeignKey("courtyard.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    # 户号 from the county's roster: with the village and a resident's name, the key a re-import matches on.
    number: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    address: Mapped[str] = mapped_column(sa.String(200), default="")
    landline: Mapped[str | None] = mapped_column(sa.String(20))
    created_at: Mapped[dt.datetime]
    courtyard: Mapped[Courtyard] = relationship(back_populates="households")
    residents: Mapped[list[Resident]] = relationship(back_populates="household", order_by="Resident.id")


class Resident(Base):
    """A person living in a household."""

    __tablename__ = "resident"
    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("household.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    phone: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    birth_year: Mapped[int | None]
    lives_alone: Mapped[bool] = mapped_column(default=False)
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    erased: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime]
    household: Mapped[Household] = relationship(back_populates="residents")
    caregivers: Mapped[list[CaregiverLink]] = relationship(
        back_populates="resident", order_by="CaregiverLink.position", cascade="all, delete-orphan"
    )


CAREGIVER_KINDS = ("family", "courtyard_head", "doctor", "grid_worker", "other")


class CaregiverLink(Base):
    """One step of a resident's ordered caregiver chain (family, 院长, village doctor, 网格员)."""

    __tablename__ = "caregiver_link"
    __table_args__ = (sa.UniqueConstraint("resident_id", "position", name="uq_caregiver_link_resident_position"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(sa.ForeignKey("resident.id"), index=True)
    position: Mapped[int]
    kind: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str] = mapped_column(sa.String(80))
    relation: Mapped[str] = mapped_column(sa.String(40), default="")
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    channels: Mapped[list[Any]] = mapped_column(default=list)
    hours_start: Mapped[int | None]  # local hour 0–23 from which normal messages may reach them
    hours_end: Mapped[int | None]
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"), index=True)
    resident: Mapped[Resident] = relationship(back_populates="caregivers")
