"""Generic webhook channel: a signed JSON POST to the operator's own endpoint.

Headers: `X-Xiaoyuan-Signature: sha256=<hex HMAC-SHA256 of the raw body with the shared secret>` and
`Idempotency-Key` (also in the body as `idempotency_key`): a receiver drops a key it has seen before.
2xx is delivered; 408, 425, 429 and 5xx are retried; other 4xx give up on this channel.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

import requests

from core.container import Services
from core.notify.base import Delivery, OutgoingMessage, json_body, post_json

NAME = "webhook"
SIGNATURE_HEADER = "X-Xiaoyuan-Signature"
TIMEOUT = (5.0, 10.0)
log = logging.getLogger(__name__)


def sign_body(secret: str, body: bytes) -> str:
    """The signature header value for a body: `sha256=` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def payload_for(message: OutgoingMessage) -> dict[str, Any]:
    """The JSON document a webhook receives (stable across re-sends of the same message)."""
    return {
        "id": message.id,
        "idempotency_key": message.idempotency_key,
        "channel": message.channel,
        "recipient": {
            "name": message.recipient_name,
            "phone": message.recipient_phone,
            "user_id": message.recipient_user_id,
        },
        "template": message.template,
        "params": message.params,
        "text": message.text,
        "priority": message.priority,
        "subject": {"type": message.subject_type, "id": message.subject_id} if message.subject_type else None,
    }


class WebhookChannel:
    """POSTs each message as signed JSON."""

    name = NAME

    def __init__(self, url: str, secret: str, http: requests.Session | None = None) -> None:
        self.url = url
        self.secret = secret
        self.http = http or requests.Session()

    def send(self, message: OutgoingMessage) -> Delivery:
        """POST the message; the receiver's status code decides delivered / retry / give up."""
        body = json_body(payload_for(message))
        headers = {"Idempotency-Key": message.idempotency_key}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign_body(self.secret, body)
        result = post_json(self.http, self.url, body, headers=headers, timeout=TIMEOUT)
        if isinstance(result, Delivery):
            return result
        ref = None
        try:
            answer = result.json()
            if isinstance(answer, dict) and answer.get("id") is not None:
                ref = str(answer["id"])
        except ValueError:
            pass
        return Delivery(ok=True, provider_ref=ref)

    def close(self) -> None:
        """Close pooled connections."""
        self.http.close()


def build(services: Services) -> WebhookChannel | None:
    """The channel when XIAOYUAN_WEBHOOK_URL is set (XIAOYUAN_WEBHOOK_SECRET signs the body)."""
    config = services.settings.webhook
    if not config.url:
        return None
    if not config.secret:
        log.warning("webhook channel: XIAOYUAN_WEBHOOK_SECRET is empty, requests are not signed")
    return WebhookChannel(config.url, config.secret)
