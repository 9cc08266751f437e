"""The dispatcher's rules on a real database: order, retries with backoff, fallback, visible failure, recovery."""

from __future__ import annotations

import datetime as dt
import random
import threading

import pytest
import sqlalchemy as sa

from core.db import transaction
from core.models.outbox import OutboxMessage
from core.notify.base import Delivery
from core.notify.dispatcher import Dispatcher, backoff_delay, channel_idempotency_key
from tests.integration.notify.conftest import ScriptedChannel

TRANSIENT = Delivery(ok=False, error="HTTP 503")
PERMANENT = Delivery(ok=False, permanent=True, error="HTTP 404")


def _row(session_factory, message_id: int) -> OutboxMessage:
    with session_factory() as session:
        return session.get(OutboxMessage, message_id)


def test_most_urgent_first_then_oldest(make_services, enqueue, clock) -> None:
    """An SOS (priority 0) enqueued last still goes out before routine notices; equal priority goes oldest first."""
    services = make_services()
    channel = ScriptedChannel("scripted")
    routine_old = enqueue("通知一", priority=5)
    clock.advance(seconds=1)
    routine_new = enqueue("通知二", priority=5)
    clock.advance(seconds=1)
    sos = enqueue("一键呼叫", priority=0)
    dispatcher = Dispatcher(services, channels={"scripted": channel}, concurrency=1)
    assert dispatcher.run_once(limit=2) == 2
    assert [m.id for m in channel.sent] == [sos, routine_old]
    assert dispatcher.run_once(limit=2) == 1
    assert [m.id for m in channel.sent][-1] == routine_new
    assert dispatcher.run_once(limit=2) == 0


def test_sent_row_is_marked_with_provider_reference(make_services, enqueue, session_factory, clock) -> None:
    """A delivered message is no longer pending: status sent, when, and the provider's id for tracing."""
    dispatcher = Dispatcher(make_services(), channels={"scripted": ScriptedChannel("scripted")})
    message_id = enqueue()
    dispatcher.run_once()
    row = _row(session_factory, message_id)
    assert (row.status, row.provider_ref, row.sent_at) == ("sent", f"ref-{message_id}", clock.now())
    assert dispatcher.stats.get("sent") == 1


def test_not_yet_due_rows_wait(make_services, enqueue, clock) -> None:
    """A message scheduled for later (not_before) is not sent early."""
    channel = ScriptedChannel("scripted")
    dispatcher = Dispatcher(make_services(), channels={"scripted": channel})
    enqueue(not_before=clock.now() + dt.timedelta(minutes=10))
    assert dispatcher.run_once() == 0
    clock.advance(minutes=10)
    assert dispatcher.run_once() == 1
    assert len(channel.sent) == 1


def test_transient_failure_backs_off_exponentially_with_jitter(make_services, enqueue, session_factory,
                                                               clock) -> None:
    """A failing provider is retried later and later (10 s, 20 s, 40 s ceilings, jittered), never hammered."""
    services = make_services(notify={"backoff_base_s": 10, "backoff_max_s": 3600, "max_attempts": 6})
    channel = ScriptedChannel("scripted", [TRANSIENT, TRANSIENT, TRANSIENT])
    rng = random.Random(7)
    expected_rng = random.Random(7)
    dispatcher = Dispatcher(services, channels={"scripted": channel}, rng=rng)
    message_id = enqueue()
    for attempt in (1, 2, 3):
        start = clock.now()
        assert dispatcher.run_once() == 1
        row = _row(session_factory, message_id)
        delay = (row.next_attempt_at - start).total_seconds()
        ceiling = 10 * 2 ** (attempt - 1)
        assert (row.status, row.attempts) == ("pending", attempt)
        assert ceiling / 2 <= delay <= ceiling
        assert delay == pytest.approx(backoff_delay(attempt, 10, 3600, expected_rng.random()), abs=1e-3)
        assert "scripted: HTTP 503" in row.last_error
        # Not due a moment before the retry time; due at it.
        clock.set(row.next_attempt_at - dt.timedelta(seconds=0.5))
        assert dispatcher.run_once() == 0
        clock.set(row.next_attempt_at)
    assert dispatcher.run_once() == 1
    assert _row(session_factory, message_id).status == "sent"
    assert len(channel.sent) == 4
    # Every attempt carried the same key: the provider can drop a duplicate.
    assert len({m.idempotency_key for m in channel.sent}) == 1
    assert dispatcher.stats.get("retry") == 3


def test_exhausted_channel_falls_back_to_next_and_resets_attempts(make_services, enqueue, session_factory,
                                                                  clock) -> None:
    """After max_attempts on SMS, the message goes to the recipient's next channel (WeCom) right away."""
    services = make_services(notify={"max_attempts": 2, "backoff_base_s": 1, "backoff_max_s": 5})
    sms = ScriptedChannel("sms", [TRANSIENT, TRANSIENT])
    wecom = ScriptedChannel("wecom_test")
    dispatcher = Dispatcher(services, channels={"sms": sms, "wecom_test": wecom})
    message_id = enqueue(channels=("sms", "wecom_test"))
    dispatcher.run_once()
    clock.advance(seconds=10)
    dispatcher.run_once()  # second failure: fall back and send through wecom in the same pass
    row = _row(session_factory, message_id)
    assert (row.status, row.channel, row.fallback_channels) == ("sent", "wecom_test", [])
    assert len(sms.sent) == 2 and len(wecom.sent) == 1
    assert wecom.sent[0].attempts == 0  # attempts start again on the new channel
    assert row.last_error.startswith("sms: HTTP 503 (2")
    # Each channel gets its own stable key derived from the row's key.
    row_key = row.idempotency_key
    assert sms.sent[0].idempotency_key == channel_idempotency_key(row_key, "sms")
    assert wecom.sent[0].idempotency_key == channel_idempotency_key(row_key, "wecom_test")
    assert sms.sent[0].idempotency_key != wecom.sent[0].idempotency_key


def test_permanent_failure_falls_back_without_retrying(make_services, enqueue, session_factory) -> None:
    """A bad number is not retried six times: the next channel is used at once."""
    sms = ScriptedChannel("sms", [PERMANENT])
    dry = ScriptedChannel("dry2", [Delivery(ok=True, not_sent=True)])
    dispatcher = Dispatcher(make_services(), channels={"sms": sms, "dry2": dry})
    message_id = enqueue(channels=("sms", "dry2"))
    dispatcher.run_once()
    row = _row(session_factory, message_id)
    assert (row.status, row.channel, len(sms.sent)) == ("not_sent", "dry2", 1)


def test_when_every_channel_fails_the_row_is_failed_and_says_why(make_services, enqueue, session_factory) -> None:
    """Nobody is silently not told: the row ends 'failed' with each channel's reason for the console."""
    sms = ScriptedChannel("sms", [PERMANENT])
    hook = ScriptedChannel("hook", [Delivery(ok=False, permanent=True, error="HTTP 410 gone")])
    dispatcher = Dispatcher(make_services(), channels={"sms": sms, "hook": hook})
    message_id = enqueue(channels=("sms", "hook"))
    dispatcher.run_once()
    row = _row(session_factory, message_id)
    assert row.status == "failed"
    assert row.last_error.splitlines() == ["sms: HTTP 404", "hook: HTTP 410 gone"]
    assert dispatcher.stats.get("failed") == 1
    assert dispatcher.run_once() == 0  # a failed row is not picked up again


def test_unconfigured_channel_is_skipped_for_the_next(make_services, enqueue, session_factory) -> None:
    """WeCom without a webhook URL is not configured: the message goes through dry-run instead of failing."""
    dispatcher = Dispatcher(make_services())  # real channel modules, embedded defaults
    message_id = enqueue(channels=("wecom", "dryrun"))
    dispatcher.run_once()
    row = _row(session_factory, message_id)
    assert (row.status, row.channel, row.provider_ref) == ("not_sent", "dryrun", "dryrun")
    assert "wecom: " in row.last_error and "渠道未配置" in row.last_error


def test_default_channel_expands_to_configured_defaults(make_services, enqueue, session_factory) -> None:
    """A recipient without a preference gets settings.notify.default_channels, in order."""
    first = ScriptedChannel("first", [PERMANENT])
    second = ScriptedChannel("second")
    services = make_services(notify={"default_channels": ["first", "second"]})
    dispatcher = Dispatcher(services, channels={"first": first, "second": second})
    message_id = enqueue(channels=None)  # no preference → "default"
    assert _row(session_factory, message_id).channel == "default"
    dispatcher.run_once()
    row = _row(session_factory, message_id)
    assert (row.status, row.channel) == ("sent", "second")
    assert len(first.sent) == 1


def test_dry_run_rows_are_marked_not_sent(make_services, enqueue, session_factory) -> None:
    """With embedded defaults nothing leaves the machine and the console can label the row 未发送."""
    dispatcher = Dispatcher(make_services())
    message_id = enqueue(channels=None)
    dispatcher.run_once()
    assert _row(session_factory, message_id).status == "not_sent"
    assert dispatcher.stats.get("not_sent") == 1


def test_a_raising_channel_is_a_transient_failure(make_services, enqueue, session_factory) -> None:
    """A bug in one channel does not stop the dispatcher: the row is retried later, the next row still goes."""
    broken = ScriptedChannel("broken", [RuntimeError("token=abc +8613800001234 exploded")])
    ok = ScriptedChannel("ok")
    dispatcher = Dispatcher(make_services(), channels={"broken": broken, "ok": ok})
    bad_id = enqueue(channels=("broken",))
    good_id = enqueue(channels=("ok",))
    assert dispatcher.run_once() == 2
    bad = _row(session_factory, bad_id)
    assert (bad.status, bad.attempts) == ("pending", 1)
    assert "RuntimeError" in bad.last_error and "+8613800001234" not in bad.last_error
    assert _row(session_factory, good_id).status == "sent"
    assert dispatcher.stats.get("channel_error") == 1


def test_cancelled_row_is_not_overwritten(make_services, enqueue, session_factory) -> None:
    """A row cancelled in the console while it was being sent stays cancelled."""
    message_id = enqueue()

    class CancellingChannel(ScriptedChannel):
        def send(self, message):
            with transaction(session_factory) as session:
                session.get(OutboxMessage, message.id).status = "cancelled"
            return super().send(message)

    dispatcher = Dispatcher(make_services(), channels={"scripted": CancellingChannel("scripted")})
    dispatcher.run_once()
    assert _row(session_factory, message_id).status == "cancelled"


def test_crash_between_send_and_mark_resends_with_the_same_key(make_services, enqueue, session_factory) -> None:
    """If marking fails after the provider accepted, the row is sent again later with the same key, then marked."""
    channel = ScriptedChannel("scripted")
    services = make_services()
    message_id = enqueue()

    class FailingMark:
        """A session factory whose write transactions fail once (the database went away after the send)."""

        def __init__(self) -> None:
            self.failed = False

        def __call__(self, *args, **kwargs):
            session = session_factory(*args, **kwargs)
            if channel.sent and not self.failed:
                self.failed = True
                session.close()
                raise sa.exc.OperationalError("UPDATE outbox_message", {}, Exception("server closed the connection"))
            return session

    services.session_factory = FailingMark()
    dispatcher = Dispatcher(services, channels={"scripted": channel})
    with pytest.raises(sa.exc.OperationalError):
        dispatcher.run_once()
    assert _row(session_factory, message_id).status == "pending"
    dispatcher.run_once()
    assert _row(session_factory, message_id).status == "sent"
    assert len(channel.sent) == 2
    assert channel.sent[0].idempotency_key == channel.sent[1].idempotency_key


def test_run_forever_survives_a_database_outage(make_services, enqueue, session_factory) -> None:
    """While the database is unreachable the loop logs and backs off; when it returns, the message goes out."""
    message_id = enqueue()
    outage = threading.Event()
    outage.set()
    calls = {"failed": 0}

    def flaky_factory(*args, **kwargs):
        if outage.is_set():
            calls["failed"] += 1
            if calls["failed"] >= 3:
                outage.clear()  # the database comes back after three failed polls
            raise sa.exc.OperationalError("SELECT", {}, Exception("could not connect to server"))
        return session_factory(*args, **kwargs)

    services = make_services()
    services.session_factory = flaky_factory
    channel = ScriptedChannel("scripted")
    sent = threading.Event()
    original_send = channel.send

    def send_and_signal(message):
        result = original_send(message)
        sent.set()
        return result

    channel.send = send_and_signal
    dispatcher = Dispatcher(services, channels={"scripted": channel})
    stop = threading.Event()
    worker = threading.Thread(target=dispatcher.run_forever, args=(stop,), kwargs={"tick_s": 0.01})
    worker.start()
    try:
        assert sent.wait(timeout=30)
    finally:
        stop.set()
        worker.join(timeout=10)
    assert not worker.is_alive()
    assert calls["failed"] >= 3
    assert dispatcher.stats.get("database_error") >= 3
    with session_factory() as session:
        assert session.get(OutboxMessage, message_id).status in ("pending", "sent")


def test_messages_are_sent_concurrently_and_each_is_marked(make_services, enqueue, session_factory) -> None:
    """A slow provider does not make an SOS wait behind a whole batch: several sends are in flight at once."""
    barrier = threading.Barrier(3, timeout=10)  # breaks (and the sends fail) unless three sends overlap

    class SlowChannel(ScriptedChannel):
        def send(self, message):
            barrier.wait()
            return super().send(message)

    ids = [enqueue(f"通知{i}") for i in range(6)]
    dispatcher = Dispatcher(make_services(), channels={"scripted": SlowChannel("scripted")}, concurrency=3)
    try:
        assert dispatcher.run_once(limit=6) == 6
    finally:
        dispatcher.close()
    with session_factory() as session:
        assert {session.get(OutboxMessage, i).status for i in ids} == {"sent"}


def test_stats_are_exported_through_services_extras(make_services, enqueue) -> None:
    """/metrics reads the dispatcher's counters from services.extras (the hook xiaoyuan.metrics uses)."""
    services = make_services()
    dispatcher = Dispatcher(services, channels={"scripted": ScriptedChannel("scripted", [TRANSIENT])})
    enqueue()
    dispatcher.run_once()
    snapshot = services.extras["counters:outbox_dispatch"].snapshot()
    help_text, values = snapshot["xiaoyuan_outbox_dispatch"]
    assert values["retry"] == 1 and values["sent"] == 0
    assert snapshot["xiaoyuan_outbox_dispatch_by_channel"][1] == {"scripted:retry": 1}
