"""The Twilio provider (and TwiML-compatible ones): the real `twilio.rest.Client` over HTTPS.

`twilio.api_base` (XIAOYUAN_TWILIO_API_BASE) replaces the API host: the client composes request
URLs from `client.api.base_url`, so pointing it elsewhere reaches a compatible provider or a test
server. Twilio cannot call mainland China numbers (since 2023-11-30): a domestic carrier or SIP
gateway is a separate provider class with the same methods (see core/phone/telephony/port.py).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from urllib.parse import urlparse

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from core.phone.telephony.port import TelephonyError
from core.phones import mask_phone

log = logging.getLogger(__name__)
DEFAULT_API_BASE = "https://api.twilio.com"
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]
HTTP_TIMEOUT_S = 10
_REMEMBERED_KEYS = 2048


IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
# The twilio library logs every request and its headers at INFO; keep that out of the service log.
_http_log = logging.getLogger(f"{__name__}.http")
_http_log.setLevel(logging.WARNING)


class _KeyedHttpClient(TwilioHttpClient):
    """A TwilioHttpClient that sends the current request's idempotency token as a header."""

    def __init__(self) -> None:
        super().__init__(timeout=HTTP_TIMEOUT_S, logger=_http_log)
        self.local = threading.local()

    def request(self, method: str, url: str, params: object = None, data: object = None,
                headers: dict[str, str] | None = None, auth: object = None, timeout: float | None = None,
                allow_redirects: bool = False) -> object:
        """Make the request, carrying the idempotency token when one is set."""
        key = getattr(self.local, "key", None)
        if key:
            headers = {**(headers or {}), IDEMPOTENCY_HEADER: key}
        return super().request(method, url, params=params, data=data, headers=headers, auth=auth,
                               timeout=timeout, allow_redirects=allow_redirects)


def _error(exc: Exception) -> TelephonyError:
    if isinstance(exc, TwilioRestException):
        # 4xx other than rate limiting means the request itself is wrong (bad number, no permission).
        permanent = 400 <= (exc.status or 0) < 500 and exc.status != 429
        return TelephonyError(f"twilio {exc.status} {exc.code}: {exc.msg}", permanent=permanent)
    return TelephonyError(f"twilio: {type(exc).__name__}: {exc}")


class TwilioTelephony:
    """Calls and SMS through the Twilio REST API (or a TwiML-compatible API at `api_base`)."""

    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, from_number: str, api_base: str = "",
                 http_client: HttpClient | None = None) -> None:
        self.from_number = from_number
        self._auth = (account_sid, auth_token)
        self._http = http_client or _KeyedHttpClient()
        self.client = Client(account_sid, auth_token, http_client=self._http)
        self.api_base = (api_base or DEFAULT_API_BASE).rstrip("/")
        self.client.api.base_url = self.api_base
        # The REST API has no idempotency keys for calls: remember the ones used in this process so a
        # retry after a timeout returns the first call instead of ringing someone twice.
        self._seen: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def is_dryrun(self) -> bool:
        """False: calls and SMS really go out."""
        return False

    def _set_key(self, key: str | None) -> None:
        local = getattr(self._http, "local", None)
        if local is not None:
            local.key = key

    def _remembered(self, key: str | None) -> str | None:
        if key is None:
            return None
        with self._lock:
            return self._seen.get(key)

    def _remember(self, key: str | None, sid: str) -> None:
        if key is None:
            return
        with self._lock:
            self._seen[key] = sid
            while len(self._seen) > _REMEMBERED_KEYS:
                self._seen.popitem(last=False)

    def place_call(self, to: str, from_: str, url: str, status_callback: str, timeout_s: int,
                   idempotency_key: str | None = None, machine_detection: bool = False) -> str:
        """Create an outbound call with status callbacks for every progress event."""
        known = self._remembered(idempotency_key)
        if known:
            return known
        self._set_key(idempotency_key)
        try:
            call = self.client.calls.create(
                to=to, from_=from_ or self.from_number, url=url, status_callback=status_callback,
                status_callback_event=STATUS_EVENTS, timeout=timeout_s,
                **({"machine_detection": "Enable"} if machine_detection else {}),
            )
        except (TwilioException, requests.RequestException) as exc:
            raise _error(exc) from exc
        finally:
            self._set_key(None)
        log.info("call %s placed to %s", call.sid, mask_phone(to))
        self._remember(idempotency_key, call.sid)
        return call.sid

    def update_call(self, call_id: str, url: str | None = None, twiml: str | None = None) -> None:
        """Redirect a live call."""
        kwargs = {"url": url} if url else {"twiml": twiml}
        try:
            self.client.calls(call_id).update(**kwargs)
        except (TwilioException, requests.RequestException) as exc:
            raise _error(exc) from exc

    def hangup(self, call_id: str) -> None:
        """End a call; a call that already ended is fine."""
        try:
            self.client.calls(call_id).update(status="completed")
        except TwilioRestException as exc:
            if exc.status in (404, 400):  # already over
                return
            raise _error(exc) from exc
        except (TwilioException, requests.RequestException) as exc:
            raise _error(exc) from exc

    def send_sms(self, to: str, from_: str, body: str, idempotency_key: str | None = None) -> str:
        """Send one SMS."""
        known = self._remembered(idempotency_key)
        if known:
            return known
        self._set_key(idempotency_key)
        try:
            message = self.client.messages.create(to=to, from_=from_ or self.from_number, body=body)
        except (TwilioException, requests.RequestException) as exc:
            raise _error(exc) from exc
        finally:
            self._set_key(None)
        log.info("sms %s sent to %s", message.sid, mask_phone(to))
        self._remember(idempotency_key, message.sid)
        return message.sid

    def fetch_recording(self, url: str) -> bytes:
        """Download a recording as WAV; credentials are only ever sent to the configured API host."""
        parsed, api = urlparse(url), urlparse(self.api_base)
        if (parsed.scheme, parsed.netloc) != (api.scheme, api.netloc):
            raise TelephonyError("recording URL is not on the telephony API host", permanent=True)
        if not parsed.path.endswith((".wav", ".mp3")):
            url = url.split("?", 1)[0] + ".wav"
        try:
            response = requests.get(url, auth=self._auth, timeout=HTTP_TIMEOUT_S)
        except requests.RequestException as exc:
            raise TelephonyError(f"recording download failed: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise TelephonyError(f"recording download failed: HTTP {response.status_code}",
                                 permanent=response.status_code in (401, 403, 404))
        return response.content
