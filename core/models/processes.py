"""Process status rows: each long-running process's heartbeat, health state and counters."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base


class ProcessStatus(Base):
    """One running listener / worker / `run` process, upserted every few seconds and read by any web process.

    The database is the only state the processes share, so /healthz and /metrics in a gunicorn worker can
    tell whether a listener on another machine hears the broker and whether the lease-holding worker's
    dispatcher is turning.
    """

    __tablename__ = "process_status"
    name: Mapped[str] = mapped_column(sa.String(120), primary_key=True)  # host:pid
    role: Mapped[str] = mapped_column(sa.String(20))
    started_at: Mapped[dt.datetime]
    heartbeat_at: Mapped[dt.datetime] = mapped_column(index=True)
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)  # per part: {"listener": {...}, "worker": {...}}
    counters: Mapped[dict[str, Any]] = mapped_column(default=dict)  # metric -> [help, {kind: value}]
