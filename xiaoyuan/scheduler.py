"""The worker: exactly one active per database (a lease), running every scheduled job and the outbox dispatcher.

Every worker process loops on the lease. The one that holds it runs an APScheduler 3 BackgroundScheduler
with every job of `xiaoyuan.jobs.all_jobs()` plus the outbox dispatcher; the others wait and take over
within `lease_seconds + tick_seconds` (under a minute by default) when the holder dies. Jobs keep their
state in the database and act on "what is due now", so the scheduler only decides how often to look:
a run that is missed, skipped or repeated loses and duplicates nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core import lease
from core.clock import LOCAL_TZ, SystemClock
from core.container import Services
from xiaoyuan.jobs import Job, all_jobs

log = logging.getLogger(__name__)

LEASE_NAME = "worker"
# A cron job (daily digests, reports) that starts up to an hour late is still worth running; beyond
# that the next activation's catch-up run or the next day's run covers it. Each job checks itself
# whether its thing is still due, so a late run can never act twice.
CRON_MISFIRE_GRACE_S = 3600


def default_holder() -> str:
    """A holder name that tells operators which process holds the lease."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def run_job(services: Services, job: Job) -> bool:
    """Run one job; log any exception with its traceback and carry on (False when it failed)."""
    try:
        job.func(services)
    except Exception:
        log.exception("job %s failed", job.name)
        return False
    return True


def misfire_grace_s(job: Job) -> int:
    """How late a run may start and still run (APScheduler's misfire_grace_time) for one job.

    APScheduler's default of 1 s silently drops runs that start late because the process was busy
    or suspended. An interval job may be up to one period late: later than that the next run is due
    anyway (and with coalesce=True the backlog collapses into that one run).
    """
    if job.every_s:
        return max(int(job.every_s), 1)
    return CRON_MISFIRE_GRACE_S


def make_trigger(job: Job) -> IntervalTrigger | CronTrigger:
    """The APScheduler trigger of a job (cron fields are Asia/Shanghai local time)."""
    if job.every_s:
        return IntervalTrigger(seconds=job.every_s, timezone=LOCAL_TZ)
    if not job.cron:
        raise ValueError(f"job {job.name} has neither every_s nor cron")
    return CronTrigger(timezone=LOCAL_TZ, **job.cron)


def build_scheduler(jobs: list[Job], runner: Callable[[Job], Any], *, catch_up: bool = True) -> BackgroundScheduler:
    """A BackgroundScheduler with one entry per job; with catch_up every job also runs once right away.

    coalesce=True: runs missed while the process was busy collapse into one. max_instances=1: a slow
    run is never overlapped by the next. The catch-up run on start is what makes a restart after hours
    do everything that became due meanwhile (exactly once, because the jobs keep state in the database).
    """
    scheduler = BackgroundScheduler(
        timezone=LOCAL_TZ, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
    )
    # APScheduler itself runs on the wall clock; services use their injected clock.
    wall_now = SystemClock().now().astimezone(LOCAL_TZ)
    for job in jobs:
        options: dict[str, Any] = {}
        if catch_up:
            options["next_run_time"] = wall_now
        scheduler.add_job(
            runner, trigger=make_trigger(job), args=[job], id=job.name, name=job.name,
            misfire_grace_time=misfire_grace_s(job), coalesce=True, max_instances=1, **options,
        )
    return scheduler


def make_dispatcher(services: Services) -> Any:
    """The outbox dispatcher for this worker."""
    from core.notify.dispatcher import Dispatcher

    dispatcher = Dispatcher(services, concurrency=services.settings.notify.concurrency)
    # Anything enqueued in this process (an SOS, a help call) can wake the dispatcher at once.
    services.extras["outbox_wake"] = dispatcher.wake
    return dispatcher


class Worker:
    """One worker process: holds (or waits for) the lease and runs the scheduler while it holds it."""

    def __init__(self, services: Services, *, holder: str | None = None, jobs: list[Job] | None = None,
                 dispatcher: bool = True) -> None:
        self.services = services
        self.holder = holder or default_holder()
        self.jobs = list(all_jobs() if jobs is None else jobs)
        self.dispatcher = dispatcher
        self.active = False
        self.runs: Counter[str] = Counter()  # completed runs per job name (for tests and metrics)
        self.failures: Counter[str] = Counter()
        self.steps = 0  # turns of the lease loop (lets tests wait for "a few ticks" without sleeping)
        self._scheduler: BackgroundScheduler | None = None
        self._lease_until: dt.datetime | None = None
        self._last_renewed: dt.datetime | None = None
        self._lock = threading.Lock()
        self._dispatcher: Any = None
        self._dispatch_stop: threading.Event | None = None
        self._dispatch_thread: threading.Thread | None = None
        worker = services.settings.worker
        self.lease_seconds = float(worker.lease_seconds)
        # Renew at a third of the lease so two missed renewals still leave time for a third.
        self.renew_every = dt.timedelta(seconds=self.lease_seconds / 3)
        self.tick_seconds = float(worker.tick_seconds)

    # -- lease ---------------------------------------------------------------------------------------

    def holds_lease(self) -> bool:
        """Whether this worker is active and its lease has not run out (by the services' clock)."""
        until = self._lease_until
        return self.active and until is not None and self.services.clock.now() < until

    def step(self) -> bool:
        """One turn of the lease loop: acquire or renew, start or stop the scheduler; return whether active."""
        now = self.services.clock.now()
        due = (not self.active or self._last_renewed is None or now >= self._last_renewed + self.renew_every)
        if due:
            try:
                got = lease.try_acquire(self.services.session_factory, LEASE_NAME, self.holder, now,
                                        self.lease_seconds)
            except Exception:
                log.exception("could not renew the worker lease")
                got = None
            if got:
                self._last_renewed = now
                self._lease_until = now + dt.timedelta(seconds=self.lease_seconds)
                if not self.active:
                    self._activate()
            elif got is False and self.active:
                log.warning("worker lease lost to another worker: standing by")
                self._deactivate(wait=False)
        if self.active and self._lease_until is not None and now >= self._lease_until:
            log.warning("worker lease expired before it could be renewed: standing by")
            self._deactivate(wait=False)
        self.steps += 1
        return self.active

    # -- scheduler -----------------------------------------------------------------------------------

    def _run(self, job: Job) -> None:
        if not self.holds_lease():
            log.info("skipping job %s: this worker no longer holds the lease", job.name)
            return
        if run_job(self.services, job):
            self.runs[job.name] += 1
        else:
            self.failures[job.name] += 1

    def _dispatch_loop(self, dispatcher: Any, stop: threading.Event) -> None:
        """Send the outbox every tick while active (the dispatcher's own loop when it has one)."""
        try:
            if hasattr(dispatcher, "run_forever"):
                dispatcher.run_forever(stop, self.tick_seconds, self.services.settings.worker.dispatch_batch)
                return
            while not stop.is_set():
                try:
                    dispatcher.run_once(self.services.settings.worker.dispatch_batch)
                except Exception:
                    log.exception("outbox dispatch failed")
                stop.wait(self.tick_seconds)
        finally:
            closer = getattr(dispatcher, "close", None)
            if closer is not None:
                closer()

    def _activate(self) -> None:
        with self._lock:
            log.info("worker %s is now the active worker", self.holder)
            self.active = True
            self._scheduler = build_scheduler(self.jobs, self._run)
            self._scheduler.start()
            dispatcher = make_dispatcher(self.services) if self.dispatcher else None
            if dispatcher is not None:
                self._dispatch_stop = threading.Event()
                self._dispatch_thread = threading.Thread(
                    target=self._dispatch_loop, args=(dispatcher, self._dispatch_stop), name="outbox-dispatcher",
                    daemon=True,
                )
                self._dispatch_thread.start()

    def _deactivate(self, *, wait: bool) -> None:
        with self._lock:
            self.active = False
            scheduler, self._scheduler = self._scheduler, None
            if self._dispatch_stop is not None:
                self._dispatch_stop.set()
            if scheduler is not None and scheduler.running:
                scheduler.shutdown(wait=wait)
            thread, self._dispatch_thread, self._dispatch_stop = self._dispatch_thread, None, None
            if thread is not None and wait:
                thread.join(timeout=30)

    def shutdown(self, *, release_lease: bool = True) -> None:
        """Stop the scheduler (waiting for running jobs) and give the lease up for the next worker."""
        was_active = self.active
        self._deactivate(wait=True)
        if was_active and release_lease:
            try:
                lease.release(self.services.session_factory, LEASE_NAME, self.holder, self.services.clock.now())
            except Exception:
                log.exception("could not release the worker lease")
        self._lease_until = None

    def run(self, stop_event: threading.Event, *, release_on_exit: bool = True) -> None:
        """Loop on the lease every tick until stop_event is set; then shut down gracefully."""
        try:
            while not stop_event.is_set():
                self.step()
                if stop_event.wait(self.tick_seconds):
                    break
        finally:
            self.shutdown(release_lease=release_on_exit)


def run_worker(services: Services, stop_event: threading.Event, *, holder: str | None = None) -> None:
    """Run the worker until stop_event is set (`xiaoyuan worker`, and the worker part of `xiaoyuan run`)."""
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # no "Running job" line every tick
    Worker(services, holder=holder).run(stop_event)
