"""Throttle hits: one row per counted attempt (a login, a pairing code), shared by every process."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base


class ThrottleHit(Base):
    """One attempt counted against a bucket (e.g. `login:user:alice`, `tv.pair:head_a`) at a time."""

    __tablename__ = "throttle_hit"
    __table_args__ = (sa.Index("ix_throttle_hit_bucket_at", "bucket", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    bucket: Mapped[str] = mapped_column(sa.String(200))
    at: Mapped[dt.datetime]
