"""Restart catch-up: a worker stopped for hours does, on restart, each thing that fell due exactly once."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter

from core.clock import LOCAL_TZ
from core.container import Services
from core.db import make_engine, make_session_factory, transaction
from core.privacy import jobs as privacy_jobs
from core.requests import jobs as requests_jobs
from core.requests.reminders import create_reminder
from core.requests.workorders import resolve_request, submit_request
from tests.integration.ops.ops_helpers import outbox_rows
from xiaoyuan.scheduler import Worker

OPS_JOBS = [*requests_jobs.JOBS, *privacy_jobs.JOBS]  # the jobs named ops.*


def _run_activation(services: Services, holder: str) -> Worker:
    """Start a worker, wait for its catch-up run of every job, stop it gracefully."""
    worker = Worker(services, holder=holder, jobs=OPS_JOBS, dispatcher=False)
    assert worker.step()
    deadline = time.monotonic() + 20
    while sum(worker.runs.values()) + sum(worker.failures.values()) < len(OPS_JOBS) and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.shutdown()
    assert not worker.failures, worker.failures
    assert set(worker.runs) == {job.name for job in OPS_JOBS}
    return worker


def test_restart_after_two_days_does_each_due_thing_exactly_once(services, world, clock, db_url):
    clock.set(dt.datetime(2026, 11, 26, 9, 0, tzinfo=LOCAL_TZ))
    due = services.settings.requests.due_hours
    with transaction(services.session_factory) as s:
        repair = submit_request(s, now=clock.now(), due_hours=due, resident_id=world.residents[0].id, type="repair",
                                channel="phone", text="水管爆了").id
        tidy = submit_request(s, now=clock.now(), due_hours=due, resident_id=world.residents[1].id,
                              type="environment", channel="tv", text="垃圾桶满了").id
        resolve_request(s, now=clock.now(), actor=None, request_id=tidy, note="已清运")
        create_reminder(s, now=clock.now(), actor=world.users["village_a"], kind="meeting",
                        text="本周六上午9点在椒香小院开云坝会", courtyard_id=world.courtyards[0].id,
                        at=dt.datetime(2026, 11, 28, 9, 0, tzinfo=LOCAL_TZ))

    _run_activation(services, "first")
    first = Counter(m.template for m in outbox_rows(services))
    assert first["ops.digest"] >= 1 and first["request.followup"] == 0 and first["reminder.call"] == 0

    # The worker is down from Thursday 09:00 until Saturday 11:00 (50 hours).
    clock.set(dt.datetime(2026, 11, 28, 11, 0, tzinfo=LOCAL_TZ))
    engine = make_engine(db_url)
    try:
        restarted = Services(settings=services.settings, session_factory=make_session_factory(engine), clock=clock)
        _run_activation(restarted, "second")
        after = outbox_rows(services)
        supervision = [m.template for m in after if m.subject_type == "request" and m.subject_id == repair
                       and m.template.startswith("request.") and m.template != "request.assigned"]
        assert supervision == ["request.overdue", "request.escalated"]  # 50 h: assignee, then village; not yet town
        assert sum(m.template == "request.followup" for m in after) == 1
        # The meeting's 08:00 calls were missed while down and are placed now, once per household of the 小院.
        calls = [m for m in after if m.template == "reminder.call"]
        assert len(calls) == 3 and len({m.recipient_phone for m in calls}) == 3
        digests = [m.dedup_key for m in after if m.template == "ops.digest"]
        assert len(digests) == len(set(digests))
        assert any(key.endswith(":2026-11-28") for key in digests)
        assert not any(key.endswith(":2026-11-27") for key in digests)  # a missed morning is not sent late
        reports = Counter(m.params["start"] for m in after if m.template == "report.daily")
        # Thursday's run pushed Wednesday's; Saturday's pushes Friday's (yesterday's), to village_a and town once.
        assert reports == {"2026-11-25": 2, "2026-11-27": 2}

        # Restarting again at the same moment finds nothing left to do.
        _run_activation(restarted, "third")
        assert len(outbox_rows(services)) == len(after)
    finally:
        engine.dispose()
