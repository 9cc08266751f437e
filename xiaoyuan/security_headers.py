"""Security headers on every response: a Content-Security-Policy without inline script, no framing,
no MIME sniffing, no Referer to other sites, and HSTS when the service runs behind https.

One small after-request hook instead of an extension: the policy is short and the TV's old browsers
ignore what they do not know. Inline styles stay allowed (templates use style attributes); every
script is a file served by xiaoyuan itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask
from werkzeug.wrappers import Response

HSTS = "max-age=31536000"


def content_security_policy(photo_hosts: Iterable[str] = ()) -> str:
    """The CSP: everything from this origin, images also from the allowed photo hosts, never framed."""
    images = " ".join(["'self'", "data:", *(f"https://{host}" for host in photo_hosts if host)])
    return "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", f"img-src {images}",
        "object-src 'none'", "base-uri 'self'", "form-action 'self'", "frame-ancestors 'none'",
    ])


def security_headers(*, secure: bool, photo_hosts: Iterable[str] = ()) -> dict[str, str]:
    """The headers every response gets (unless a view set its own value)."""
    headers = {
        "Content-Security-Policy": content_security_policy(photo_hosts),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if secure:
        headers["Strict-Transport-Security"] = HSTS
    return headers


def init_security_headers(app: Flask, *, secure: bool, photo_hosts: Iterable[str] = ()) -> None:
    """Add the headers to every response of the app."""
    headers = security_headers(secure=secure, photo_hosts=tuple(photo_hosts))

    @app.after_request
    def _add_security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
