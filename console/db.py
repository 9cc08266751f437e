"""One database session per web request, kept on flask.g and closed when the request ends."""

from __future__ import annotations

from flask import g
from sqlalchemy.orm import Session

from core.container import current_services

_KEY = "_xiaoyuan_db_session"


def db_session() -> Session:
    """The session of the current request (opened on first use, closed in teardown).

    Views commit it themselves (`db_session().commit()`); anything not committed is rolled back.
    """
    session = g.get(_KEY)
    if session is None:
        session = current_services().session_factory()
        setattr(g, _KEY, session)
    return session


def close_db_session(_exc: BaseException | None = None) -> None:
    """Teardown hook: roll back anything uncommitted and return the connection to the pool."""
    session = g.pop(_KEY, None)
    if session is not None:
        session.close()
