"""Notices (通知 / 经验宣传 / 政策 / 会议 / 招工) for the TV, with per-household read markers."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base

NOTICE_CATEGORIES = ("notice", "experience", "policy", "meeting", "jobs")
AUDIENCES = ("town", "village", "courtyard")


class Notice(Base):
    """A notice for a town, a village or one 小院, visible within its publish window."""

    __tablename__ = "notice"
    __table_args__ = (sa.Index("ix_notice_window", "publish_from", "publish_until"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(120))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    category: Mapped[str] = mapped_column(sa.String(12), default="notice")
    audience: Mapped[str] = mapped_column(sa.String(10))
    town_id: Mapped[int] = mapped_column(sa.ForeignKey("town.id"), index=True)
    village_id: Mapped[int | None] = mapped_column(sa.ForeignKey("village.id"), index=True)
    courtyard_id: Mapped[int | None] = mapped_column(sa.ForeignKey("courtyard.id"), index=True)
    photo_url: Mapped[str] = mapped_column(sa.String(300), default="")
    event_at: Mapped[dt.datetime | None]  # a meeting's time: shown on the TV home that day
    publish_from: Mapped[dt.datetime]
    publish_until: Mapped[dt.datetime | None]
    pinned: Mapped[bool] = mapped_column(default=False)
    withdrawn: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class NoticeRead(Base):
    """A household has opened a notice on its TV."""

    __tablename__ = "notice_read"
    notice_id: Mapped[int] = mapped_column(sa.ForeignKey("notice.id"), primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("household.id"), primary_key=True, index=True)
    read_at: Mapped[dt.datetime]
