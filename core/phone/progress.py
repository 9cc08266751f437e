"""Call progress (ringing, answered, busy, no-answer, failed, completed) → the state machines that wait for it.

Twilio reports progress to status-callback webhooks; the SIP endpoint reports the same events by
calling these functions directly. Either way the same code moves a help-call leg, closes a call log
or notes a confirmation call, so the dialler cannot tell the providers apart.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

from core.container import Services
from core.db import transaction
from core.models.outbox import OutboxMessage
from core.phone import calls as call_logs
from core.phone import confirmations, dialler

log = logging.getLogger(__name__)
INBOUND_STATUS_PATH = "/voice/twilio/status"
CONFIRM_STATUS_PATH = "/voice/twilio/confirm/status"
# Provider call states that end a call, as the outcome names escalation keeps.
_ENDINGS = {"no-answer": "no_answer", "busy": "busy", "failed": "failed", "canceled": "canceled",
            "completed": "completed"}


def help_leg_progress(services: Services, *, leg_id: int, provider_status: str) -> None:
    """A help-call leg rang, was answered or ended: update it and, when it failed, ring the next person."""
    now = services.clock.now()
    with transaction(services.session_factory) as session:
        move_on = dialler.record_leg_status(session, now=now, leg_id=leg_id, provider_status=provider_status,
                                            answer_keypress_s=services.settings.voice.answer_keypress_s)
        if provider_status == "completed":
            dialler.finish_help_call(session, now=now, leg_id=leg_id)
        view = dialler.leg_view(session, leg_id)
    if move_on and view is not None:
        dialler.advance_help_call(services, view.help_call_id)


def inbound_call_ended(services: Services, *, call_id: str | None, status: str, duration_s: int | None) -> None:
    """An inbound call is over: close its call log with the duration."""
    if status not in _ENDINGS:
        return
    with transaction(services.session_factory) as session:
        call_logs.finish_call(session, provider_call_id=call_id, status=status, duration_s=duration_s,
                              now=services.clock.now())


def is_machine(answered_by: str | None) -> bool:
    """Whether answering-machine detection says a machine (voicemail, fax) took the call (pure)."""
    answered = (answered_by or "").strip().lower()
    return answered.startswith("machine") or answered == "fax"


def call_outcome(provider_status: str, answered_by: str = "") -> str | None:
    """How a call ended ("machine" when answering-machine detection says so), or None while it goes on."""
    if is_machine(answered_by):
        return "machine"
    return _ENDINGS.get((provider_status or "").strip().lower())


def confirmation_call_progress(services: Services, message_id: int, provider_status: str,
                               answered_by: str = "") -> None:
    """A confirmation call's progress: when it ended (or a machine answered), its subject decides what next.

    (An alert tells its next level at once when every call of the current level ended unanswered.)
    """
    outcome = call_outcome(provider_status, answered_by)
    log.info("confirmation call for message %s: %s%s", message_id, provider_status or "-",
             f" ({answered_by})" if answered_by else "")
    if outcome is None:
        return
    with services.session_factory() as session:
        message = session.get(OutboxMessage, message_id)
    if message is not None:
        confirmations.call_ended(services, message=message, outcome=outcome)


def report_progress(services: Services, status_url: str | None, provider_status: str, *,
                    call_id: str | None = None, duration_s: int | None = None) -> None:
    """Deliver progress to whoever the call's status URL names (what Twilio would POST it to)."""
    if not status_url:
        return
    parts = urlsplit(status_url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    path = parts.path
    if path.endswith(dialler.STATUS_PATH):
        leg = _int(query.get("leg"))
        if leg is not None:
            help_leg_progress(services, leg_id=leg, provider_status=provider_status)
    elif path.endswith(CONFIRM_STATUS_PATH):
        message = _int(query.get("message"))
        if message is not None:
            confirmation_call_progress(services, message, provider_status)
    elif path.endswith(INBOUND_STATUS_PATH):
        inbound_call_ended(services, call_id=call_id, status=provider_status, duration_s=duration_s)
    else:
        log.warning("call progress for an unknown status URL path %s", path)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
