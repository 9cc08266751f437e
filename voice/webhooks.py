"""The phone line's blueprint (/voice/) and what every Twilio webhook shares.

Each webhook checks `X-Twilio-Signature` against the URL rebuilt from the public base URL (403
otherwise), answers with TwiML, and turns any internal error into a spoken apology plus a way to
leave a message — never an HTTP 500.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, request, send_from_directory
from twilio.request_validator import RequestValidator

from core.container import Services, current_services
from voice import twiml
from voice.speech import Speaker

bp = Blueprint("voice", __name__, url_prefix="/voice")
log = logging.getLogger(__name__)
TWIML_MIMETYPE = "text/xml"
MAX_FIELD = 2000  # longer form values are cut: nothing a phone network sends legitimately is longer


def public_url(services: Services, path: str, **params: Any) -> str:
    """An absolute URL the provider can reach (what it will sign when calling back)."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{services.settings.public_base_url}{path}" + (f"?{query}" if query else "")


def signed_url() -> str:
    """The URL Twilio signed: public base + path + query string (proxies change scheme and host)."""
    services = current_services()
    query = request.query_string.decode("latin-1")
    return f"{services.settings.public_base_url}{request.path}" + (f"?{query}" if query else "")


def signature_valid() -> bool:
    """Whether the request carries a valid X-Twilio-Signature for our auth token."""
    token = current_services().settings.twilio.auth_token
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    params = request.form.to_dict(flat=True) if request.method == "POST" else {}
    return RequestValidator(token).validate(signed_url(), params, signature)


def speaker_for(services: Services) -> Speaker:
    """The Speaker of this process (TTS when available, <Say> otherwise)."""
    cached = services.extras.get("voice_speaker")
    if cached is None:
        cache_dir = services.settings.data_dir / "voice" / "audio"
        cached = Speaker(services.tts, cache_dir, services.settings.public_base_url)
        services.extras["voice_speaker"] = cached
    return cached


def form(name: str, default: str = "") -> str:
    """A form (or query) value, trimmed and bounded."""
    value = request.form.get(name)
    if value is None:
        value = request.args.get(name, default)
    return (value or "").strip()[:MAX_FIELD]


def int_arg(name: str, default: int = 0, low: int = 0, high: int = 1_000_000) -> int:
    """An integer query/form value clamped to [low, high]; garbage gives the default."""
    raw = form(name)
    try:
        return max(low, min(high, int(raw)))
    except ValueError:
        return default


def twiml_response(body: str) -> Response:
    """A TwiML HTTP response."""
    return Response(body, mimetype=TWIML_MIMETYPE)


def twilio_webhook(func: Callable[..., str]) -> Callable[..., Response]:
    """Validate the signature, run the handler, and turn any failure into the apology path."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        if not signature_valid():
            log.warning("rejected unsigned or forged webhook %s", request.path)
            abort(403)
        try:
            return twiml_response(func(*args, **kwargs))
        except Exception:
            log.exception("voice webhook %s failed", request.path)
            try:
                services = current_services()
                return twiml_response(twiml.apology(
                    speaker_for(services), message_action=public_url(services, "/voice/twilio/fallback/message")))
            except Exception:
                log.exception("apology failed too")
                return twiml_response(twiml.bare_apology())

    return wrapper


@bp.get("/audio/<name>")
def audio(name: str) -> Response:
    """Phone-quality prompt audio for <Play> (content-hash names; nothing personal is cached here)."""
    if not name.endswith(".wav") or "/" in name or name.startswith("."):
        abort(404)
    directory = current_services().settings.data_dir / "voice" / "audio"
    response = send_from_directory(directory, name, mimetype="audio/wav", max_age=86400)
    return response
