"""What a notification channel is: something that sends one outbox message and says how it went.

Channel modules live in core/notify/channels/; each defines `NAME` and `build(services) -> Channel | None`
(None when the channel is not configured). The dispatcher finds them by name.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Protocol


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
