"""Dry-run channel: the message stays in the outbox, marked not sent, and the console shows it as 未发送 NOT SENT."""

from __future__ import annotations

import logging

from core.container import Services
from core.notify.base import Delivery, OutgoingMessage
from core.phones import mask_phone

NAME = "dryrun"
log = logging.getLogger(__name__)


class DryRunChannel:
    """Sends nothing; the outbox row itself is the record of what would have been sent."""

    name = NAME

    def send(self, message: OutgoingMessage) -> Delivery:
        """Accept the message without sending it."""
        log.info("dry-run: message %d (%s) to %s not sent", message.id, message.template,
                 mask_phone(message.recipient_phone))
        return Delivery(ok=True, not_sent=True, provider_ref="dryrun")


def build(services: Services) -> DryRunChannel:
    """The dry-run channel is always available."""
    return DryRunChannel()
