"""Rubbish bins with a QR label (爱环境): the registry, every scan of a label, and the photos scans carried."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import Base
from core.models.places import Courtyard
from core.models.staff import User

REPORT_KINDS = ("full", "broken", "smell", "other")


class Bin(Base):
    """A rubbish bin in a 小院; its label's QR code opens /q/<token>, so the token is public but unguessable."""

    __tablename__ = "rubbish_bin"
    __table_args__ = (sa.UniqueConstraint("courtyard_id", "name", name="uq_rubbish_bin_courtyard_name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    courtyard_id: Mapped[int] = mapped_column(sa.ForeignKey("courtyard.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(80))
    location: Mapped[str] = mapped_column(sa.String(200), default="")
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    cleaner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"), index=True)
    token: Mapped[str] = mapped_column(sa.String(32), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime]
    # The one open 爱环境 request of this bin; further scans add to it instead of opening another.
    open_request_id: Mapped[int | None] = mapped_column(sa.ForeignKey("request.id"))
    # Bumped by every scan first thing: the row lock it takes makes concurrent scans of one bin queue up.
    scan_seq: Mapped[int] = mapped_column(default=0, server_default="0")
    courtyard: Mapped[Courtyard] = relationship()
    cleaner: Mapped[User | None] = relationship(foreign_keys=[cleaner_id])


class BinReport(Base):
    """One scan that was let through: which bin, what was wrong, and the request it was added to."""

    __tablename__ = "bin_report"
    id: Mapped[int] = mapped_column(primary_key=True)
    bin_id: Mapped[int] = mapped_column(sa.ForeignKey("rubbish_bin.id"), index=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("request.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(12))
    at: Mapped[dt.datetime] = mapped_column(index=True)
    # The household whose registered phone the reporter left (same village as the bin), owed 环境卫生 points
    # once the bin is emptied; cleared then. The number itself is never stored.
    household_id: Mapped[int | None] = mapped_column(sa.ForeignKey("household.id"))


class BinPhoto(Base):
    """A photo a scan carried, kept in the data dir under a random name; staff see it with the bin's request."""

    __tablename__ = "bin_photo"
    id: Mapped[int] = mapped_column(primary_key=True)
    bin_id: Mapped[int] = mapped_column(sa.ForeignKey("rubbish_bin.id"), index=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("request.id"), index=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("bin_report.id"))
    # Relative to the data dir: "bin-photos/<32 hex>.<jpg|png|webp>" (the name says nothing, the type is by content).
    file: Mapped[str] = mapped_column(sa.String(80), unique=True)
    size: Mapped[int]
    at: Mapped[dt.datetime] = mapped_column(index=True)
