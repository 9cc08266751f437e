"""What a notification channel is: something that sends one outbox message and says how it went.

Channel modules live in core/notify/channels/; each defines `NAME` and `build(services) -> Channel | None`
(None when the channel is not configured). The dispatcher finds them by name.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from core.phones import mask_phone


@dataclass(frozen=True)
class OutgoingMessage:
    """A detached copy of an outbox row, safe to use outside the session that loaded it."""

    id: int
    idempotency_key: str
    channel: str
    recipient_name: str
    recipient_phone: str | None
    recipient_user_id: int | None
    template: str
    params: dict[str, Any]
    text: str
    priority: int
    attempts: int
    subject_type: str | None
    subject_id: int | None


@dataclass(frozen=True)
class Delivery:
    """The result of one send attempt.

    ok: the provider accepted it. not_sent: recorded but deliberately not sent (dry-run).
    permanent: retrying cannot help (bad number, channel not configured) — fall back to the next channel.
    """

    ok: bool
    permanent: bool = False
    not_sent: bool = False
    provider_ref: str | None = None
    error: str = ""


class Channel(Protocol):
    """A way to reach someone."""

    name: str

    def send(self, message: OutgoingMessage) -> Delivery:
        """Send one message, carrying message.idempotency_key to the provider; never raise."""


def channel_modules() -> dict[str, Any]:
    """Channel modules by NAME."""
    from core.notify import channels

    found: dict[str, Any] = {}
    for info in pkgutil.iter_modules(channels.__path__):
        module = importlib.import_module(f"{channels.__name__}.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "build"):
            found[module.NAME] = module
    return found


# --- Helpers shared by the HTTP channels (added with the dispatcher) ---------------------------------

# A query string ("?key=value..."), with or without the URL before it: robot keys and tokens live there.
_QUERY = re.compile(r"\?[\w%.~+-]+=[^\s'\"<>()]*")
_LONG_DIGITS = re.compile(r"\+?\d[\d\- ]{6,}\d")


def redact(text: str, limit: int = 500) -> str:
    """A log- and console-safe error text: no URL query strings (robot keys, tokens), no full phone numbers."""
    cleaned = _QUERY.sub("?…", str(text))
    cleaned = _LONG_DIGITS.sub(lambda match: mask_phone(match.group(0)), cleaned)
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def delivery_for_http_status(status: int, detail: str = "") -> Delivery | None:
    """None for a 2xx answer; otherwise a failed Delivery: 408/425/429 and 5xx transient, other codes permanent."""
    if 200 <= status < 300:
        return None
    error = redact(f"HTTP {status} {detail}".strip())
    transient = status in (408, 425, 429) or status >= 500
    return Delivery(ok=False, permanent=not transient, error=error)


def post_json(
    http: requests.Session, url: str, payload: Any, *, headers: dict[str, str] | None = None,
    timeout: tuple[float, float] = (5.0, 10.0),
) -> requests.Response | Delivery:
    """POST a JSON body; return the 2xx response, or a failed Delivery (network errors are transient).

    The body is serialised once here, so what an HMAC signs (see `json_body`) is exactly what is sent.
    """
    body = payload if isinstance(payload, bytes) else json_body(payload)
    all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    try:
        response = http.post(url, data=body, headers=all_headers, timeout=timeout, allow_redirects=False)
    except requests.Timeout:
        return Delivery(ok=False, error="timeout")
    except requests.RequestException as exc:
        return Delivery(ok=False, error=redact(f"{type(exc).__name__}: {exc}"))
    failure = delivery_for_http_status(response.status_code, response.text[:200])
    return failure if failure is not None else response


def json_body(payload: Any) -> bytes:
    """The canonical UTF-8 JSON encoding used for every JSON channel (Chinese kept readable)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
