"""Injectable clocks: services never read the wall clock directly, so tests never sleep."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol
from zoneinfo import ZoneInfo

UTC = dt.UTC
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    """Anything that can tell the current time in UTC."""

    def now(self) -> dt.datetime:
        """Return the current time as an aware UTC datetime."""


class SystemClock:
    """The real wall clock."""

    def now(self) -> dt.datetime:
        """Return the current time as an aware UTC datetime."""
        return dt.datetime.now(UTC)


class FakeClock:
    """A clock that only moves when a test tells it to."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._now = start or dt.datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        """Return the fake current time."""
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> dt.datetime:
        """Move time forward by a timedelta given as keyword arguments."""
        with self._lock:
            self._now = self._now + dt.timedelta(**delta)
            return self._now

    def set(self, when: dt.datetime) -> None:
        """Jump to an absolute time (aware)."""
        with self._lock:
            self._now = when.astimezone(UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """Treat naive datetimes (as SQLite returns them) as UTC and convert aware ones to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_local(value: dt.datetime) -> dt.datetime:
    """Convert a stored UTC datetime to Asia/Shanghai for display."""
    return as_utc(value).astimezone(LOCAL_TZ)
