"""One startup routine that wires collaborators (database, clock, telephony, TTS, ASR) for a process."""

from __future__ import annotations

import logging

from core.clock import Clock, SystemClock
from core.container import Services
from core.db import make_engine, make_session_factory
from core.phone.telephony.factory import make_telephony
from core.settings import Settings
from core.tts import TtsService
from voice.asr import make_asr

log = logging.getLogger(__name__)


def build_services(settings: Settings, clock: Clock | None = None, *, tts: bool = False, asr: bool = False) -> Services:
    """Wire the services one process needs. TTS and ASR start worker threads, so they are opt-in."""
    engine = make_engine(settings.database_url)
    services = Services(settings=settings, session_factory=make_session_factory(engine), clock=clock or SystemClock())
    services.extras["engine"] = engine
    services.telephony = make_telephony(settings, services.session_factory, services.clock)
    if tts:
        services.tts = TtsService.from_settings(settings)
    if asr:
        services.asr = make_asr(settings)  # None (speech off, with a warning) when no model is configured
    return services


def close_services(services: Services) -> None:
    """Stop threads and close pools in reverse order of creation."""
    for name in ("asr", "tts"):
        component = getattr(services, name)
        if component is not None and hasattr(component, "close"):
            component.close()
    engine = services.extras.get("engine")
    if engine is not None:
        engine.dispose()
