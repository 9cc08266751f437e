"""Which boxes were seen, written to the database together a moment later.

Every box's first page after a minute away used to write its last-seen time in a transaction of its
own: two hundred boxes coming on at once after a power cut queued two hundred writes in front of
their homes. The times are now collected here and written in one statement `delay` seconds after
the first of them (a timer thread), so a page never waits for that write. Nothing reads the time
more precisely than to the minute (the console's box list, `xiaoyuan tv list`); a process that
dies loses at most the last `delay` seconds of sightings.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.community.tvboxes import mark_seen
from core.db import transaction

log = logging.getLogger(__name__)

FLUSH_DELAY_S = 2.0


def _start_timer(delay: float, action: Callable[[], None]) -> Any:
    timer = threading.Timer(delay, action)
    timer.daemon = True
    timer.start()
    return timer


class SeenBoxes:
    """Last-seen times waiting to be written; `schedule(delay, flush)` arms the write (a timer by default)."""

    def __init__(self, factory: sessionmaker[Session], delay: float = FLUSH_DELAY_S,
                 schedule: Callable[[float, Callable[[], None]], Any] = _start_timer):
        self.factory = factory
        self.delay = delay
        self.schedule = schedule
        self._pending: dict[int, dt.datetime] = {}
        self._armed = False
        self._lock = threading.Lock()

    def note(self, box_id: int, at: dt.datetime) -> None:
        """Box `box_id` was seen at `at`; written with the others within `delay` seconds."""
        with self._lock:
            self._keep_later(box_id, at)
            if self._armed:
                return
            self._armed = True
        self.schedule(self.delay, self.flush)

    def _keep_later(self, box_id: int, at: dt.datetime) -> None:
        """Remember the later of `at` and the time already waiting for this box (caller holds the lock)."""
        known = self._pending.get(box_id)
        self._pending[box_id] = at if known is None else max(known, at)

    def flush(self) -> None:
        """Write every pending time now (one statement); on a database error they wait for the next write."""
        with self._lock:
            pending, self._pending, self._armed = self._pending, {}, False
        if not pending:
            return
        try:
            with transaction(self.factory) as session:
                mark_seen(session, pending)
        except SQLAlchemyError:
            log.warning("could not write when %d TV boxes were last seen; trying again with the next ones",
                        len(pending), exc_info=True)
            with self._lock:
                for box_id, at in pending.items():
                    self._keep_later(box_id, at)


_registry: weakref.WeakKeyDictionary[sessionmaker[Session], SeenBoxes] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def seen_boxes_for(factory: sessionmaker[Session]) -> SeenBoxes:
    """The one collector of a session factory (this process's services)."""
    with _registry_lock:
        seen = _registry.get(factory)
        if seen is None:
            seen = _registry[factory] = SeenBoxes(factory)
        return seen
