"""Whether an alarm can flow right now, across processes: status rows, and the rules /healthz applies to them.

Every listener, worker and `run` process upserts one `ProcessStatus` row every few seconds with the state
of its parts (listener: connected, subscribed, when its own heartbeat last came back through the broker;
worker: whether it holds the lease, when the outbox dispatcher loop last turned). Any web process reads
the rows: the database is the one thing every process shares, so gunicorn's /healthz tells the truth
about a listener on another machine. The rules are pure functions of the rows and the clock.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.clock import as_utc
from core.models.audit import WorkerLease
from core.models.processes import ProcessStatus

REPORT_EVERY_S = 2.0  # how often a process writes its row
STALE_AFTER_S = 15.0  # a row older than this belongs to a process that stopped reporting (crashed or hung)
HEARTBEAT_WITHIN_S = 30.0  # the listener's own heartbeat must have come back through the broker this recently
DISPATCH_WITHIN_S = 30.0  # the dispatcher loop must have turned this recently (it turns every tick, ≤ a few s)
PRUNE_AFTER_S = 3600.0  # rows of processes gone for an hour are deleted
PRUNE_EVERY_S = 300.0  # …by each reporting process at most this often (not with every write)
WORKER_LEASE = "worker"


def iso(moment: dt.datetime | None) -> str | None:
    """A timestamp for a status row (JSON)."""
    return moment.isoformat() if moment is not None else None


def parse_iso(value: Any) -> dt.datetime | None:
    """A timestamp read back from a status row (None when absent or unreadable)."""
    if not value:
        return None
    try:
        return as_utc(dt.datetime.fromisoformat(str(value)))
    except ValueError:
        return None


def age_s(moment: dt.datetime | None, now: dt.datetime) -> float | None:
    """Seconds since `moment` (None when it never happened)."""
    return None if moment is None else max((now - as_utc(moment)).total_seconds(), 0.0)


# --- rows -----------------------------------------------------------------------------------------------


def save_status(session: Session, *, name: str, role: str, now: dt.datetime, started_at: dt.datetime,
                state: Mapping[str, Any], counters: Mapping[str, Any]) -> None:
    """Upsert this process's row (one per process)."""
    row = session.get(ProcessStatus, name)
    if row is None:
        row = ProcessStatus(name=name, role=role, started_at=started_at, heartbeat_at=now)
        session.add(row)
    row.role, row.started_at, row.heartbeat_at = role, started_at, now
    row.state, row.counters = dict(state), dict(counters)


def remove_status(session: Session, name: str) -> None:
    """Delete this process's row when it stops cleanly (a stale row then always means a crash or a hang)."""
    session.execute(sa.delete(ProcessStatus).where(ProcessStatus.name == name))


def prune_statuses(session: Session, now: dt.datetime) -> None:
    """Delete rows of processes that have not reported for an hour."""
    session.execute(sa.delete(ProcessStatus).where(
        ProcessStatus.heartbeat_at < now - dt.timedelta(seconds=PRUNE_AFTER_S)))


def process_statuses(session: Session) -> list[ProcessStatus]:
    """Every reporting process, by name."""
    return list(session.scalars(sa.select(ProcessStatus).order_by(ProcessStatus.name)))


def is_fresh(row: ProcessStatus, now: dt.datetime) -> bool:
    """Whether a process reported recently enough to be believed."""
    return (age_s(row.heartbeat_at, now) or 0.0) <= STALE_AFTER_S


# --- rules ----------------------------------------------------------------------------------------------


def listener_problem(state: Mapping[str, Any], now: dt.datetime) -> str | None:
    """What keeps one listener from receiving alarms (None when it is connected, subscribed and hears itself)."""
    if not state.get("connected"):
        return "not connected to the broker"
    if not state.get("subscribed"):
        return "connected but not subscribed (no SUBACK)"
    heard = age_s(parse_iso(state.get("last_heartbeat_at")), now)
    if heard is None:
        return "its heartbeat has not come back through the broker yet"
    if heard > HEARTBEAT_WITHIN_S:
        return f"its heartbeat last came back through the broker {heard:.0f} s ago"
    return None


def worker_problem(state: Mapping[str, Any], now: dt.datetime) -> str | None:
    """What keeps the lease-holding worker from sending alarms (None when its dispatcher turns)."""
    if not state.get("active"):
        return "holds the lease in the database but is not active"
    turned = age_s(parse_iso(state.get("dispatcher_loop_at")), now)
    if turned is None:
        return "the outbox dispatcher loop has not run yet"
    if turned > DISPATCH_WITHIN_S:
        return f"the outbox dispatcher loop last ran {turned:.0f} s ago"
    return None


def gateway_problem(state: Mapping[str, Any]) -> str | None:
    """What keeps a watch gateway from passing watches' alarms on (None when it listens and has the broker)."""
    if not state.get("listening"):
        return "not listening for watches"
    if not state.get("mqtt_connected"):
        return "not connected to the broker"
    return None


@dataclass
class Health:
    """The verdict of /healthz: ok, each check's word, and what is wrong (empty when ok)."""

    checks: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    processes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return not self.problems

    def fail(self, check: str, problem: str) -> None:
        """Record a failed check."""
        self.checks[check] = "failing"
        self.problems[check] = problem

    def body(self) -> dict[str, Any]:
        """The JSON answer."""
        return {"status": "ok" if self.ok else "failing", "checks": self.checks, "problems": self.problems,
                "processes": self.processes}


def assess(rows: Iterable[ProcessStatus], lease_holder: str | None, now: dt.datetime) -> Health:
    """Apply the rules to the status rows and the worker lease's live holder (the database answered)."""
    health = Health(checks={"database": "ok"})
    rows = list(rows)
    fresh = [row for row in rows if is_fresh(row, now)]
    for row in rows:
        health.processes.append({"name": row.name, "role": row.role, "reporting": row in fresh,
                                 "report_age_s": round(age_s(row.heartbeat_at, now) or 0.0, 1), **row.state})

    _judge_part(health, "listener", "listener process", rows, fresh, lambda state: listener_problem(state, now))
    if any("gateway" in row.state for row in rows):  # watch gateways are optional: judged only once one ran
        _judge_part(health, "gateway", "watch gateway", rows, fresh, gateway_problem)

    if lease_holder is None:
        health.fail("worker", "no worker holds the lease")
    else:
        holder_rows = [row for row in fresh if (row.state.get("worker") or {}).get("holder") == lease_holder]
        if not holder_rows:
            health.fail("worker", f"the lease is held by {lease_holder}, which is not reporting")
        else:
            problem = worker_problem(holder_rows[0].state["worker"], now)
            if problem is None:
                health.checks["worker"] = "ok"
            else:
                health.fail("worker", f"worker {lease_holder}: {problem}")
    return health


def _judge_part(health: Health, part: str, noun: str, rows: list[ProcessStatus], fresh: list[ProcessStatus],
                problem_of: Callable[[Mapping[str, Any]], str | None]) -> None:
    """One check over every process running `part`: ok when one of the fresh ones has no problem."""
    verdicts = [(row.name, problem_of(row.state[part])) for row in fresh if part in row.state]
    if any(problem is None for _, problem in verdicts):
        health.checks[part] = "ok"
    elif verdicts:
        health.fail(part, "; ".join(f"{part} {name}: {problem}" for name, problem in verdicts))
    elif any(part in row.state for row in rows):
        health.fail(part, f"no {noun} has reported in the last {STALE_AFTER_S:.0f} s")
    else:
        health.fail(part, f"no {noun} is running")


def check_health(session_factory: Any, now: dt.datetime) -> Health:
    """Ask the database for the rows and the lease and apply the rules; a database that does not answer fails."""
    try:
        with session_factory() as session:
            session.execute(sa.text("SELECT 1"))
            rows = process_statuses(session)
            lease = session.get(WorkerLease, WORKER_LEASE)
            holder = lease.holder if lease is not None and as_utc(lease.expires_at) > now else None
    except Exception as exc:
        health = Health()
        health.fail("database", f"error: {type(exc).__name__}")
        return health
    return assess(rows, holder, now)


def this_process_name() -> str:
    """This process's row name: host:pid."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}"
