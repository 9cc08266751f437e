"""The table the telephony port and the SIP endpoint process share: requests in, claims and progress out.

The database is the only state shared between processes, so the port writes a `SipCommand` row and
returns at once; the `xiaoyuan phone` process claims rows by conditional update (a dial only when it
has a free channel, a hang-up or redirect only for a call it holds) and reports its own liveness and
counters in `SipEndpointStatus`, which /metrics reads from any process.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.clock import as_utc
from core.db import rows_changed
from core.models.sip import SipCommand, SipEndpointStatus

CALL_ID_PREFIX = "SIP"
DIAL_GRACE_S = 5  # a dial still unclaimed this long after its ring time is over is not placed any more
ALIVE_WITHIN_S = 15


def new_call_id() -> str:
    """A provider call id for a SIP call (chosen before the INVITE goes out)."""
    return f"{CALL_ID_PREFIX}{uuid.uuid4().hex}"


def request_dial(session: Session, *, now: dt.datetime, to: str, from_: str, flow_url: str, status_url: str,
                 timeout_s: int, idempotency_key: str | None = None) -> str:
    """Queue a call; return its call id (the one already queued for this idempotency key, if any)."""
    if idempotency_key is not None:
        known = session.scalar(sa.select(SipCommand.call_id).where(SipCommand.idempotency_key == idempotency_key))
        if known is not None:
            return known
    command = SipCommand(kind="dial", call_id=new_call_id(), to_number=to, from_number=from_ or None,
                         flow_url=flow_url, status_url=status_url, timeout_s=timeout_s,
                         idempotency_key=idempotency_key, created_at=now, error="")
    try:
        with session.begin_nested():
            session.add(command)
    except IntegrityError:  # a concurrent retry with the same key won the race
        known = session.scalar(sa.select(SipCommand.call_id).where(SipCommand.idempotency_key == idempotency_key))
        if known is None:
            raise
        return known
    return command.call_id


def request_update(session: Session, *, now: dt.datetime, call_id: str, flow_url: str) -> None:
    """Queue a redirect of a live call to another flow step."""
    session.add(SipCommand(kind="update", call_id=call_id, flow_url=flow_url, created_at=now, error=""))


def request_hangup(session: Session, *, now: dt.datetime, call_id: str) -> None:
    """Queue a hang-up; a dial of that call still waiting to be placed is cancelled outright."""
    pending = session.scalars(sa.select(SipCommand).where(SipCommand.call_id == call_id, SipCommand.kind == "dial",
                                                          SipCommand.status == "pending"))
    for command in pending:
        command.status, command.error = "done", "hung up before it was placed"
    session.add(SipCommand(kind="hangup", call_id=call_id, created_at=now, error=""))


@dataclass(frozen=True)
class ClaimedCommand:
    """A command an endpoint has claimed, detached from the session."""

    id: int
    kind: str
    call_id: str
    to_number: str | None
    flow_url: str | None
    status_url: str | None
    timeout_s: int
    created_at: dt.datetime


def _claimed(command: SipCommand) -> ClaimedCommand:
    return ClaimedCommand(command.id, command.kind, command.call_id, command.to_number, command.flow_url,
                          command.status_url, int(command.timeout_s or 0), as_utc(command.created_at))


def claim_commands(session: Session, *, now: dt.datetime, endpoint: str, free_channels: int,
                   live_calls: Collection[str], limit: int = 20) -> tuple[list[ClaimedCommand], list[ClaimedCommand]]:
    """Claim what this endpoint should do now: (dials it has channels for, hang-ups/redirects of its calls).

    Dials too old to ring anyone sensibly are marked expired, not placed, and returned as such so
    the caller can report them failed to whoever waits (kind "expired").
    """
    actions: list[ClaimedCommand] = []
    if live_calls:
        rows = session.scalars(sa.select(SipCommand).where(
            SipCommand.status == "pending", SipCommand.kind.in_(("update", "hangup")),
            SipCommand.call_id.in_(list(live_calls))).order_by(SipCommand.id).limit(limit))
        for row in rows:
            if _claim(session, row.id, endpoint, now):
                actions.append(_claimed(row))
    dials: list[ClaimedCommand] = []
    candidates = list(session.scalars(sa.select(SipCommand).where(SipCommand.status == "pending",
                                                                  SipCommand.kind == "dial")
                                      .order_by(SipCommand.id).limit(limit)))
    for row in candidates:
        too_old = as_utc(row.created_at) + dt.timedelta(seconds=int(row.timeout_s or 0) + DIAL_GRACE_S) < now
        if too_old:
            if _claim(session, row.id, endpoint, now, status="expired"):
                dials.append(replace(_claimed(row), kind="expired"))
            continue
        if len([d for d in dials if d.kind == "dial"]) >= free_channels:
            continue
        if _claim(session, row.id, endpoint, now):
            dials.append(_claimed(row))
    return dials, actions


def anything_pending(session: Session, live_calls: Collection[str]) -> bool:
    """A cheap read: is there a dial, or a command for one of these calls, waiting? (Polls take no write lock.)"""
    clause = SipCommand.kind == "dial"
    if live_calls:
        clause = sa.or_(clause, SipCommand.call_id.in_(list(live_calls)))
    return session.scalar(sa.select(SipCommand.id).where(SipCommand.status == "pending", clause).limit(1)) is not None


def _claim(session: Session, command_id: int, endpoint: str, now: dt.datetime, status: str = "claimed") -> bool:
    result = session.execute(sa.update(SipCommand).where(SipCommand.id == command_id, SipCommand.status == "pending")
                             .values(status=status, endpoint=endpoint, claimed_at=now))
    return bool(rows_changed(result))


def finish_command(session: Session, command_id: int, *, error: str = "") -> None:
    """Mark a claimed command done (or failed, with the reason)."""
    session.execute(sa.update(SipCommand).where(SipCommand.id == command_id)
                    .values(status="failed" if error else "done", error=error[:500]))


def dial_command(session: Session, call_id: str) -> SipCommand | None:
    """The dial that created a call (its flow and status URLs)."""
    return session.scalar(sa.select(SipCommand).where(SipCommand.call_id == call_id, SipCommand.kind == "dial"))


def save_endpoint_status(session: Session, *, name: str, now: dt.datetime, started_at: dt.datetime,
                         counters: dict[str, int]) -> None:
    """Write this endpoint's heartbeat and counters (one row per endpoint, upserted)."""
    row = session.get(SipEndpointStatus, name)
    if row is None:
        row = SipEndpointStatus(name=name, started_at=started_at, heartbeat_at=now)
        session.add(row)
    row.started_at, row.heartbeat_at = started_at, now
    for key, value in counters.items():
        setattr(row, key, int(value))


def endpoint_statuses(session: Session) -> list[SipEndpointStatus]:
    """Every endpoint that ever reported, by name."""
    return list(session.scalars(sa.select(SipEndpointStatus).order_by(SipEndpointStatus.name)))


def endpoint_alive(row: SipEndpointStatus, now: dt.datetime) -> bool:
    """Whether an endpoint's heartbeat is recent."""
    return as_utc(row.heartbeat_at) >= now - dt.timedelta(seconds=ALIVE_WITHIN_S)
