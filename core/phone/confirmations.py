"""Keypress confirmations from outbound calls and SMS replies, routed by the message's subject.

A voice call placed for an outbox message (channel `voice_call`) asks the person to press a key;
an SMS reply carries a short code. Either way the edge calls `confirm()`, which hands the answer to
the handler registered for the message's subject type (alert, reminder, request_followup, …).
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from core.i18n import SPOKEN_LOCALE
from core.models.outbox import OutboxMessage
from core.notify.outbox import user_locale

# handler(session, now, message, digits) -> text to speak/reply (in `reply_locale`), or None if nothing happened
Handler = Callable[[Session, dt.datetime, OutboxMessage, str], str | None]
_HANDLERS: dict[str, Handler] = {}
# ended(services, message, outcome): a confirmation call ended without a keypress (see core.phone.progress)
CallEndedHandler = Callable[[Any, OutboxMessage, str], None]
_CALL_ENDED: dict[str, CallEndedHandler] = {}
# The modules that register a handler when imported (alerts, follow-up questions, reminders).
SUBJECT_OWNERS = ("core.bands.alerts", "core.requests.followup", "core.requests.reminders")
_loaded = False


def register_confirmation(subject_type: str, handler: Handler) -> None:
    """Register the handler for one subject type (called at import of the owning service module)."""
    _HANDLERS[subject_type] = handler


def register_call_ended(subject_type: str, handler: CallEndedHandler) -> None:
    """Register what happens when a confirmation call for this subject type ends (no answer, busy, …)."""
    _CALL_ENDED[subject_type] = handler


def _load_service_modules() -> None:
    global _loaded
    if _loaded:
        return
    for name in SUBJECT_OWNERS:
        importlib.import_module(name)
    _loaded = True


def has_handler(subject_type: str | None) -> bool:
    """Whether a keypress or SMS reply for this subject type does anything (so it is worth asking for)."""
    _load_service_modules()
    return bool(subject_type) and subject_type in _HANDLERS


def reply_locale(session: Session, message: OutboxMessage) -> str:
    """The language of the answer to a keypress or reply: Chinese on a call, the reader's own in an SMS."""
    if message.channel == "voice_call":
        return SPOKEN_LOCALE
    return user_locale(session, message.recipient_user_id)


def confirm(session: Session, *, now: dt.datetime, message: OutboxMessage, digits: str) -> str | None:
    """Route a keypress (or SMS reply) for an outbox message to its subject's handler."""
    _load_service_modules()
    handler = _HANDLERS.get(message.subject_type or "")
    if handler is None:
        return None
    return handler(session, now, message, digits)


def call_ended(services: Any, *, message: OutboxMessage, outcome: str) -> None:
    """Tell the message subject's owner that its confirmation call ended with `outcome` (no keypress came)."""
    _load_service_modules()
    handler = _CALL_ENDED.get(message.subject_type or "")
    if handler is not None:
        handler(services, message, outcome)
