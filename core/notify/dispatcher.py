"""The outbox dispatcher: sends due outbox rows through their channels, retries, falls back, marks the result.

Delivery is at least once. A row is marked only after its channel answered, in a short transaction of
its own, so a crash between send and mark re-sends that one row later — with the same idempotency key,
which every channel carries to its provider so the provider can drop the duplicate.

The dispatcher assumes it is the only active sender for its database (the worker lease guarantees that);
if two ever overlap during a takeover, the idempotency keys keep the overlap harmless at providers that
honour them.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.container import Services
from core.db import rows_changed, transaction
from core.i18n import translate
from core.models.outbox import OutboxMessage
from core.notify import texts
from core.notify.base import Channel, Delivery, OutgoingMessage, channel_modules, redact
from core.notify.outbox import DEFAULT_CHANNEL, WAKE_PRIORITY, Recipient, enqueue_message, wake_on_commit
from core.phones import mask_phone

log = logging.getLogger(__name__)

# How long run_forever waits after a database error at most (it starts at tick_s and doubles).
MAX_ERROR_BACKOFF_S = 60.0
# Messages sent at the same time. Providers answer in 50-300 ms, so one at a time would be ~3-20 messages a
# second and an SOS could wait behind a whole batch. A crash re-sends at most this many rows (same keys).
DEFAULT_CONCURRENCY = 4
LAST_ERROR_LIMIT = 1000


# --- Pure decisions (unit-tested without a database) ----------------------------------------------------


def plan_channels(channel: str, fallbacks: Iterable[str], default_channels: Sequence[str]) -> tuple[str, ...]:
    """The concrete channels to try, in order: "default" expands to the configured defaults, repeats are dropped."""
    planned: list[str] = []
    for name in (channel, *fallbacks):
        for concrete in default_channels if name == DEFAULT_CHANNEL else (name,):
            if concrete and concrete not in planned:
                planned.append(concrete)
    return tuple(planned)


def backoff_delay(attempts: int, base_s: float, max_s: float, jitter: float) -> float:
    """Seconds to wait after the `attempts`-th failure: exponential, capped, with "equal jitter".

    The ceiling doubles from `base_s` with each failure up to `max_s`; the delay is drawn from the upper
    half of it (`jitter` in [0, 1)), so retries after an outage spread out but never come back at once.
    """
    ceiling = min(max_s, base_s * 2 ** max(attempts - 1, 0))
    return ceiling * (0.5 + 0.5 * min(max(jitter, 0.0), 1.0))


def channel_idempotency_key(row_key: str, channel: str) -> str:
    """The key carried to a channel's provider: stable per (row, channel), different between channels.

    Stable, so a re-send after a crash carries the same key. Different per channel, because a provider
    that remembers a key's answer (including a failure) must not swallow a fallback delivery to it.
    """
    return f"{row_key}-{channel}"


@dataclass(frozen=True)
class Decision:
    """What to write to an outbox row after one send attempt."""

    outcome: str  # sent | not_sent | retry | fallback | failed
    attempts: int
    channels: tuple[str, ...]  # the remaining plan, current channel first
    delay_s: float = 0.0
    error: str = ""


def decide(delivery: Delivery, *, attempts: int, channels: tuple[str, ...], max_attempts: int,
           jitter: float, base_s: float, max_s: float) -> Decision:
    """The next state of a row from the result of sending it through channels[0] after `attempts` failures."""
    if delivery.ok:
        return Decision("not_sent" if delivery.not_sent else "sent", attempts, channels)
    tried = attempts + 1
    error = delivery.error or "failed"
    if not delivery.permanent and tried < max_attempts:
        return Decision("retry", tried, channels, backoff_delay(tried, base_s, max_s, jitter), error)
    if not delivery.permanent:
        error = translate(texts.DELIVERY_GAVE_UP, error=error, tried=tried)
    if len(channels) > 1:
        return Decision("fallback", 0, channels[1:], 0.0, error)
    return Decision("failed", tried, channels, 0.0, error)


# --- Counters for /metrics -------------------------------------------------------------------------------


class DispatchStats:
    """Thread-safe counts of dispatch outcomes; `snapshot()` is the shape xiaoyuan.metrics reads from extras."""

    OUTCOMES = ("sent", "not_sent", "retry", "fallback", "failed", "channel_error", "database_error")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outcomes: Counter[str] = Counter(dict.fromkeys(self.OUTCOMES, 0))
        self._by_channel: Counter[str] = Counter()

    def add(self, outcome: str, channel: str | None = None) -> None:
        """Count one outcome (optionally for a channel)."""
        with self._lock:
            self._outcomes[outcome] += 1
            if channel:
                self._by_channel[f"{channel}:{outcome}"] += 1

    def get(self, outcome: str) -> int:
        """The count of one outcome."""
        with self._lock:
            return self._outcomes[outcome]

    def snapshot(self) -> dict[str, tuple[str, dict[str, int]]]:
        """{metric name: (help text, {kind: value})} for Prometheus counters."""
        with self._lock:
            return {
                "xiaoyuan_outbox_dispatch": ("Outbox send attempts by outcome", dict(self._outcomes)),
                "xiaoyuan_outbox_dispatch_by_channel": (
                    "Outbox send attempts by channel:outcome", dict(self._by_channel)),
            }


# --- The dispatcher --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Due:
    """A due row, detached from its session, with its concrete channel plan."""

    message: OutgoingMessage
    channels: tuple[str, ...]
    attempts: int
    last_error: str


class Dispatcher:
    """Sends due outbox rows through channels; one instance per process, driven from one thread.

    Each batch is sent by up to `concurrency` threads (1: strictly one after another, in priority order);
    every row is marked by the thread that sent it. `channels` maps names to ready Channel objects and takes
    precedence over the channel modules (tests, embedding); they must be thread-safe when concurrency > 1.
    `rng` draws the backoff jitter. The dispatcher registers its counters as
    `services.extras["counters:outbox_dispatch"]`, which /metrics exports.
    """

    def __init__(self, services: Services, *, channels: Mapping[str, Channel | None] | None = None,
                 rng: random.Random | None = None, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self.services = services
        self.stats = DispatchStats()
        self.concurrency = max(1, concurrency)
        self._overrides = dict(channels or {})
        self._built: dict[str, Channel | None] = {}
        self._build_lock = threading.Lock()
        self._modules: dict[str, object] | None = None
        self._rng = rng or random.Random()
        self._pool: ThreadPoolExecutor | None = None
        self._wake = threading.Event()
        self._stop: threading.Event | None = None
        self.last_loop_at: dt.datetime | None = None  # when run_forever last looked for due rows (/healthz)
        services.extras["counters:outbox_dispatch"] = self.stats

    # -- channels

    def channel(self, name: str) -> Channel | None:
        """The built channel of that name, or None when it is unknown or not configured (cached)."""
        if name in self._overrides:
            return self._overrides[name]
        with self._build_lock:
            return self._build_channel(name)

    def _build_channel(self, name: str) -> Channel | None:
        if name not in self._built:
            if self._modules is None:
                self._modules = channel_modules()
            module = self._modules.get(name)
            built: Channel | None = None
            if module is None:
                log.warning("outbox: unknown channel %r", name)
            else:
                try:
                    built = module.build(self.services)  # type: ignore[attr-defined]
                except Exception as exc:
                    log.error("outbox: channel %s could not be built: %s", name, redact(str(exc)))
                if built is None:
                    log.info("outbox: channel %s is not configured", name)
            self._built[name] = built
        return self._built[name]

    def close(self) -> None:
        """Stop the send threads and close the channels that hold connections."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for built in [*self._built.values(), *self._overrides.values()]:
            closer: Callable[[], None] | None = getattr(built, "close", None)
            if closer is not None:
                try:
                    closer()
                except Exception:
                    log.debug("outbox: closing a channel failed", exc_info=True)
        self._built.clear()

    # -- the loop

    def wake(self) -> None:
        """Ask run_forever to look for due rows now (e.g. right after an urgent message was enqueued)."""
        self._wake.set()

    def run_forever(self, stop_event: threading.Event, tick_s: float | None = None, batch: int | None = None) -> None:
        """Dispatch until stop_event is set; survive database outages and channel errors (log, back off, go on)."""
        tick = self.services.settings.worker.tick_seconds if tick_s is None else tick_s
        limit = batch or self.services.settings.worker.dispatch_batch
        self._stop = stop_event
        error_wait = tick
        log.info("outbox dispatcher started (tick %.2fs, batch %d)", tick, limit)
        try:
            while not stop_event.is_set():
                self.last_loop_at = self.services.clock.now()
                try:
                    sent = self.run_once(limit)
                except sa.exc.SQLAlchemyError as exc:
                    self.stats.add("database_error")
                    log.warning("outbox: database unavailable (%s); retrying in %.1fs",
                                redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__), error_wait)
                    stop_event.wait(error_wait)
                    error_wait = min(MAX_ERROR_BACKOFF_S, max(error_wait * 2, 0.05))
                    continue
                except Exception:
                    log.exception("outbox: dispatch batch failed; retrying in %.1fs", error_wait)
                    stop_event.wait(error_wait)
                    error_wait = min(MAX_ERROR_BACKOFF_S, max(error_wait * 2, 0.05))
                    continue
                error_wait = tick
                if sent >= limit:
                    continue  # more may be due right now
                self._idle(stop_event, tick)
        finally:
            self._stop = None
            log.info("outbox dispatcher stopped")

    def _idle(self, stop_event: threading.Event, tick: float) -> None:
        """Wait for the next tick, a wake-up, a due urgent row or the stop signal, whichever comes first.

        A wake-up comes from this process's commits; an SOS committed by another process (a listener of a
        district deployment) is found by a cheap look for due urgent rows every `notify.urgent_poll_s`.
        """
        remaining = tick
        poll = float(self.services.settings.notify.urgent_poll_s or 0)
        slice_s = min(poll or 0.25, tick) if tick > 0 else 0.0
        while remaining > 0:
            # Block on the wake-up itself (not on the stop signal), so a wake-up is seen at once.
            if self._wake.wait(slice_s) or stop_event.is_set():
                break
            remaining -= slice_s
            if poll > 0 and self._urgent_due():
                break
        self._wake.clear()

    def _urgent_due(self) -> bool:
        """Whether a critical or urgent row is due now (False when the database cannot say)."""
        try:
            now = self.services.clock.now()
            with self.services.session_factory() as session:
                return session.scalar(
                    sa.select(OutboxMessage.id)
                    .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now,
                           OutboxMessage.priority <= WAKE_PRIORITY)
                    .limit(1)
                ) is not None
        except sa.exc.SQLAlchemyError:
            return False

    def run_once(self, limit: int = 50) -> int:
        """Send up to `limit` due rows (most urgent first, then oldest); return how many were attempted.

        Raises SQLAlchemyError when the database is unavailable; rows sent but not yet marked stay
        pending and are sent again, with the same idempotency key, by a later call.
        """
        due = self._load_due(limit)
        if self.concurrency == 1 or len(due) <= 1:
            return sum(self._dispatch_unless_stopped(item) for item in due)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="outbox-send")
        futures = [self._pool.submit(self._dispatch_unless_stopped, item) for item in due]
        # Every row finishes (sent and marked, or left pending) before the first error, if any, is raised.
        errors = [future.exception() for future in futures]
        for error in errors:
            if error is not None:
                raise error
        return sum(future.result() for future in futures)

    def _dispatch_unless_stopped(self, item: _Due) -> int:
        if self._stop is not None and self._stop.is_set():
            return 0
        self._dispatch(item)
        return 1

    # -- one row

    def _load_due(self, limit: int) -> list[_Due]:
        now = self.services.clock.now()
        defaults = self.services.settings.notify.default_channels
        query = (
            sa.select(OutboxMessage)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.priority, OutboxMessage.created_at, OutboxMessage.id)
            .limit(limit)
        )
        due: list[_Due] = []
        with self.services.session_factory() as session:
            for row in session.scalars(query):
                plan = plan_channels(row.channel, row.fallback_channels or (), defaults)
                message = OutgoingMessage(
                    id=row.id, idempotency_key=row.idempotency_key, channel=plan[0] if plan else row.channel,
                    recipient_name=row.recipient_name, recipient_phone=row.recipient_phone,
                    recipient_user_id=row.recipient_user_id, template=row.template, params=dict(row.params or {}),
                    text=row.text, priority=row.priority, attempts=row.attempts,
                    subject_type=row.subject_type, subject_id=row.subject_id,
                )
                due.append(_Due(message, plan, row.attempts, row.last_error or ""))
        return due

    def _send(self, message: OutgoingMessage, channel_name: str) -> Delivery:
        """One attempt through one channel; never raises (a raising channel is a transient failure)."""
        channel = self.channel(channel_name)
        if channel is None:
            return Delivery(ok=False, permanent=True, error=translate(texts.CHANNEL_NOT_CONFIGURED))
        keyed = replace(message, channel=channel_name,
                        idempotency_key=channel_idempotency_key(message.idempotency_key, channel_name))
        try:
            return channel.send(keyed)
        except Exception as exc:
            self.stats.add("channel_error", channel_name)
            error = redact(f"{type(exc).__name__}: {exc}")
            log.warning("outbox: channel %s raised on message %d: %s", channel_name, message.id, error)
            return Delivery(ok=False, error=error)

    def _dispatch(self, item: _Due) -> None:
        settings = self.services.settings.notify
        message = item.message
        if not item.channels:
            self._mark(message.id, "-", Decision("failed", item.attempts, (), 0.0, translate(texts.NO_CHANNEL)),
                       item.last_error)
            return
        channels, attempts, errors = item.channels, item.attempts, item.last_error
        while True:
            delivery = self._send(replace(message, attempts=attempts), channels[0])
            decision = decide(
                delivery, attempts=attempts, channels=channels, max_attempts=max(settings.max_attempts, 1),
                jitter=self._rng.random(), base_s=settings.backoff_base_s, max_s=settings.backoff_max_s,
            )
            # A fallback is recorded before the next channel is tried: a crash then re-tries the new one only.
            errors = self._mark(message.id, channels[0], decision, errors, delivery)
            if decision.outcome != "fallback":
                break
            log.info("outbox: message %d to %s falls back from %s to %s (%s)", message.id,
                     mask_phone(message.recipient_phone), channels[0], decision.channels[0], decision.error)
            channels, attempts = decision.channels, decision.attempts
        if decision.outcome == "retry":
            log.info("outbox: message %d via %s failed (attempt %d), retry in %.0fs: %s", message.id, channels[0],
                     decision.attempts, decision.delay_s, decision.error)
        elif decision.outcome == "failed":
            log.warning("outbox: message %d (%s) to %s could not be delivered: %s", message.id, message.template,
                        mask_phone(message.recipient_phone), errors.replace("\n", "; "))
        else:
            log.debug("outbox: message %d %s via %s", message.id, decision.outcome, channels[0])

    def _mark(self, message_id: int, channel: str, decision: Decision, errors: str,
              delivery: Delivery | None = None) -> str:
        """Write the decision about one attempt through `channel` in its own short transaction; return last_error."""
        now = self.services.clock.now()
        values: dict[str, object] = {"attempts": decision.attempts}
        if decision.channels:
            values["channel"] = decision.channels[0]
            values["fallback_channels"] = list(decision.channels[1:])
        if decision.error:
            errors = merge_error(errors, channel, decision.error)
            values["last_error"] = errors
        if decision.outcome in ("sent", "not_sent"):
            ref = delivery.provider_ref if delivery is not None else None
            values.update(status=decision.outcome, sent_at=now, provider_ref=ref[:100] if ref else None)
        elif decision.outcome == "retry":
            values["next_attempt_at"] = now + dt.timedelta(seconds=decision.delay_s)
        elif decision.outcome == "fallback":
            values["next_attempt_at"] = now
        elif decision.outcome == "failed":
            values["status"] = "failed"
        with transaction(self.services.session_factory) as session:
            if session.get_bind().dialect.name == "postgresql":
                # A mark lost in a database server crash only means one more send with the same key, so the
                # mark need not wait for its WAL flush (one fsync per message capped PostgreSQL at ~120/s).
                session.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))
            result = session.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending")
                .values(**values)
            )
            if rows_changed(result) == 0:
                log.info("outbox: message %d changed while it was being sent (cancelled?)", message_id)
                if decision.outcome == "sent" and channel == "voice_call" and delivery is not None:
                    hang_up_cancelled_call(session, now=now, message_id=message_id, call_id=delivery.provider_ref)
        self.stats.add(decision.outcome, channel)
        return errors


def hang_up_cancelled_call(session: Session, *, now: dt.datetime, message_id: int, call_id: str | None) -> bool:
    """A call was placed for a row cancelled meanwhile (someone took the alert while it was dialling): keep its
    call id on the row and hang it up through the outbox, so that phone stops ringing. True when queued."""
    row = session.get(OutboxMessage, message_id)
    if row is None or row.status != "cancelled" or not call_id:
        return False
    row.provider_ref = call_id[:100]
    enqueue_message(session, now=now, recipient=Recipient(name=row.recipient_name, phone=row.recipient_phone),
                    template="outbox.hangup", text="", params={"call_id": call_id},
                    priority=0, dedup_key=f"hangup:{row.id}", subject=(f"{row.subject_type or 'message'}_call",
                                                                        row.subject_id or row.id),
                    village_id=row.village_id, channels=["call_hangup"])
    log.info("outbox: message %d was cancelled while its call was placed; hanging the call up", message_id)
    return True


def register_wake(services: Services, wake: Callable[[], None]) -> None:
    """Make `wake` this process's `outbox_wake` hook, called after every commit that enqueued an urgent row.

    The commit hook is installed once per services and always calls the current hook, so a worker that
    stands by and becomes active again (a new dispatcher) is woken too.
    """
    services.extras["outbox_wake"] = wake
    if "outbox_wake:installed" not in services.extras:
        services.extras["outbox_wake:installed"] = wake_on_commit(
            services.session_factory, lambda: services.extras["outbox_wake"]())


def merge_error(previous: str, channel: str, error: str) -> str:
    """last_error keeps one line per channel tried ("channel: latest error"), so a failed row shows every reason."""
    lines = [line for line in previous.splitlines() if line and not line.startswith(f"{channel}: ")]
    lines.append(f"{channel}: {error}")
    joined = "\n".join(lines)
    return joined if len(joined) <= LAST_ERROR_LIMIT else "…" + joined[-(LAST_ERROR_LIMIT - 1):]
