"""Twilio SMS channel, through the real twilio REST client.

`XIAOYUAN_TWILIO_API_BASE` points the client's API domain (`client.api.base_url`) at a TwiML-compatible
provider or a local test server. The idempotency key travels in two headers, added by a small
`TwilioHttpClient` subclass because `messages.create()` takes no headers: `I-Twilio-Idempotency-Token`
(the name Twilio uses for the token on its own webhooks) and the generic `Idempotency-Key` (which
compatible providers such as Telnyx document). Whether Twilio's Messages API drops a repeated token is
not documented: if it does not, a crash between send and mark can repeat an SMS.
HTTP 4xx answers give up on this channel (bad number, unsubscribed, bad credentials) except 408/429;
5xx answers and network errors are retried.
A message whose subject expects an answer (an alert, a reminder, a follow-up: a confirmation handler is
registered for its subject type) ends with " 回复1 <code>确认", the code the SMS reply webhook matches.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from core.container import Services
from core.i18n import translate
from core.notify import texts
from core.notify.base import Delivery, OutgoingMessage, delivery_for_http_status, redact
from core.phones import mask_phone

NAME = "twilio_sms"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
GENERIC_IDEMPOTENCY_HEADER = "Idempotency-Key"
TIMEOUT_S = 10.0
log = logging.getLogger(__name__)
# The twilio library logs every request and its headers at INFO; keep that out of the service log.
_http_log = logging.getLogger(f"{__name__}.http")


class IdempotentHttpClient(TwilioHttpClient):
    """A TwilioHttpClient that adds the current message's idempotency token to each request."""

    def __init__(self, timeout: float = TIMEOUT_S) -> None:
        super().__init__(timeout=timeout, logger=_http_log)
        self._local = threading.local()

    @contextmanager
    def idempotency(self, key: str) -> Iterator[None]:
        """Send requests made inside the block with `key` as the idempotency token."""
        self._local.key = key
        try:
            yield
        finally:
            self._local.key = None

    def request(self, method: str, url: str, params: Any = None, data: Any = None,
                headers: dict[str, str] | None = None, auth: Any = None, timeout: float | None = None,
                allow_redirects: bool = False) -> Any:
        """Make the request, carrying the idempotency token when one is set."""
        key = getattr(self._local, "key", None)
        if key:
            headers = {**(headers or {}), IDEMPOTENCY_HEADER: key, GENERIC_IDEMPOTENCY_HEADER: key}
        return super().request(method, url, params=params, data=data, headers=headers, auth=auth,
                               timeout=timeout, allow_redirects=allow_redirects)

    def close(self) -> None:
        """Close pooled connections."""
        if self.session is not None:
            self.session.close()


def expects_reply(subject_type: str | None) -> bool:
    """Whether a reply can confirm messages of this subject type (a confirmation handler is registered)."""
    from core.phone.confirmations import has_handler

    return has_handler(subject_type)


def sms_body(message: OutgoingMessage) -> str:
    """The SMS text: the rendered message, plus the reply code when a reply can confirm it.

    A message whose text already says how to reply (an alert's "回复6854确认收到") or that needs no
    answer (an all-clear) sets `params["reply_hint"] = False`: two different codes would confuse.
    """
    if not expects_reply(message.subject_type) or message.params.get("reply_hint") is False:
        return message.text
    from core.phone.calls import reply_code

    return translate(texts.SMS_WITH_REPLY_HINT, message.params.get("locale"), text=message.text,
                     code=reply_code(message.id))


def delivery_for_twilio_error(exc: TwilioException) -> Delivery:
    """Classify a Twilio error answer by its HTTP status; the text names Twilio's error code, not the number."""
    status = getattr(exc, "status", None)
    code = getattr(exc, "code", None)
    detail = getattr(exc, "msg", None) or getattr(exc, "title", None) or type(exc).__name__
    text = f"twilio {code}: {detail}" if code else f"twilio: {detail}"
    if isinstance(status, int):
        failure = delivery_for_http_status(status, text)
        if failure is not None:
            return failure
    return Delivery(ok=False, error=redact(text))


class TwilioSmsChannel:
    """Sends SMS through Twilio (or a TwiML-compatible provider)."""

    name = NAME

    def __init__(self, account_sid: str, auth_token: str, from_number: str, api_base: str = "") -> None:
        self.from_number = from_number
        self.http_client = IdempotentHttpClient()
        # A non-empty environment so the library does not read TWILIO_EDGE / TWILIO_REGION from os.environ:
        # those rewrite the host name, which would break api_base. Settings are the only configuration.
        self.client = Client(account_sid, auth_token, http_client=self.http_client, environment={"XIAOYUAN": "1"})
        if api_base:
            self.client.api.base_url = api_base.rstrip("/")

    def send(self, message: OutgoingMessage) -> Delivery:
        """Create one Twilio Message; the returned SID becomes the provider reference."""
        if not message.recipient_phone:
            return Delivery(ok=False, permanent=True, error=translate(texts.NO_PHONE_NUMBER))
        try:
            with self.http_client.idempotency(message.idempotency_key):
                created = self.client.messages.create(
                    to=message.recipient_phone, from_=self.from_number, body=sms_body(message),
                )
        except TwilioException as exc:
            delivery = delivery_for_twilio_error(exc)
            log.info("twilio sms to %s failed: %s", mask_phone(message.recipient_phone), delivery.error)
            return delivery
        except requests.Timeout:
            return Delivery(ok=False, error="twilio: timeout")
        except requests.RequestException as exc:
            return Delivery(ok=False, error=redact(f"twilio: {type(exc).__name__}: {exc}"))
        return Delivery(ok=True, provider_ref=created.sid)

    def close(self) -> None:
        """Close pooled connections."""
        self.http_client.close()


def build(services: Services) -> TwilioSmsChannel | None:
    """The channel when the Twilio account SID, auth token and sending number are all set."""
    config = services.settings.twilio
    if not (config.account_sid and config.auth_token and config.from_number):
        return None
    if _http_log.level == logging.NOTSET:
        _http_log.setLevel(logging.WARNING)
    return TwilioSmsChannel(config.account_sid, config.auth_token, config.from_number, config.api_base)
