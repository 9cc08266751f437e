"""Console sign-in sessions: what a session cookie must carry to stay valid, and ending them server-side.

A signed cookie cannot be taken back once issued, so each one carries the user's `session_version`
from the database and the times it was started and last used. A cookie whose version is older than
the user's (after logout, a password change, deactivation, a role or place change), that has been
idle too long or has lived past its absolute lifetime is refused. The rules are pure functions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models.staff import User
from core.people.audit import record_audit

VERSION_KEY = "_xy_sv"
STARTED_KEY = "_xy_started"
SEEN_KEY = "_xy_seen"
SEEN_RESOLUTION_S = 60  # refresh "last seen" at most once a minute, so not every response sets a cookie


@dataclass(frozen=True)
class SessionPolicy:
    """How long a console session lives: idle timeout and absolute lifetime."""

    idle: dt.timedelta = dt.timedelta(minutes=120)
    lifetime: dt.timedelta = dt.timedelta(hours=12)

    @classmethod
    def from_settings(cls, settings: Any) -> SessionPolicy:
        """The `[web]` session_idle_minutes and session_max_hours."""
        web = settings.web
        return cls(idle=dt.timedelta(minutes=web.session_idle_minutes),
                   lifetime=dt.timedelta(hours=web.session_max_hours))


def stamp(cookie: MutableMapping[str, Any], *, version: int, now: dt.datetime) -> None:
    """Write a new session's marks (at sign-in)."""
    ts = int(now.timestamp())
    cookie[VERSION_KEY] = version
    cookie[STARTED_KEY] = ts
    cookie[SEEN_KEY] = ts


def is_live(cookie: Mapping[str, Any], *, version: int, now: dt.datetime, policy: SessionPolicy) -> bool:
    """Whether a session with these marks is still valid for a user now at `version`."""
    try:
        marked, started, seen = int(cookie[VERSION_KEY]), int(cookie[STARTED_KEY]), int(cookie[SEEN_KEY])
    except (KeyError, TypeError, ValueError):
        return False  # a cookie from before sessions were revocable, or forged marks: sign in again
    ts = now.timestamp()
    return (marked == version and ts - seen <= policy.idle.total_seconds()
            and ts - started <= policy.lifetime.total_seconds())


def touch(cookie: MutableMapping[str, Any], *, now: dt.datetime) -> None:
    """Note that the session was used now (only when the last mark is older than a minute)."""
    ts = int(now.timestamp())
    if ts - int(cookie.get(SEEN_KEY, 0)) >= SEEN_RESOLUTION_S:
        cookie[SEEN_KEY] = ts


def end_all_sessions(session: Session, *, now: dt.datetime, user_id: int, actor: Any, reason: str) -> None:
    """End every console session of a user (their cookies stop working at the next request); audited."""
    session.execute(sa.update(User).where(User.id == user_id)
                    .values(session_version=User.session_version + 1)
                    .execution_options(synchronize_session=False))
    record_audit(session, at=now, actor=actor, action="user.sessions_ended", entity_type="user", entity_id=user_id,
                 reason=reason)
