"""Process runners: web (waitress), listener, watch gateway, worker, phone (SIP endpoint), and `run` (all of them).

Ordered startup and shutdown: broker → SIP endpoint → listener → worker → web; stopping goes the
other way. Background parts run as threads that watch one stop event; the embedded broker and the
SIP endpoint (PJSIP allows one endpoint per process) are child processes.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from core import health
from core.container import Services
from core.db import transaction
from core.errors import LocalisedError
from core.i18n import N_, bilingual
from xiaoyuan.app import create_app
from xiaoyuan.metrics import own_counters

log = logging.getLogger(__name__)


class PortInUse(LocalisedError, RuntimeError):
    """A port the process must listen on is already taken."""


def install_signal_handlers(stop: threading.Event, on_stop: Callable[[], None] | None = None) -> None:
    """SIGINT / SIGTERM set the stop event (and call on_stop, e.g. to close the web server)."""

    def handler(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()
        if on_stop is not None:
            on_stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def make_web_server(services: Services, host: str, port: int, threads: int = 16):
    """A waitress server bound to host:port (PortInUse with a plain message when taken)."""
    from waitress.server import create_server

    app = create_app(services)
    try:
        return create_server(app, host=host, port=port, threads=threads, ident="xiaoyuan")
    except OSError as exc:
        raise PortInUse(N_("端口 %(host)s:%(port)s 已被占用：%(error)s"), host=host, port=port,
                        error=exc.strerror) from exc


def start_thread(name: str, target: Callable[..., None], *args: Any) -> threading.Thread:
    """Start a daemon thread that logs (not raises) any crash."""

    def runner() -> None:
        try:
            target(*args)
        except Exception:
            log.exception("%s stopped with an error", name)

    thread = threading.Thread(target=runner, name=name, daemon=True)
    thread.start()
    return thread


NO_PJSUA2 = N_("电话网关需要 pjsua2：pip install -r requirements-sip.txt（%(error)s）")


class PhoneChild:
    """`xiaoyuan phone` as a child process of `xiaoyuan run` (the SIP endpoint when the provider is sip)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "xiaoyuan", "phone"], env=dict(os.environ))
        log.info("SIP endpoint started as child process %s", self.process.pid)

    def stop(self) -> None:
        """SIGTERM, then wait for it to hang up its calls (SIGKILL after 20 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def run_phone_process(services: Services) -> None:
    """The `xiaoyuan phone` process: the SIP endpoint until SIGINT / SIGTERM."""
    try:
        from voice.sip.service import run_phone
    except ImportError as exc:
        raise RuntimeError(bilingual(NO_PJSUA2, error=str(exc))) from exc
    from voice.sip.stack import SipError

    stop = threading.Event()
    install_signal_handlers(stop)
    try:
        run_phone(services, stop)
    except SipError as exc:
        raise RuntimeError(str(exc)) from exc


class StatusReporter:
    """Writes this process's status row (health state of its listener / worker, counters) every few seconds.

    The row is what /healthz and /metrics in any web process read; a clean stop deletes it, so a stale row
    always means a process that crashed or hangs.
    """

    def __init__(self, services: Services, role: str) -> None:
        self.services = services
        self.role = role
        self.name = health.this_process_name()
        self.started_at = services.clock.now()
        self.pruned_at: dt.datetime | None = None  # when this process last deleted rows of dead processes

    def snapshot(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(state per part, counters) of this process right now."""
        state: dict[str, Any] = {}
        for part, key in (("listener", "devices:listener"), ("worker", "worker"), ("gateway", "watch:gateway")):
            component = self.services.extras.get(key)
            if component is not None:
                state[part] = component.health_state()
        return state, own_counters(self.services)

    def report(self) -> None:
        """Write the row once, and every PRUNE_EVERY_S delete the rows of processes gone for an hour (errors are
        logged: a database outage shows as a stale row)."""
        try:
            state, counters = self.snapshot()
            now = self.services.clock.now()
            since = (now - self.pruned_at).total_seconds() if self.pruned_at is not None else None
            prune = since is None or not 0 <= since < health.PRUNE_EVERY_S
            with transaction(self.services.session_factory) as session:
                health.save_status(session, name=self.name, role=self.role, now=now, started_at=self.started_at,
                                   state=state, counters=counters)
                if prune:
                    health.prune_statuses(session, now)
            if prune:
                self.pruned_at = now
        except Exception as exc:
            log.warning("could not write this process's status row: %s", type(exc).__name__)

    def remove(self) -> None:
        """Delete the row (clean stop)."""
        try:
            with transaction(self.services.session_factory) as session:
                health.remove_status(session, self.name)
        except Exception as exc:
            log.warning("could not remove this process's status row: %s", type(exc).__name__)

    def run(self, stop: threading.Event) -> None:
        """Report until stop is set, then remove the row."""
        self.report()
        while not stop.wait(health.REPORT_EVERY_S):
            self.report()
        self.remove()


def start_background(services: Services, stop: threading.Event, *, listener: bool, worker: bool,
                     phone: bool = False, gateway: bool = False) -> list[Any]:
    """Start the embedded broker (when no broker is configured), the SIP endpoint, the listener, the watch
    gateway and the worker."""
    started: list[Any] = []
    settings = services.settings
    if phone and settings.telephony.provider == "sip":
        started.append(PhoneChild())
    if listener:
        from devices import broker as broker_mod
        from devices import listener as listener_mod

        if not settings.mqtt.url:
            handle = broker_mod.start_private_broker(settings)
            started.append(handle)
            # A band added in the console must be able to connect without a restart.
            services.extras["broker:refresh"] = lambda: handle.refresh(settings)
        started.append(start_thread("listener", listener_mod.run_listener, services, stop))
    if gateway:
        from devices.watch.gateway import run_gateway

        started.append(start_thread("watch-gateway", run_gateway, services, stop))
    if worker:
        from xiaoyuan.scheduler import run_worker

        started.append(start_thread("worker", run_worker, services, stop))
    if listener or worker or gateway:
        reporter = StatusReporter(services, str(services.extras.get("role", "run")))
        started.append(start_thread("status", reporter.run, stop))
    return started


def stop_background(started: list[Any], stop: threading.Event) -> None:
    """Stop what start_background started, newest first."""
    stop.set()
    for item in reversed(started):
        if isinstance(item, threading.Thread):
            item.join(timeout=15)
        elif hasattr(item, "stop"):
            item.stop()


def _interrupt_main_loop() -> None:
    # waitress ends its loop on KeyboardInterrupt and then waits for running requests to finish.
    # Closing the server from the signal handler instead pulls its trigger socket from under
    # request threads that are still answering ("Bad file descriptor").
    raise KeyboardInterrupt


# What each role started from the command line runs (`wsgi` is gunicorn's: it serves the app, nothing else).
ROLE_PARTS: dict[str, dict[str, bool]] = {
    "run": {"web": True, "listener": True, "worker": True, "phone": True},
    "web": {"web": True, "listener": False, "worker": False},
    "worker": {"web": False, "listener": False, "worker": True},
    "listener": {"web": False, "listener": True, "worker": False},
    "gateway": {"web": False, "listener": False, "worker": False, "gateway": True},
}


def serve_role(role: str, services: Services) -> None:
    """Run one process role (`xiaoyuan run|web|worker|listener|gateway`) until SIGINT/SIGTERM; `run` includes
    the watch gateway when `[watch] enabled`."""
    parts = dict(ROLE_PARTS[role])
    if role == "run":
        parts["gateway"] = services.settings.watch.enabled
    serve(services, **parts)


def serve(services: Services, *, listener: bool, worker: bool, web: bool = True, phone: bool = False,
          gateway: bool = False) -> None:
    """Run the chosen parts until SIGINT/SIGTERM."""
    stop = threading.Event()
    settings = services.settings
    server = make_web_server(services, settings.web.host, settings.web.port) if web else None
    install_signal_handlers(stop, on_stop=(_interrupt_main_loop if server is not None else None))
    started: list[Any] = []
    try:
        started = start_background(services, stop, listener=listener, worker=worker, phone=phone, gateway=gateway)
        if server is not None:
            log.info("web on http://%s:%s", settings.web.host, settings.web.port)
            server.run()  # returns once a signal has stopped it and its requests have finished
        else:
            stop.wait()
    except KeyboardInterrupt:  # a signal that arrived outside the server loop
        log.info("stopping")
    finally:
        if server is not None:
            server.close()
        stop_background(started, stop)
