"""TV set-top boxes and their pairing codes."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base

BOX_STATUSES = ("pending", "paired", "revoked")


class TvBox(Base):
    """A set-top box known by its token (stored as a SHA-256 hash); bound to one household when paired."""

    __tablename__ = "tv_box"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    status: Mapped[str] = mapped_column(sa.String(10), default="pending")
    household_id: Mapped[int | None] = mapped_column(sa.ForeignKey("household.id"), index=True)
    label: Mapped[str] = mapped_column(sa.String(80), default="")
    text_size: Mapped[str] = mapped_column(sa.String(10), default="standard")  # standard / large
    # 语音导读: every focus move speaks the focused tile or row (many elders cannot read).
    voice_guide: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    client_addr: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
    paired_at: Mapped[dt.datetime | None]
    paired_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    revoked_at: Mapped[dt.datetime | None]
    last_seen_at: Mapped[dt.datetime | None]


class TvPairingCode(Base):
    """A 6-digit code shown on an unpaired box: valid for minutes, used once."""

    __tablename__ = "tv_pairing_code"
    __table_args__ = (sa.Index("ix_tv_pairing_code_code_expires", "code", "expires_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    box_id: Mapped[int] = mapped_column(sa.ForeignKey("tv_box.id"), index=True)
    code: Mapped[str] = mapped_column(sa.String(6))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
