"""Process status rows: each process writes its own every few seconds; rows of processes gone for an hour are
deleted, by a pass that runs now and then rather than with every write."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from core import health
from core.db import transaction
from core.models.processes import ProcessStatus
from xiaoyuan.processes import StatusReporter


def _names(services) -> set[str]:
    with services.session_factory() as session:
        return set(session.scalars(sa.select(ProcessStatus.name)))


def _dead_process(services, name: str) -> None:
    """The row a process left when it crashed two hours ago."""
    gone = services.clock.now() - dt.timedelta(hours=2)
    with transaction(services.session_factory) as session:
        health.save_status(session, name=name, role="worker", now=gone, started_at=gone, state={}, counters={})


def test_rows_of_dead_processes_are_pruned_but_not_with_every_write(services, clock, engine):
    _dead_process(services, "crashed:1")
    reporter = StatusReporter(services, "worker")
    reporter.report()
    assert _names(services) == {reporter.name}  # the first write of a process prunes

    _dead_process(services, "crashed:2")
    deletes: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            deletes.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(10):  # 20 s of writes every REPORT_EVERY_S
            clock.advance(seconds=health.REPORT_EVERY_S)
            reporter.report()
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert deletes == [] and _names(services) == {reporter.name, "crashed:2"}

    clock.advance(seconds=health.PRUNE_EVERY_S)
    reporter.report()
    assert _names(services) == {reporter.name}  # still pruned, within PRUNE_EVERY_S

