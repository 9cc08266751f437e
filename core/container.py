"""The collaborators one process wires together once and hands to the web app, jobs and listeners."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock
from core.settings import Settings


@dataclass
class Services:
    """Everything an edge needs to call core services. Built by xiaoyuan.bootstrap, never at import."""

    settings: Settings
    session_factory: sessionmaker[Session]
    clock: Clock
    telephony: Any = None  # core.phone.telephony port (a provider), set by the composition root
    tts: Any = None  # core.tts.TtsService or None when TTS is unavailable
    asr: Any = None  # voice ASR engine or None when no vosk model is configured
    extras: dict[str, Any] = field(default_factory=dict)


def current_services() -> Services:
    """The Services of the Flask app handling the current request."""
    from flask import current_app  # imported here: core stays usable without a web request

    return current_app.extensions["xiaoyuan"]
