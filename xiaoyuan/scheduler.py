"""The worker: exactly one active per database (a lease), running every scheduled job and the outbox dispatcher.

Every worker process loops on the lease. The one that holds it runs an APScheduler 3 BackgroundScheduler
with every job of `xiaoyuan.jobs.all_jobs()` plus the outbox dispatcher; the others stand by (and say so
in the log) and take over within `lease_seconds + tick_seconds` (7 s by default) when the holder dies.
A holder is named `identity@host:pid:token` (identity: `worker.id`, default the host name): a process
restarted with the same identity on the same host reclaims the lease as soon as the recorded holder has
missed a renewal and its pid is gone (or was its own: a container restarted as pid 1), instead of
waiting for it to expire. Jobs keep their state in the database
and act on "what is due now", so the scheduler only decides how often to look: a run that is missed,
skipped or repeated loses and duplicates nothing.
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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core import lease
from core.clock import LOCAL_TZ, SystemClock
from core.container import Services
from core.health import WORKER_LEASE
from xiaoyuan.jobs import Job, all_jobs

if TYPE_CHECKING:
    from core.notify.dispatcher import Dispatcher

log = logging.getLogger(__name__)

LEASE_NAME = WORKER_LEASE
# A cron job (daily digests, reports) that starts up to an hour late is still worth running; beyond
# that the next activation's catch-up run or the next day's run covers it. Each job checks itself
# whether its thing is still due, so a late run can never act twice.
CRON_MISFIRE_GRACE_S = 3600


@dataclass(frozen=True)
class HolderName:
    """Who holds the lease, as written in it: identity, host and pid of the process (plus a random token)."""

    identity: str
    host: str
    pid: int


def make_holder(identity: str, pid: int | None = None) -> str:
    """A holder name that tells operators which process holds the lease: `identity@host:pid:token`."""
    return f"{identity[:40]}@{socket.gethostname()[:40]}:{pid or os.getpid()}:{uuid.uuid4().hex[:6]}"


def parse_holder(holder: str) -> HolderName | None:
    """The parts of a holder name made by make_holder (None for any other name)."""
    who, _, rest = holder.rpartition("@")
    host, _, rest = rest.partition(":")
    pid, _, token = rest.partition(":")
    if not who or not host or not pid.isdigit() or not token:
        return None
    return HolderName(who, host, int(pid))


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this host (a zombie, killed but not yet reaped, is dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


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


def make_dispatcher(services: Services) -> Dispatcher:
    """The outbox dispatcher for this worker."""
    from core.notify.dispatcher import Dispatcher, register_wake

    dispatcher = Dispatcher(services, concurrency=services.settings.notify.concurrency)
    # An urgent row committed in this process (an SOS, a help call) wakes the dispatcher at once.
    register_wake(services, dispatcher.wake)
    return dispatcher


class Worker:
    """One worker process: holds (or waits for) the lease and runs the scheduler while it holds it."""

    def __init__(self, services: Services, *, holder: str | None = None, jobs: list[Job] | None = None,
                 dispatcher: bool = True, identity: str | None = None, pid: int | None = None,
                 alive: Callable[[int], bool] = pid_alive) -> None:
        self.services = services
        self.identity = identity or services.settings.worker.id or socket.gethostname()
        self.holder = holder or make_holder(self.identity, pid)
        self._pid = pid or os.getpid()
        self._alive = alive
        self._standing_by_for: str | None = None  # the holder we last logged standing by for
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
        self._dispatcher: Dispatcher | None = None
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
            elif got is False:
                self._stand_by_or_reclaim(now)
        if self.active and self._lease_until is not None and now >= self._lease_until:
            log.warning("worker lease expired before it could be renewed: standing by")
            self._deactivate(wait=False)
        self.steps += 1
        return self.active

    def _stand_by_or_reclaim(self, now: dt.datetime) -> None:
        """Someone else holds the lease: take it early from a dead earlier instance of us, else stand by."""
        try:
            recorded = lease.holder_of(self.services.session_factory, LEASE_NAME)
        except Exception:
            log.exception("could not read the worker lease")
            return
        if recorded is None:
            return
        other, expires_at = recorded
        if self._is_dead_twin(other, expires_at, now):
            if lease.take_over(self.services.session_factory, LEASE_NAME, other, self.holder, now, self.lease_seconds):
                log.warning("worker %s reclaimed the lease before it expired from %s, an earlier process with "
                            "the same identity that is gone", self.holder, other)
                self._standing_by_for = None
                self._last_renewed = now
                self._lease_until = now + dt.timedelta(seconds=self.lease_seconds)
                self._activate()
            return
        if other != self._standing_by_for:
            self._standing_by_for = other
            log.info("worker %s is standing by: the lease is held by %s (until %s); this worker takes over "
                     "within %.0f s if that one stops renewing it", self.holder, other,
                     expires_at.isoformat(timespec="seconds"), self.lease_seconds + self.tick_seconds)

    def _is_dead_twin(self, other: str, expires_at: dt.datetime, now: dt.datetime) -> bool:
        """Whether `other` is an earlier process of this identity on this host that no longer runs.

        A pid alone cannot tell: two containers on the host's network share its name and both run as
        pid 1, and a pid in another pid namespace never looks alive from here. So the earlier process
        must also have missed a renewal (a live one renews every `renew_every`); it is then taken
        for gone when it had our own pid (a container restarted as pid 1) or its pid no longer runs.
        """
        mine, theirs = parse_holder(self.holder), parse_holder(other)
        if mine is None or theirs is None or other == self.holder:
            return False
        if (theirs.identity, theirs.host) != (mine.identity, mine.host):
            return False
        renewed_at = expires_at - dt.timedelta(seconds=self.lease_seconds)
        if now - renewed_at <= self.renew_every + dt.timedelta(seconds=self.tick_seconds):
            return False
        return theirs.pid == self._pid or not self._alive(theirs.pid)

    def health_state(self) -> dict[str, object]:
        """What /healthz needs to know about this worker (JSON-ready)."""
        loop_at = self._dispatcher.last_loop_at if self._dispatcher is not None else None
        return {"holder": self.holder, "active": self.holds_lease(),
                "dispatcher_loop_at": loop_at.isoformat() if loop_at is not None else None}

    # -- scheduler -----------------------------------------------------------------------------------

    def _run(self, job: Job) -> None:
        if not self.holds_lease():
            log.info("skipping job %s: this worker no longer holds the lease", job.name)
            return
        if run_job(self.services, job):
            self.runs[job.name] += 1
        else:
            self.failures[job.name] += 1

    def _dispatch_loop(self, dispatcher: Dispatcher, stop: threading.Event) -> None:
        """Send the outbox every tick while active (the dispatcher's own loop)."""
        try:
            dispatcher.run_forever(stop, self.tick_seconds, self.services.settings.worker.dispatch_batch)
        finally:
            dispatcher.close()

    def _activate(self) -> None:
        with self._lock:
            log.info("worker %s is now the active worker", self.holder)
            self.active = True
            self._scheduler = build_scheduler(self.jobs, self._run)
            self._scheduler.start()
            dispatcher = make_dispatcher(self.services) if self.dispatcher else None
            self._dispatcher = dispatcher
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
    worker = Worker(services, holder=holder)
    services.extras["worker"] = worker  # its health state is reported with the process status
    worker.run(stop_event)
