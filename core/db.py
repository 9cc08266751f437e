"""Engines and sessions. Nothing is created at import time; callers build what they need."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from core.private_files import create_private_file

SQLITE_BUSY_TIMEOUT_MS = 15000


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


READ_ONLY_OPTION = "xiaoyuan_read_only"


def _sqlite_begin(conn) -> None:
    # Writers take the write lock when the transaction starts, so two writers never deadlock
    # on a lock upgrade (SQLite's "database is locked" under concurrency). Read-only units of
    # work begin deferred: in WAL mode they read a snapshot and never wait for the write lock.
    if conn.get_execution_options().get(READ_ONLY_OPTION):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, pool_size: int = 10) -> sa.Engine:
    """Create an engine with the settings each backend needs (WAL, foreign keys, busy timeout)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        db_path = sa.engine.make_url(url).database
        if db_path and db_path != ":memory:" and not db_path.startswith("file:"):
            # Personal data: the file (and so its -wal and -shm, which SQLite creates with the same
            # mode) is the service user's only; a new directory is 0700.
            create_private_file(Path(db_path))
        engine = sa.create_engine(
            url,
            connect_args={
                "check_same_thread": False,
                "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                "isolation_level": None,
            },
            pool_size=pool_size,
            max_overflow=20,
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True)


def make_session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error."""
    with factory() as session:
        with session.begin():
            yield session


@contextmanager
def read_only(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work that only reads: on SQLite it never queues behind writers; always rolled back."""
    with factory() as session:
        session.connection(execution_options=cast(Any, {READ_ONLY_OPTION: True}))  # a custom option, not a known key
        try:
            yield session
        finally:
            session.rollback()


def rows_changed(result: sa.Result[Any]) -> int:
    """How many rows an UPDATE or DELETE statement touched.

    `Session.execute` is typed as returning `Result`, but for DML it is a `CursorResult`, which has the count.
    """
    return cast("sa.CursorResult[Any]", result).rowcount
