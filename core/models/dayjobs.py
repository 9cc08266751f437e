"""找活干: day jobs posted by village cadres, and who signed up for them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import Base

JOB_STATUSES = ("open", "closed")
SIGNUP_CHANNELS = ("tv", "phone", "console")


class DayJob(Base):
    """A day's work (摘花椒, ¥100/天) in a village, or town-wide when village_id is empty."""

    __tablename__ = "day_job"
    __table_args__ = (sa.Index("ix_day_job_status_date", "status", "work_date"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    town_id: Mapped[int] = mapped_column(sa.ForeignKey("town.id"), index=True)
    village_id: Mapped[int | None] = mapped_column(sa.ForeignKey("village.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(60))
    pay: Mapped[str] = mapped_column(sa.String(30))  # as the cadre says it: "100元/天"
    place: Mapped[str] = mapped_column(sa.String(80))
    work_date: Mapped[dt.date]
    workers: Mapped[int]  # how many people are wanted
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    posted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    signups: Mapped[list[JobSignup]] = relationship(back_populates="job", order_by="JobSignup.id")


class JobSignup(Base):
    """A household (from its TV or phone) wants the job; the poster and the 院长 were told."""

    __tablename__ = "job_signup"
    __table_args__ = (sa.UniqueConstraint("job_id", "household_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("day_job.id"), index=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("household.id"), index=True)
    resident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("resident.id"))
    channel: Mapped[str] = mapped_column(sa.String(10))
    created_at: Mapped[dt.datetime]
    job: Mapped[DayJob] = relationship(back_populates="signups")
    household: Mapped[Any] = relationship("Household")
    resident: Mapped[Any] = relationship("Resident")
