"""A short-lived cache of rendered TV pages and of what every box of a 小院 shares, dropped on any write.

Two hundred boxes opening their home at once cost a dozen queries and a template each; most of what
they show changes only when something is written. Every ORM write to a table those pages read,
through the services' session factory in this process, bumps a generation and empties the cache, so
a page never shows data older than the last write made here. Writes by other processes (a separate
worker or gunicorn worker) show after at most `[tv] home_cache_seconds`; 0 turns the cache off.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

# What the cached pages (a box's home, a 小院's board and meeting) are made of: a write to any of these
# empties the cache. Other writes (telemetry from bands, the outbox, audit, the worker's lease, box
# bookkeeping) leave it alone, or a village with streaming wristbands would never hit it. A page
# reading a new table must add it here.
WATCHED_TABLES = frozenset({
    "town", "village", "courtyard", "household", "resident", "point_entry", "point_account", "notice",
    "notice_read", "check_in", "help_call", "help_call_leg", "request", "followup_attempt", "reminder", "day_job",
})
MAX_ENTRIES = 4096
_MISSING = object()


class TvCache:
    """Values by key, valid while no write happened in this process and for at most `ttl` seconds."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic, max_entries: int = MAX_ENTRIES):
        self.ttl = ttl
        self.clock = clock
        self.max_entries = max_entries
        self.generation = 0
        self._entries: OrderedDict[Hashable, tuple[int, float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def changed(self) -> None:
        """Something was written: forget everything."""
        with self._lock:
            self.generation += 1
            self._entries.clear()

    def get(self, key: Hashable) -> Any | None:
        """The cached value, or None when missing, older than the last write or than `ttl`."""
        value = self._lookup(key)
        return None if value is _MISSING else value

    def _lookup(self, key: Hashable) -> Any:
        """The cached value (None included), or _MISSING."""
        if self.ttl <= 0:
            return _MISSING
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return _MISSING
            generation, stored_at, value = found
            if generation != self.generation or self.clock() - stored_at > self.ttl:
                del self._entries[key]
                return _MISSING
            self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any, generation: int) -> None:
        """Keep a value computed while `generation` was current (a write since then drops it)."""
        if self.ttl <= 0:
            return
        with self._lock:
            if generation != self.generation:
                return
            self._entries[key] = (generation, self.clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def remember(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The cached value (None too), or `compute()` stored under the generation it started in."""
        value = self._lookup(key)
        if value is _MISSING:
            generation = self.generation
            value = compute()
            self.put(key, value, generation)
        return value


def _touches_watched(table: str | None) -> bool:
    return table is None or table in WATCHED_TABLES  # unknown: assume it matters


def _writes_something(session: Session) -> bool:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if _touches_watched(getattr(getattr(obj, "__table__", None), "name", None)):
            return True
    return False


def watch_writes(factory: sessionmaker[Session], cache: TvCache) -> None:
    """Bump the cache's generation after every commit of a session of `factory` that wrote anything."""
    wrote: set[int] = set()
    lock = threading.Lock()

    def before_flush(session: Session, _context: Any, _instances: Any) -> None:
        if _writes_something(session):
            with lock:
                wrote.add(id(session))

    def on_execute(state: Any) -> None:
        table = getattr(getattr(state.statement, "table", None), "name", None)
        if (state.is_insert or state.is_update or state.is_delete) and _touches_watched(table):
            with lock:
                wrote.add(id(state.session))

    def after_commit(session: Session) -> None:
        with lock:
            hit = id(session) in wrote
            wrote.discard(id(session))
        if hit:
            cache.changed()

    def after_transaction_end(session: Session, transaction: Any) -> None:
        if transaction.parent is None:  # the outermost one ended (committed above, or rolled back)
            with lock:
                wrote.discard(id(session))

    event.listen(factory, "before_flush", before_flush)
    event.listen(factory, "do_orm_execute", on_execute)
    event.listen(factory, "after_commit", after_commit)
    event.listen(factory, "after_transaction_end", after_transaction_end)


_caches: weakref.WeakKeyDictionary[sessionmaker[Session], TvCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(factory: sessionmaker[Session], ttl: float, clock: Callable[[], float]) -> TvCache:
    """The one cache of a session factory (this process's services), watching its writes from the start."""
    with _caches_lock:
        cache = _caches.get(factory)
        if cache is None:
            cache = _caches[factory] = TvCache(ttl, clock)
            watch_writes(factory, cache)
        cache.ttl = ttl
        return cache
