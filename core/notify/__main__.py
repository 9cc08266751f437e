"""`python -m core.notify`: run the outbox dispatcher alone on the settings from the environment until SIGTERM.

A minimal runner for tests and for operators debugging delivery; production runs the dispatcher inside
`xiaoyuan worker` / `xiaoyuan run`, which also hold the single-worker lease.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from core.clock import SystemClock
from core.container import Services
from core.db import make_engine, make_session_factory
from core.notify.dispatcher import Dispatcher
from core.settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    """Dispatch until SIGTERM or SIGINT; exit 0 after a clean stop, 2 on unusable settings."""
    parser = argparse.ArgumentParser(prog="python -m core.notify", description=__doc__)
    parser.add_argument("--tick", type=float, default=None, help="seconds between polls (default: worker.tick_seconds)")
    parser.add_argument("--batch", type=int, default=None, help="rows per batch (default: worker.dispatch_batch)")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = make_engine(settings.database_url)
    services = Services(settings=settings, session_factory=make_session_factory(engine), clock=SystemClock())
    services.extras["engine"] = engine
    try:  # the voice_call channel needs the telephony port when the phone line is installed
        from core.phone.telephony.factory import make_telephony
    except ImportError:
        make_telephony = None
    if make_telephony is not None:
        services.telephony = make_telephony(settings, services.session_factory, services.clock)
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        logging.getLogger(__name__).info("signal %d: stopping after the current message", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    dispatcher = Dispatcher(services)
    try:
        dispatcher.run_forever(stop, tick_s=args.tick, batch=args.batch)
    finally:
        dispatcher.close()
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
