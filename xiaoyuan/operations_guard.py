"""Who may read /metrics and the detailed /healthz body: loopback, a configured allow-list, or a bearer token.

Process names, queue depths and failure reasons help an attacker as much as an operator; the plain
up/down answer of /healthz stays public for load balancers. Behind a reverse proxy every request
arrives from the proxy's (often loopback) address: a request carrying forwarding headers is trusted by
address only when `web.proxies` says how many proxies to believe (ProxyFix then gives the real client).
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import Response, request

from core.container import current_services

F = TypeVar("F", bound=Callable[..., Any])
FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def address_allowed(addr: str, allow_from: Iterable[str]) -> bool:
    """Whether a client address lies in one of the allowed networks ("127.0.0.0/8", "10.1.2.3", "::1")."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    for network in allow_from:
        try:
            if ip in ipaddress.ip_network(network.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def operations_allowed() -> bool:
    """Whether this request may see operational detail (see the module docstring)."""
    web = current_services().settings.web
    token = web.ops_token
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    forwarded = any(header in request.headers for header in FORWARDING_HEADERS)
    if forwarded and web.proxies == 0:
        return False  # the address is the proxy's, not the client's
    return address_allowed(request.remote_addr or "", web.ops_allow_from)


def operations_only(view: F) -> F:
    """Answer 403 (plain text) unless `operations_allowed()`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not operations_allowed():
            return Response("forbidden: allowed from web.ops_allow_from or with the bearer web.ops_token\n",
                            status=403, content_type="text/plain; charset=utf-8")
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
