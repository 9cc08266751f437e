"""One startup routine that wires collaborators (database, clock, telephony, TTS, ASR) for a process.

Every process role (`run`, `web`, `worker`, `listener`, `phone`, and `wsgi` for gunicorn) is built by
`build_role`, which calls the one `build_services`: no role can silently miss a service another has
(gunicorn once ran the phone line keypad-only because its entry point skipped speech recognition).
"""

from __future__ import annotations

import logging

from core.clock import Clock, SystemClock
from core.container import Services
from core.db import make_engine, make_session_factory
from core.phone.telephony.factory import make_telephony
from core.private_files import private_dir
from core.settings import Settings
from core.tts import TtsService
from voice.asr import make_asr

log = logging.getLogger(__name__)

# The long-running process roles. `wsgi` is one gunicorn worker process (`xiaoyuan.wsgi:create_app()`).
ROLES = ("run", "web", "wsgi", "worker", "listener", "gateway", "phone")
# Roles that take calls load the speech model at start (the first caller must not wait for it);
# the others hold the same recogniser but load the model only if something ever uses it.
CALL_ROLES = frozenset({"run", "web", "wsgi", "phone"})


def build_services(settings: Settings, clock: Clock | None = None, *, speech: bool = True,
                   preload_speech: bool = True) -> Services:
    """Wire the services of a process: database, clock, telephony and (with speech) TTS and ASR.

    speech=False is only for one-shot CLI commands (listing rows, seeding a demo) that neither speak nor
    listen; every long-running role goes through `build_role`, which always has speech.
    """
    private_dir(settings.data_dir)  # recordings, audio, uploads and (by default) the database live here
    engine = make_engine(settings.database_url)
    services = Services(settings=settings, session_factory=make_session_factory(engine), clock=clock or SystemClock())
    services.extras["engine"] = engine
    services.telephony = make_telephony(settings, services.session_factory, services.clock)
    if speech:
        services.tts = TtsService.from_settings(settings)
        # None (speech off, with a warning) when no model is configured
        services.asr = make_asr(settings, preload=preload_speech)
    return services


def build_role(role: str, settings: Settings, clock: Clock | None = None) -> Services:
    """The services of one process role: the same for every role, tagged with the role's name."""
    if role not in ROLES:
        raise ValueError(f"unknown process role {role!r} (one of {', '.join(ROLES)})")
    services = build_services(settings, clock, speech=True, preload_speech=role in CALL_ROLES)
    services.extras["role"] = role
    log.info("%s process: telephony %s, speech synthesis %s, speech recognition %s", role,
             settings.telephony.provider, "on" if services.tts is not None else "off",
             "on" if services.asr is not None else "off (keypad only)")
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
