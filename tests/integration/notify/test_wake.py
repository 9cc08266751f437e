"""A committed urgent outbox row wakes the dispatcher at once; routine rows and rolled-back ones do not."""

from __future__ import annotations

import threading

import pytest

from core.db import transaction
from core.notify.dispatcher import Dispatcher, register_wake
from core.notify.outbox import Recipient, enqueue_message, wake_on_commit
from xiaoyuan.scheduler import make_dispatcher


def _enqueue(session, clock, priority: int, text: str = "王奶奶按下了手环求救键") -> None:
    enqueue_message(session, now=clock.now(), recipient=Recipient(name="王小明", phone="+8613800001234"),
                    template="test.event", text=text, priority=priority, channels=("webhook",))


def test_only_a_committed_urgent_row_wakes(session_factory, clock) -> None:
    """Critical and urgent rows wake after their commit; routine rows and rolled-back transactions do not."""
    wakes: list[int] = []
    remove = wake_on_commit(session_factory, lambda: wakes.append(1))
    try:
        with transaction(session_factory) as session:
            _enqueue(session, clock, priority=5)
        assert wakes == []
        with pytest.raises(RuntimeError), transaction(session_factory) as session:
            _enqueue(session, clock, priority=0)
            raise RuntimeError("the unit of work failed")
        with transaction(session_factory) as session:
            _enqueue(session, clock, priority=5)
        assert wakes == [], "a rolled-back SOS row must not leave a wake-up behind"
        with transaction(session_factory) as session:
            _enqueue(session, clock, priority=0)
            assert wakes == [], "the wake-up comes only after the commit, so the dispatcher sees the row"
        assert wakes == [1]
        with transaction(session_factory) as session:
            _enqueue(session, clock, priority=1)
        assert wakes == [1, 1]
    finally:
        remove()


def test_the_wake_hook_follows_the_current_dispatcher(session_factory, clock, services) -> None:
    """A worker that stood by and became active again wakes its new dispatcher, and only one hook is installed."""
    first: list[int] = []
    second: list[int] = []
    register_wake(services, lambda: first.append(1))
    register_wake(services, lambda: second.append(1))
    with transaction(session_factory) as session:
        _enqueue(session, clock, priority=0)
    assert (first, second) == ([], [1])


def test_a_committed_sos_row_is_sent_without_waiting_for_the_tick(make_services, session_factory, clock,
                                                                 sink) -> None:
    """The worker's dispatcher sends a critical row at once, though its tick is an hour (issue 10 §3)."""
    # The look for due urgent rows is off: only the wake-up can send the SOS before the tick.
    services = make_services(webhook={"url": sink.url, "secret": "s"}, notify={"urgent_poll_s": 0})
    dispatcher = make_dispatcher(services)
    with transaction(session_factory) as session:
        _enqueue(session, clock, priority=5, text="例行通知")
    stop = threading.Event()
    loop = threading.Thread(target=dispatcher.run_forever, args=(stop,), kwargs={"tick_s": 3600})
    loop.start()
    try:
        # The first look at the outbox sent the routine row; from here on only a wake-up can send anything.
        assert sink.wait_for(lambda records: len(records) == 1, timeout=30)
        with transaction(session_factory) as session:
            _enqueue(session, clock, priority=0)
        assert sink.wait_for(lambda records: len(records) == 2, timeout=10), "the SOS waited for the tick"
    finally:
        stop.set()
        loop.join(timeout=10)
        dispatcher.close()
        services.extras.pop("outbox_wake:installed")()
    assert not loop.is_alive()


def test_an_sos_committed_by_another_process_is_found_between_ticks(make_services, enqueue, sink) -> None:
    """A listener in another process cannot wake this dispatcher: its short look for due urgent rows finds
    the SOS long before the hour-long tick, and a routine row still waits for the tick."""
    services = make_services(webhook={"url": sink.url, "secret": "s"}, notify={"urgent_poll_s": 0.05})
    dispatcher = Dispatcher(services, concurrency=1)  # no wake hook: as if the row came from another process
    stop = threading.Event()
    loop = threading.Thread(target=dispatcher.run_forever, args=(stop,), kwargs={"tick_s": 3600})
    enqueue("例行通知", channels=("webhook",), priority=5)
    loop.start()
    try:
        assert sink.wait_for(lambda records: len(records) == 1, timeout=30)
        enqueue("又一条例行通知", channels=("webhook",), priority=5)
        enqueue("王奶奶按下了手环求救键", channels=("webhook",), priority=0)
        assert sink.wait_for(lambda records: len(records) >= 2, timeout=10), "the SOS waited for the tick"
        # Both were due when the SOS was found; the SOS went first.
        assert "求救" in sink.snapshot()[1].body.decode()
    finally:
        stop.set()
        loop.join(timeout=10)
        dispatcher.close()
    assert not loop.is_alive()
