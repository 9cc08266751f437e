"""One startup routine that wires collaborators (database, clock, telephony, TTS, ASR) for a process."""

from __future__ import annotations

import logging

from core.clock import Clock, SystemClock
from core.container import Services
from core.db import make_engine, make_session_factory
from core.settings import Settings

log = logging.getLogger(__name__)


def build_services(settings: Settings, clock: Clock | None = None, *, tts: bool = False, asr: bool = False) -> Services:
    """Wire the services one process needs. TTS and ASR start worker threads, so they are opt-in."""
    engine = make_engine(settings.database_url)
    services = Services(settings=settings, session_factory=make_session_factory(engine), clock=clock or SystemClock())
    services.extras["engine"] = engine
    try:
        from core.telephony.factory import make_telephony
    except ImportError:  # the phone line is not installed in this build
        make_telephony = None
    if make_telephony is not None:
        services.telephony = make_telephony(settings, services.session_factory, services.clock)
    if tts:
        try:
            from core.tts import TtsService
        except ImportError:
            TtsService = None  # noqa: N806
        if TtsService is not None:
            services.tts = TtsService.from_settings(settings)
    if asr:
        try:
            from voice.asr import make_asr
        except ImportError:  # the phone line is not installed in this build
            make_asr = None
        if make_asr is not None:
            services.asr = make_asr(settings)
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
