"""Attempt limits shared by every process: each attempt is a committed row, counted after it is written.

A limit kept in one process's memory multiplies by the number of processes (`gunicorn -w 4`) and
forgets everything at a restart; a "count, then try, then record" check lets concurrent attempts all
pass the count before any is recorded. Here an attempt is first written and committed, and only then
are the bucket's attempts in the window counted, including its own. Whichever of N concurrent
attempts commits k-th sees at least k rows, so no more than `limit` attempts can ever be let through
on SQLite or PostgreSQL, with no lock held across the attempt. A refused attempt removes its own
row (so hammering does not extend a lockout forever); a successful one may be forgiven.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from core.models.throttle import ThrottleHit

KEEP = dt.timedelta(days=1)  # hits older than this are deleted when their bucket is next used
_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(text: str) -> tuple[int, dt.timedelta]:
    """ "10 per minute", "10 per 15 minutes" or "10/hour" as (limit, window); ValueError when unreadable."""
    amount, sep, period = text.strip().lower().replace("/", " per ", 1).partition(" per ")
    parts = period.split()
    if not sep or not amount.strip().isdigit() or not 1 <= len(parts) <= 2:
        raise ValueError(f"unreadable rate: {text!r}")
    count = int(parts[0]) if len(parts) == 2 and parts[0].isdigit() else 1
    unit = parts[-1].rstrip("s")
    if unit not in _UNITS or (len(parts) == 2 and not parts[0].isdigit()):
        raise ValueError(f"unreadable rate: {text!r}")
    return int(amount), dt.timedelta(seconds=count * _UNITS[unit])


@dataclass(frozen=True)
class Verdict:
    """The outcome of counting one attempt: whether it may go ahead, and its hit (to forgive it later)."""

    allowed: bool
    hit_id: int | None
    count: int


def take(session_factory: sessionmaker[Session], *, bucket: str, now: dt.datetime, window: dt.timedelta,
         limit: int) -> Verdict:
    """Count one attempt against `bucket`: allowed while at most `limit` attempts fall in the window."""
    bucket = bucket[:200]
    with session_factory() as session, session.begin():
        session.execute(sa.delete(ThrottleHit).where(ThrottleHit.bucket == bucket, ThrottleHit.at < now - KEEP))
        hit = ThrottleHit(bucket=bucket, at=now)
        session.add(hit)
        session.flush()
        hit_id = hit.id
    with session_factory() as session, session.begin():
        count = int(session.scalar(sa.select(sa.func.count(ThrottleHit.id)).where(
            ThrottleHit.bucket == bucket, ThrottleHit.at > now - window)) or 0)
        if count > limit:
            session.execute(sa.delete(ThrottleHit).where(ThrottleHit.id == hit_id))
            return Verdict(allowed=False, hit_id=None, count=count - 1)
    return Verdict(allowed=True, hit_id=hit_id, count=count)


def take_each(session_factory: sessionmaker[Session], *, now: dt.datetime,
              limits: Iterable[tuple[str, int, dt.timedelta]]) -> list[Verdict] | None:
    """Count one attempt against each (bucket, limit, window) in turn: None at the first that refuses it
    (the later ones are not counted), else every verdict (to forgive them when the attempt succeeds)."""
    verdicts = []
    for bucket, limit, window in limits:
        verdict = take(session_factory, bucket=bucket, now=now, window=window, limit=limit)
        if not verdict.allowed:
            return None
        verdicts.append(verdict)
    return verdicts


def forgive(session: Session, hit_id: int | None) -> None:
    """Stop counting one allowed attempt (it succeeded), in the caller's transaction."""
    if hit_id is not None:
        session.execute(sa.delete(ThrottleHit).where(ThrottleHit.id == hit_id))


def recent_count(session: Session, *, bucket: str, now: dt.datetime, window: dt.timedelta) -> int:
    """How many attempts count against `bucket` right now (without adding one)."""
    return int(session.scalar(sa.select(sa.func.count(ThrottleHit.id)).where(
        ThrottleHit.bucket == bucket[:200], ThrottleHit.at > now - window)) or 0)
