"""Hang-up channel: ends a call placed earlier (the other phones still ringing when someone took an alert).

The row is written in the transaction that acknowledged the alert, so the hang-up survives a crash and
runs in the process that owns the telephony provider; `params["call_id"]` names the provider's call.
"""

from __future__ import annotations

import logging

from core.container import Services
from core.notify.base import Delivery, OutgoingMessage, redact
from core.phone.telephony.port import Telephony, TelephonyError

NAME = "call_hangup"
log = logging.getLogger(__name__)


class CallHangupChannel:
    """Ends the call named by the message; a call that already ended is fine."""

    name = NAME

    def __init__(self, telephony: Telephony) -> None:
        self.telephony = telephony

    def send(self, message: OutgoingMessage) -> Delivery:
        """Hang the call up; never raise."""
        call_id = str(message.params.get("call_id") or "")
        if not call_id:
            return Delivery(ok=False, permanent=True, error="no call to hang up")
        try:
            self.telephony.hangup(call_id)
        except TelephonyError as exc:
            return Delivery(ok=False, permanent=exc.permanent, error=redact(str(exc)))
        except Exception as exc:
            return Delivery(ok=False, error=redact(f"{type(exc).__name__}: {exc}"))
        log.info("hung up call %s (message %s)", call_id, message.id)
        return Delivery(ok=True, not_sent=self.telephony.is_dryrun, provider_ref=call_id)


def build(services: Services) -> CallHangupChannel | None:
    """The channel when a telephony provider is wired, else None."""
    if services.telephony is None:
        return None
    return CallHangupChannel(services.telephony)
