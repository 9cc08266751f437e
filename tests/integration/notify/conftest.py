"""Fixtures for the outbox dispatcher tests: services with chosen settings, an enqueue helper, scripted channels."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from core.container import Services
from core.db import transaction
from core.notify.base import Delivery, OutgoingMessage
from core.notify.outbox import Recipient, enqueue_message
from core.settings import load_settings
from tests.integration.notify.sink import Sink


class ScriptedChannel:
    """A channel that answers from a script (Delivery or exception per call, then ok) and records what it got."""

    def __init__(self, name: str, script: list[Delivery | Exception] | None = None) -> None:
        self.name = name
        self.script = list(script or [])
        self.sent: list[OutgoingMessage] = []

    def send(self, message: OutgoingMessage) -> Delivery:
        """Record and answer the next scripted result."""
        self.sent.append(message)
        result = self.script.pop(0) if self.script else Delivery(ok=True, provider_ref=f"ref-{message.id}")
        if isinstance(result, Exception):
            raise result
        return result


@pytest.fixture
def make_services(tmp_path, session_factory, clock) -> Callable[..., Services]:
    """Build Services on the test database and fake clock with setting overrides."""

    def build(**overrides: Any) -> Services:
        settings = load_settings(environ={}, overrides={"data": {"dir": str(tmp_path / "var")}, **overrides})
        return Services(settings=settings, session_factory=session_factory, clock=clock)

    return build


@pytest.fixture
def enqueue(session_factory, clock) -> Callable[..., int]:
    """Enqueue one message (keyword arguments as enqueue_message) and return its id."""

    def add(text: str = "王奶奶按了一键呼叫", *, phone: str | None = "+8613800001234",
            channels: tuple[str, ...] | None = ("scripted",), **kwargs: Any) -> int:
        with transaction(session_factory) as session:
            message = enqueue_message(
                session, now=clock.now(), recipient=Recipient(name="王小明", phone=phone), template="test.event",
                text=text, channels=channels, **kwargs,
            )
            return message.id

    return add


@pytest.fixture
def sink() -> Iterator[Sink]:
    """A recording HTTP sink on loopback."""
    with Sink() as running:
        yield running
