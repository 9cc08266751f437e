"""The `xiaoyuan phone` process: one SIP endpoint, its calls, and the commands the rest of the service queues.

Inbound INVITEs from allowed addresses get a call driver running the phone line from its first step;
the caller's number (From user part) finds the resident, the dialled number (To) the village. The
command loop claims queued dials (help-call legs, confirmation calls) while channels are free and
hang-ups / redirects of calls it holds, and every call's progress is reported through
`core.phone.progress` — the functions Twilio's status callbacks reach. A heartbeat row carries the
counters /metrics shows (486 Busy answers included).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from core.container import Services
from core.db import transaction
from core.phone import progress, sipcommands
from core.phone.config import SipSettings
from voice import flow
from voice.sip.driver import CallDriver, DriverConfig, PcmPrompts, clauses, dial_status, dial_string, next_from_url
from voice.sip.listen import FreeRecognisers
from voice.sip.stack import CallHandle, SipError, SipStack, StackConfig

log = logging.getLogger(__name__)
HEARTBEAT_S = 5.0
INBOUND_STATUS_URL = progress.INBOUND_STATUS_PATH
FIRST_STEP = "incoming"


@dataclass
class Counters:
    """What this endpoint has done since it started (written to its heartbeat row)."""

    calls_in: int = 0
    calls_out: int = 0
    busy_rejected: int = 0
    forbidden: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, amount: int = 1) -> None:
        """Count one event."""
        with self.lock:
            setattr(self, name, getattr(self, name) + amount)


class PhoneEndpoint:
    """The SIP endpoint of this process and the drivers of its calls."""

    def __init__(self, services: Services, *, settings: SipSettings | None = None, log_level: int = 1) -> None:
        self.services = services
        flow.load_steps()
        self.sip = settings or services.settings.sip
        self.name = f"{self.sip.bind}:{self.sip.port}"
        self.counters = Counters()
        self._lock = threading.Lock()
        self._calls: dict[str, CallHandle] = {}  # every live call of this process (inbound, outbound, bridge legs)
        self._drivers: dict[str, CallDriver] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._frames = {"frames_in": 0, "frames_out": 0, "frames_dropped": 0}
        self.stack = SipStack(
            StackConfig(bind=self.sip.bind, port=self.sip.port, max_calls=self.sip.max_calls,
                        user=self.sip.username or self.sip.line_number or "xiaoyuan", registrar=self.sip.registrar,
                        username=self.sip.username, password=self.sip.password, log_level=log_level),
            on_incoming=self._incoming, on_rejected=self._rejected)
        from voice.webhooks import speaker_for

        self.prompts = PcmPrompts(speaker_for(services))
        self.driver_config = DriverConfig(gateway=self.sip.gateway, vad_dbfs=self.sip.vad_threshold_dbfs,
                                          end_silence_ms=self.sip.end_silence_ms,
                                          end_stable_ms=self.sip.end_stable_ms)
        self.started_at = services.clock.now()
        self.free = FreeRecognisers(services.asr) if services.asr is not None else None
        self.drivers_done: list[CallDriver] = []  # finished drivers, for tests and benchmarks (bounded)

    # --- life cycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Warm the recognisers, start the SIP stack and the command loop (SipError when the port is unusable)."""
        self._spawn("sip-readbacks", self._render_readbacks)
        if self.free is not None:
            seconds = self.free.warm(self.sip.max_calls)
            log.info("%d free-mode recognisers warmed in %.1fs", self.sip.max_calls, seconds)
        self.stack.start()
        self._spawn("sip-commands", self._command_loop)
        log.info("phone endpoint %s ready (gateway %s)", self.name, self.sip.gateway or "-")

    def _render_readbacks(self) -> None:
        """Render the read-backs' fixed sentences and clauses before the first caller waits for one."""
        started = time.monotonic()
        texts = readback_samples()
        for text in texts:
            self.prompts.pcm(text, None)
            for piece in clauses(text):
                self.prompts.pcm(piece, None)
        log.info("%d read-back sentences rendered in %.1fs", len(texts), time.monotonic() - started)

    def stop(self) -> None:
        """Hang up every call, let the drivers finish, stop the stack."""
        self._stop.set()
        for handle in self._live():
            try:
                handle.hangup()
            except (SipError, TimeoutError):
                pass
        for thread in list(self._threads):
            thread.join(10)
        self._heartbeat()
        self.stack.stop()

    def run(self, stop: threading.Event) -> None:
        """Serve until `stop` is set."""
        self.start()
        try:
            stop.wait()
        finally:
            self.stop()

    def _spawn(self, name: str, target: Any, *args: Any) -> threading.Thread:
        def runner() -> None:
            try:
                target(*args)
            except Exception:
                log.exception("%s failed", name)

        thread = threading.Thread(target=runner, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return thread

    def _live(self) -> list[CallHandle]:
        with self._lock:
            return list(self._calls.values())

    def _track(self, handle: CallHandle) -> None:
        with self._lock:
            self._calls[handle.id] = handle

    def _untrack(self, handle: CallHandle) -> None:
        with self._lock:
            self._calls.pop(handle.id, None)
            self._frames["frames_in"] += handle.rx.received
            self._frames["frames_out"] += handle.tx.sent
            self._frames["frames_dropped"] += handle.rx.dropped

    @property
    def free_channels(self) -> int:
        """Calls this process can still take or place."""
        with self._lock:
            return max(0, self.sip.max_calls - len(self._calls))

    # --- inbound ---------------------------------------------------------------------------------------------

    def _incoming(self, handle: CallHandle) -> int:
        """Stack thread: take the call (0) or the SIP status to refuse it with. Must return quickly."""
        address = handle.source.rsplit(":", 1)[0].strip("[]")
        if not self.sip.source_allowed(address):
            self.counters.add("forbidden")
            log.warning("INVITE from %s refused: not an allowed source", address)
            return 403
        if self._stop.is_set() or self.free_channels <= 0:
            self.counters.add("busy_rejected")
            return 486
        self.counters.add("calls_in")
        self._track(handle)
        self._spawn(f"call-{handle.id[-8:]}", self._run_inbound, handle)
        return 0

    def _rejected(self, code: int) -> None:
        """pjsua refused an INVITE itself (every slot taken)."""
        if code == 486:
            self.counters.add("busy_rejected")

    def _run_inbound(self, handle: CallHandle) -> None:
        self.stack.register_thread(threading.current_thread().name)
        try:
            handle.answer(180)
            handle.answer(200)
            info = flow.CallInfo(self.services, call_id=handle.id, caller=handle.remote_user or None,
                                 called=handle.local_user or None, transport="sip",
                                 village_id=self.sip.village_for(handle.local_user))
            driver = self._driver(handle, info)
            self._wait_media(handle)
            driver.run(flow.Next(FIRST_STEP))
            self._finished(handle)
        except (SipError, TimeoutError) as exc:
            log.warning("inbound call failed: %s", exc)
        finally:
            handle.ended.wait(5)
            try:
                progress.inbound_call_ended(self.services, call_id=handle.id, status="completed",
                                            duration_s=handle.duration_s)
            except Exception:
                log.exception("closing the call log failed")
            self._untrack(handle)

    def _driver(self, handle: CallHandle, info: flow.CallInfo) -> CallDriver:
        driver = CallDriver(self.services, self.stack, handle, info, self.prompts, self.driver_config,
                            on_leg=self._bridge_leg, free=self.free)
        with self._lock:
            self._drivers[handle.id] = driver
        return driver

    def _finished(self, handle: CallHandle) -> None:
        with self._lock:
            driver = self._drivers.pop(handle.id, None)
            if driver is not None:
                self.drivers_done = [*self.drivers_done[-31:], driver]

    def _bridge_leg(self, leg: CallHandle) -> None:
        """A driver dialled out to bridge: count the channel until that leg ends."""
        self.counters.add("calls_out")
        self._track(leg)

        def watch() -> None:
            leg.ended.wait()
            self._untrack(leg)

        self._spawn(f"leg-{leg.id[-8:]}", watch)

    @staticmethod
    def _wait_media(handle: CallHandle) -> None:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and not handle.ended.is_set():
            try:
                event = handle.events.get(timeout=0.05)
            except queue.Empty:
                continue
            if event[0] == "media":
                return
            if event[0] in ("ended",):
                handle.events.put(event)
                return

    # --- outbound ----------------------------------------------------------------------------------------------

    def _command_loop(self) -> None:
        self.stack.register_thread("sip-commands")
        interval = self.sip.command_poll_ms / 1000
        last_beat = 0.0
        while not self._stop.wait(interval):
            try:
                self._poll_commands()
            except Exception:
                log.exception("command poll failed")
            if time.monotonic() - last_beat >= HEARTBEAT_S:
                last_beat = time.monotonic()
                self._heartbeat()
        self._heartbeat()

    def _poll_commands(self) -> None:
        live = {handle.id: handle for handle in self._live()}
        with self.services.session_factory() as session:
            # Most polls find nothing: only a read, so SQLite's single write lock stays free for calls and bands.
            if not sipcommands.anything_pending(session, list(live)):
                return
        with transaction(self.services.session_factory) as session:
            dials, actions = sipcommands.claim_commands(session, now=self.services.clock.now(), endpoint=self.name,
                                                        free_channels=self.free_channels, live_calls=list(live))
        for command in actions:
            handle = live.get(command.call_id)
            if handle is None:
                continue
            if command.kind == "hangup":
                try:
                    handle.hangup()
                except (SipError, TimeoutError):
                    pass
            elif command.kind == "update" and command.flow_url:
                handle.events.put(("redirect", command.flow_url))
            self._finish_command(command.id)
        for command in dials:
            if command.kind == "expired":
                log.warning("call %s not placed: queued too long ago", command.call_id[-8:])
                progress.report_progress(self.services, command.status_url, "failed", call_id=command.call_id)
                continue
            self._start_outbound(command)

    def _finish_command(self, command_id: int, error: str = "") -> None:
        with transaction(self.services.session_factory) as session:
            sipcommands.finish_command(session, command_id, error=error)

    def _start_outbound(self, command: sipcommands.ClaimedCommand) -> None:
        if not self.sip.gateway:
            self._finish_command(command.id, error="no gateway configured (XIAOYUAN_SIP_GATEWAY)")
            progress.report_progress(self.services, command.status_url, "failed", call_id=command.call_id)
            return
        try:
            handle = self.stack.make_call(dial_string(command.to_number or ""), call_id=command.call_id,
                                          host=self.sip.gateway)
        except (SipError, TimeoutError) as exc:
            log.warning("call %s not placed: %s", command.call_id[-8:], exc)
            self._finish_command(command.id, error=str(exc))
            progress.report_progress(self.services, command.status_url, "failed", call_id=command.call_id)
            return
        self.counters.add("calls_out")
        self._track(handle)
        self._finish_command(command.id)
        self._spawn(f"call-{handle.id[-8:]}", self._run_outbound, handle, command)

    def _run_outbound(self, handle: CallHandle, command: sipcommands.ClaimedCommand) -> None:
        """Ring until answered, busy, refused or the ring timeout; then run the flow the call was placed for."""
        self.stack.register_thread(threading.current_thread().name)
        report = _reporter(progress.report_progress, self.services, command.status_url,
                                   call_id=command.call_id)
        try:
            deadline = time.monotonic() + max(1, command.timeout_s or 30)
            rang = False
            while not handle.answered.is_set() and not handle.ended.is_set():
                if time.monotonic() >= deadline:
                    handle.hangup()
                    handle.ended.wait(5)
                    report("no-answer")
                    return
                try:
                    event = handle.events.get(timeout=0.1)
                except queue.Empty:
                    continue
                if event[0] == "ringing" and not rang:
                    rang = True
                    report("ringing")
            if not handle.answered.is_set():
                handle.ended.wait(5)
                report(dial_status(handle.status_code, False))
                return
            report("in-progress")
            target = next_from_url(command.flow_url or "")
            if target is None:
                log.warning("call %s: no flow for %s", handle.id[-8:], command.flow_url)
                handle.hangup()
            else:
                info = flow.CallInfo(self.services, call_id=handle.id, caller=self.sip.line_number or None,
                                     called=command.to_number, transport="sip")
                driver = self._driver(handle, info)
                self._wait_media(handle)
                driver.run(target)
                self._finished(handle)
            handle.ended.wait(10)
            report("completed", duration_s=handle.duration_s)
        except Exception:
            log.exception("outbound call %s failed", handle.id[-8:])
            try:
                handle.hangup()
            except (SipError, TimeoutError):
                pass
        finally:
            self._untrack(handle)

    # --- heartbeat ---------------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, int]:
        """The counters of the heartbeat row."""
        live = self._live()
        with self.counters.lock:
            counters = {"calls_in": self.counters.calls_in, "calls_out": self.counters.calls_out,
                        "busy_rejected": self.counters.busy_rejected, "forbidden": self.counters.forbidden}
        with self._lock:
            frames = dict(self._frames)
        frames["frames_in"] += sum(h.rx.received for h in live)
        frames["frames_out"] += sum(h.tx.sent for h in live)
        frames["frames_dropped"] += sum(h.rx.dropped for h in live)
        return {**counters, **frames, "active_calls": len(live)}

    def _heartbeat(self) -> None:
        try:
            with transaction(self.services.session_factory) as session:
                sipcommands.save_endpoint_status(session, name=self.name, now=self.services.clock.now(),
                                                 started_at=self.started_at, counters=self.snapshot())
        except Exception:
            log.exception("heartbeat failed")


def readback_samples() -> list[str]:
    """Every read-back whose words are all fixed, and one with words of the caller's (for its fixed clauses)."""
    from voice.intents import Intent, readback_text

    def intent(name: str, summary: str = "") -> Intent:
        return Intent(name=name, request_type=None, summary=summary, score=1.0, keyword="")

    fixed = [readback_text(intent(name)) for name in ("points", "job", "human", "find_head", "redeem", "sell")]
    return [*fixed, readback_text(intent("other", summary="一二三"))]


def _reporter(func: Any, *args: Any, **kwargs: Any) -> Any:
    """A progress reporter for one call: report(status, **extra) that logs instead of raising."""

    def call(status: str, **more: Any) -> None:
        try:
            func(*args, status, **{**kwargs, **more})
        except Exception:
            log.exception("call progress %s could not be reported", status)

    return call


def run_phone(services: Services, stop: threading.Event, *, log_level: int = 1) -> None:
    """The `xiaoyuan phone` process body."""
    PhoneEndpoint(services, log_level=log_level).run(stop)
