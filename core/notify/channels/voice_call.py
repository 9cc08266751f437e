"""Voice-call channel: phone the recipient, speak the message and ask them to press 1 to confirm.

The call's TwiML is served by the phone line (/voice/twilio/confirm); a keypress there goes to
`core.phone.confirmations.confirm`, which hands it to the message subject's handler.
"""

from __future__ import annotations

import logging

from core.container import Services
from core.notify.base import Delivery, OutgoingMessage, redact
from core.phone.telephony.port import Telephony, TelephonyError
from core.phones import mask_phone, try_normalise_phone

NAME = "voice_call"
CONFIRM_PATH = "/voice/twilio/confirm"
CONFIRM_STATUS_PATH = "/voice/twilio/confirm/status"
log = logging.getLogger(__name__)


class VoiceCallChannel:
    """Places one outbound call per message through the telephony port."""

    name = NAME

    def __init__(self, telephony: Telephony, base_url: str, ring_timeout_s: int) -> None:
        self.telephony = telephony
        self.base_url = base_url.rstrip("/")
        self.ring_timeout_s = ring_timeout_s

    def send(self, message: OutgoingMessage) -> Delivery:
        """Place the call (the provider's answer, not the person's, makes it "sent"); never raise."""
        to = try_normalise_phone(message.recipient_phone)
        if to is None:
            return Delivery(ok=False, permanent=True, error="no usable phone number")
        try:
            call_id = self.telephony.place_call(
                to, self.telephony.from_number, f"{self.base_url}{CONFIRM_PATH}?message={message.id}",
                f"{self.base_url}{CONFIRM_STATUS_PATH}?message={message.id}", self.ring_timeout_s,
                idempotency_key=message.idempotency_key,
                # Alert calls ask for voicemail detection: a machine moves the alert on at once.
                machine_detection=bool(message.params.get("machine_detection")),
            )
        except TelephonyError as exc:
            return Delivery(ok=False, permanent=exc.permanent, error=redact(str(exc)))
        except Exception as exc:
            return Delivery(ok=False, error=redact(f"{type(exc).__name__}: {exc}"))
        log.info("voice_call for message %s placed to %s", message.id, mask_phone(to))
        return Delivery(ok=True, not_sent=self.telephony.is_dryrun, provider_ref=call_id)


def build(services: Services) -> VoiceCallChannel | None:
    """The channel when a telephony provider is wired, else None."""
    if services.telephony is None:
        return None
    return VoiceCallChannel(services.telephony, services.settings.public_base_url,
                            int(services.settings.telephony.ring_timeout_s))
