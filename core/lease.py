"""Named leases in the database: at most one live holder per name (e.g. the one active worker).

A lease is held until `expires_at`; the holder renews it well before then. Anyone may take it over
once it has expired. Both operations are single conditional statements, so two processes racing for
the same lease on SQLite or PostgreSQL cannot both win.
"""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.db import rows_changed
from core.models.audit import WorkerLease

log = logging.getLogger(__name__)


def try_acquire(session_factory: sessionmaker[Session], name: str, holder: str, now: dt.datetime, ttl_s: float) -> bool:
    """Acquire or renew the lease `name` for `holder` until now + ttl_s; False while someone else holds it."""
    expires = now + dt.timedelta(seconds=ttl_s)
    with session_factory() as session:
        with session.begin():
            # One conditional UPDATE: renew our own lease, or take over an expired one. PostgreSQL
            # re-checks the WHERE clause after waiting for a concurrent writer's row lock, and SQLite
            # serialises writers (BEGIN IMMEDIATE), so only one of two racing takers gets a row.
            result = session.execute(
                sa.update(WorkerLease)
                .where(
                    WorkerLease.name == name,
                    sa.or_(WorkerLease.holder == holder, WorkerLease.expires_at <= now),
                )
                .values(
                    expires_at=expires,
                    acquired_at=sa.case((WorkerLease.holder == holder, WorkerLease.acquired_at), else_=now),
                    holder=holder,
                )
                .execution_options(synchronize_session=False)
            )
            if rows_changed(result) == 1:
                return True
            exists = session.scalar(sa.select(WorkerLease.name).where(WorkerLease.name == name))
        if exists is not None:
            return False
        # Nobody has ever held it: the primary key decides who inserts first.
        try:
            with session.begin():
                session.add(WorkerLease(name=name, holder=holder, expires_at=expires, acquired_at=now))
        except IntegrityError:
            return False
        return True


def release(session_factory: sessionmaker[Session], name: str, holder: str, now: dt.datetime) -> bool:
    """Give the lease up (if `holder` still holds it) so another holder can take it at once."""
    with session_factory() as session:
        with session.begin():
            result = session.execute(
                sa.update(WorkerLease)
                .where(WorkerLease.name == name, WorkerLease.holder == holder)
                .values(expires_at=now)
                .execution_options(synchronize_session=False)
            )
            return rows_changed(result) == 1


def current_holder(session_factory: sessionmaker[Session], name: str, now: dt.datetime) -> str | None:
    """Who holds the lease now (None when nobody does or it has expired)."""
    with session_factory() as session:
        lease = session.get(WorkerLease, name)
        if lease is None or lease.expires_at <= now:
            return None
        return lease.holder


def holder_of(session_factory: sessionmaker[Session], name: str) -> tuple[str, dt.datetime] | None:
    """The recorded holder of a lease and when it runs out, expired or not (None when never taken)."""
    with session_factory() as session:
        lease = session.get(WorkerLease, name)
        return None if lease is None else (lease.holder, lease.expires_at)


def take_over(session_factory: sessionmaker[Session], name: str, previous: str, holder: str, now: dt.datetime,
              ttl_s: float) -> bool:
    """Take the lease from `previous` before it expires (it is known to be dead); False if it changed meanwhile.

    One conditional UPDATE on the exact previous holder, so a renewal or another taker that got there
    first wins and this one loses.
    """
    with session_factory() as session:
        with session.begin():
            result = session.execute(
                sa.update(WorkerLease)
                .where(WorkerLease.name == name, WorkerLease.holder == previous)
                .values(holder=holder, acquired_at=now, expires_at=now + dt.timedelta(seconds=ttl_s))
                .execution_options(synchronize_session=False)
            )
            return rows_changed(result) == 1
