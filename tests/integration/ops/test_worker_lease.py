"""Exactly one active worker per database: the lease, leader takeover, graceful hand-over, failing jobs."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from core import lease
from core.container import Services
from core.db import make_engine, make_session_factory
from core.jobs import Job
from core.settings import load_settings
from xiaoyuan.scheduler import LEASE_NAME, Worker, run_job

LEASE_S = 45


@pytest.fixture
def fast_settings(tmp_path):
    """Settings whose worker loop ticks every 20 ms of real time (lease time follows the fake clock)."""
    return load_settings(environ={}, overrides={
        "data": {"dir": str(tmp_path / "var")}, "worker": {"lease_seconds": LEASE_S, "tick_seconds": 0.02},
    })


@pytest.fixture
def two_services(db_url, fast_settings, clock):
    """Two processes' worth of Services (separate engines and pools) on one database and one fake clock."""
    engines = [make_engine(db_url) for _ in range(2)]
    yield [Services(settings=fast_settings, session_factory=make_session_factory(e), clock=clock) for e in engines]
    for engine in engines:
        engine.dispose()


def wait_until(predicate, timeout: float = 10.0) -> bool:
    """Poll a condition on other threads (not a sleep for time: the clock under test is fake)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def test_lease_is_held_until_it_expires_then_taken_over(session_factory, clock):
    now = clock.now()
    assert lease.try_acquire(session_factory, "w", "a", now, LEASE_S)
    assert not lease.try_acquire(session_factory, "w", "b", now, LEASE_S)
    clock.advance(seconds=30)
    assert lease.try_acquire(session_factory, "w", "a", clock.now(), LEASE_S)  # renewal
    clock.advance(seconds=44)
    assert not lease.try_acquire(session_factory, "w", "b", clock.now(), LEASE_S)
    clock.advance(seconds=2)
    assert lease.try_acquire(session_factory, "w", "b", clock.now(), LEASE_S)
    assert not lease.try_acquire(session_factory, "w", "a", clock.now(), LEASE_S)
    assert lease.current_holder(session_factory, "w", clock.now()) == "b"


def test_released_lease_is_taken_at_once(session_factory, clock):
    now = clock.now()
    assert lease.try_acquire(session_factory, "w", "a", now, LEASE_S)
    assert lease.release(session_factory, "w", "a", now)
    assert lease.try_acquire(session_factory, "w", "b", now, LEASE_S)
    assert not lease.release(session_factory, "w", "a", now)  # a no longer holds it


def test_racing_acquirers_get_exactly_one_winner(db_url, clock):
    engines = [make_engine(db_url) for _ in range(6)]
    factories = [make_session_factory(e) for e in engines]
    barrier = threading.Barrier(len(factories))
    results: list[bool] = [False] * len(factories)

    def contend(i: int) -> None:
        barrier.wait()
        for _ in range(5):
            if lease.try_acquire(factories[i], "race", f"h{i}", clock.now(), LEASE_S):
                results[i] = True

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(len(factories))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for engine in engines:
        engine.dispose()
    assert sum(results) == 1


def test_exactly_one_worker_active_and_standby_takes_over_within_the_lease(two_services, clock):
    a, b = (Worker(s, holder=name, jobs=[], dispatcher=False) for s, name in zip(two_services, "ab", strict=True))
    try:
        assert a.step() is True
        assert b.step() is False
        for _ in range(30):  # two and a half minutes of normal running, ticking every 5 s
            clock.advance(seconds=5)
            assert (a.step(), b.step()) == (True, False)
        # The holder dies without releasing the lease: the standby keeps trying every tick.
        died_at = clock.now()
        took_over_after = None
        for _ in range(20):
            clock.advance(seconds=5)
            if b.step():
                took_over_after = (clock.now() - died_at).total_seconds()
                break
        assert took_over_after is not None and took_over_after <= 60
        assert took_over_after > LEASE_S - 15  # not before the dead holder's last renewal ran out
        # The old holder comes back (e.g. after a long pause): it learns it lost and stands by.
        assert a.step() is False
        assert b.active and not a.active
        assert lease.current_holder(two_services[0].session_factory, LEASE_NAME, clock.now()) == "b"
    finally:
        a.shutdown()
        b.shutdown()


def test_two_worker_threads_run_each_job_on_one_only_and_fail_over(two_services, clock):
    ran: list[str] = []
    lock = threading.Lock()

    def make_job(owner: str) -> Job:
        def record(_services: Services) -> None:
            with lock:
                ran.append(owner)
        return Job("record", record, every_s=3600)

    workers = {name: Worker(s, holder=name, jobs=[make_job(name)], dispatcher=False)
               for s, name in zip(two_services, "ab", strict=True)}
    stops = {name: threading.Event() for name in workers}
    threads = {
        name: threading.Thread(target=w.run, args=(stops[name],), kwargs={"release_on_exit": False}, daemon=True)
        for name, w in workers.items()
    }
    for t in threads.values():
        t.start()
    try:
        assert wait_until(lambda: len(ran) == 1)
        leader = ran[0]
        standby = "b" if leader == "a" else "a"
        steps_before = workers[standby].steps
        assert wait_until(lambda: workers[standby].steps > steps_before + 5)
        assert ran == [leader]
        assert workers[leader].active and not workers[standby].active

        # The leader dies (its loop stops; the lease is not released).
        stops[leader].set()
        threads[leader].join(timeout=10)
        clock.advance(seconds=LEASE_S - 1)
        steps_before = workers[standby].steps
        assert wait_until(lambda: workers[standby].steps > steps_before + 5)
        assert not workers[standby].active  # the dead leader's lease is still valid
        clock.advance(seconds=2)
        assert wait_until(lambda: workers[standby].active and len(ran) == 2)
        assert ran == [leader, standby]  # the new leader catches up at once, and only it runs the job
    finally:
        for name, stop in stops.items():
            stop.set()
            threads[name].join(timeout=10)


def test_graceful_stop_hands_over_without_waiting_for_expiry(two_services, clock):
    a = Worker(two_services[0], holder="a", jobs=[], dispatcher=False)
    b = Worker(two_services[1], holder="b", jobs=[], dispatcher=False)
    stop = threading.Event()
    assert a.step()
    stop.set()
    a.run(stop)  # returns at once and releases the lease
    assert not a.active
    assert b.step() is True  # same fake instant: no expiry needed
    b.shutdown()


def test_a_failing_job_is_logged_and_the_others_keep_running(services, caplog):
    def broken(_services: Services) -> None:
        raise RuntimeError("boom")

    calls: list[int] = []
    assert run_job(services, Job("broken", broken, every_s=60)) is False
    assert "job broken failed" in caplog.text and "RuntimeError: boom" in caplog.text
    done = threading.Event()

    def fine(_services: Services) -> None:
        calls.append(1)
        done.set()

    worker = Worker(services, holder="solo", jobs=[Job("broken", broken, every_s=3600),
                                                   Job("fine", fine, every_s=3600)], dispatcher=False)
    try:
        assert worker.step()
        assert done.wait(10)
        assert wait_until(lambda: worker.failures["broken"] == 1)
        assert calls == [1] and worker.active
    finally:
        worker.shutdown()


# --- Takeover after kill -9: short lease, same identity reclaims at once, standbys say they stand by ------


def _dead(*pids: int):
    """A pid check on which exactly these pids are gone (the process was killed)."""
    return lambda pid: pid not in pids


def test_a_restarted_worker_with_the_same_identity_reclaims_its_lease_before_it_expires(two_services, clock, caplog):
    """kill -9 of the holder, restarted (new pid) as the same identity: it takes the lease back once the dead
    holder has missed a renewal, before the lease runs out."""
    first = Worker(two_services[0], identity="w1", pid=100, alive=_dead(100), jobs=[], dispatcher=False)
    other = Worker(two_services[1], identity="w2", pid=300, alive=_dead(100), jobs=[], dispatcher=False)
    restarted = Worker(two_services[1], identity="w1", pid=200, alive=_dead(100), jobs=[], dispatcher=False)
    try:
        assert first.step() is True
        assert other.step() is False  # another identity waits for the lease to run out
        caplog.set_level("INFO")
        assert restarted.step() is False  # the holder renewed just now: it may still be alive
        clock.advance(seconds=restarted.renew_every.total_seconds() + restarted.tick_seconds + 0.1)
        assert restarted.step() is True  # a renewal missed and the pid gone, still before the lease runs out
        assert lease.current_holder(two_services[0].session_factory, LEASE_NAME, clock.now()) == restarted.holder
        assert "reclaimed the lease before it expired" in caplog.text and first.holder in caplog.text
        assert other.step() is False
    finally:
        restarted.shutdown()
        other.shutdown()


def test_a_live_process_with_the_same_identity_keeps_its_lease(two_services, clock, caplog):
    """Two workers started by mistake with one identity: the second sees the first's pid alive and stands by."""
    first = Worker(two_services[0], identity="w1", pid=100, alive=lambda pid: True, jobs=[], dispatcher=False)
    second = Worker(two_services[1], identity="w1", pid=200, alive=lambda pid: True, jobs=[], dispatcher=False)
    try:
        assert first.step() is True
        caplog.set_level("INFO")
        assert second.step() is False
        assert "standing by" in caplog.text
    finally:
        first.shutdown()
        second.shutdown()


def test_the_same_identity_on_another_host_waits_for_expiry(two_services, clock):
    """A pid on another machine cannot be checked: the standby waits for the lease to run out."""
    elsewhere = "w1@some-other-host:100:abcdef"
    assert lease.try_acquire(two_services[0].session_factory, LEASE_NAME, elsewhere, clock.now(), 6)
    worker = Worker(two_services[1], identity="w1", pid=200, alive=_dead(100), jobs=[], dispatcher=False)
    try:
        assert worker.step() is False
        clock.advance(seconds=6)
        assert worker.step() is True
    finally:
        worker.shutdown()


def test_two_live_workers_with_the_same_identity_host_and_pid_are_never_both_active(two_services, clock):
    """Two containers on the host's network, each pid 1: while both renew, one holds the lease; once the
    holder stops (the container restarted as pid 1 again), the other reclaims it before it expires."""
    first = Worker(two_services[0], identity="w1", pid=1, alive=lambda pid: True, jobs=[], dispatcher=False)
    second = Worker(two_services[1], identity="w1", pid=1, alive=lambda pid: True, jobs=[], dispatcher=False)
    try:
        for _ in range(12):
            both = (first.step(), second.step())
            assert both != (True, True)
            clock.advance(seconds=1)
        assert first.active and not second.active
        stopped_at = clock.now()
        while not second.step():  # the first stops renewing
            clock.advance(seconds=1)
        assert clock.now() - stopped_at < dt.timedelta(seconds=first.lease_seconds)
    finally:
        first.shutdown()
        second.shutdown()


def test_the_standby_logs_once_that_it_is_standing_by_and_for_whom(two_services, clock, caplog):
    holder = Worker(two_services[0], identity="w1", jobs=[], dispatcher=False)
    standby = Worker(two_services[1], identity="w2", jobs=[], dispatcher=False)
    try:
        assert holder.step() is True
        caplog.set_level("INFO", logger="xiaoyuan.scheduler")
        for _ in range(3):
            clock.advance(seconds=1)
            holder.step()
            assert standby.step() is False
        lines = [r.getMessage() for r in caplog.records if "standing by" in r.getMessage()]
        assert len(lines) == 1
        assert standby.holder in lines[0] and holder.holder in lines[0]
    finally:
        holder.shutdown()
        standby.shutdown()


def test_with_the_default_settings_a_standby_takes_over_within_seven_seconds(db_url, tmp_path, clock):
    """Default lease 6 s, tick 1 s: after the holder's last renewal the standby is active within 7 s, which leaves
    the dispatcher time to place pending alarm calls inside the 10 s the alarm path promises."""
    settings = load_settings(environ={}, overrides={"data": {"dir": str(tmp_path / "var")}})
    assert settings.worker.lease_seconds + settings.worker.tick_seconds <= 7
    engines = [make_engine(db_url) for _ in range(2)]
    try:
        holder, standby = (Worker(Services(settings=settings, session_factory=make_session_factory(e), clock=clock),
                                  identity=name, jobs=[], dispatcher=False) for e, name in zip(engines, ("w1", "w2"),
                                                                                               strict=True))
        assert holder.step() is True
        for _ in range(10):  # ten seconds of normal running: the holder renews, the standby waits
            clock.advance(seconds=settings.worker.tick_seconds)
            assert (holder.step(), standby.step()) == (True, False)
        last_renewal = holder._last_renewed
        took_over = None
        for _ in range(20):  # the holder is killed: only the standby ticks on
            clock.advance(seconds=settings.worker.tick_seconds)
            if standby.step():
                took_over = (clock.now() - last_renewal).total_seconds()
                break
        assert took_over is not None and took_over <= settings.worker.lease_seconds + settings.worker.tick_seconds
        standby.shutdown()
    finally:
        for engine in engines:
            engine.dispose()
