"""PJSUA2 behind one thread: the only module that imports pjsua2 (PJSIP, GPLv2; see README "Licence").

Traps of the pinned wheel, all handled here: one `Endpoint` per process; every thread that touches
pjsua2 is registered (`register_thread`); SIP callbacks run on the stack thread only (no PJSIP
worker threads: the stack thread polls `libHandleEvents`), and everything else reaches pjsua2 by
posting a closure to it; media callbacks run on PJSIP's clock thread and only move bytes; no pjsua2
object may outlive `libDestroy`, so calls, ports and the account are dropped before it. The rest of
the code holds `CallHandle`s, plain Python objects with no pjsua2 reference in them.
"""

from __future__ import annotations

import gc
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pjsua2 as pj

from core.i18n import N_, bilingual
from voice.sip.media import FRAME_MS, SILENCE, FrameQueue, Playback

log = logging.getLogger(__name__)
CODECS = ("PCMU/8000", "PCMA/8000")  # G.711 only: what every gateway and trunk speaks
KEEP_CODECS = ("telephone-event",)  # RFC 2833 / 4733 DTMF
DTMF_METHODS = {pj.PJSUA_DTMF_METHOD_RFC2833: "rfc2833", pj.PJSUA_DTMF_METHOD_SIP_INFO: "info"}
POLL_MS = 10
PORT_UNUSABLE = N_("SIP 端口 %(bind)s:%(port)s 无法使用：%(reason)s")
RTP_RANGE = 200


def rtp_base(sip_port: int) -> int:
    """An even RTP start port derived from the SIP port, so several endpoints on one box do not collide."""
    return 20000 + (sip_port * 2 * RTP_RANGE) % 40000
_ids = itertools.count(1)


class SipError(RuntimeError):
    """The SIP stack refused or failed an operation."""


@dataclass(eq=False)
class CallHandle:
    """One call as the rest of the process sees it: events, caller audio in, playback out. No pjsua2 inside."""

    id: str
    direction: str  # inbound / outbound
    remote_user: str = ""  # From user part (inbound) or the dialled number (outbound)
    local_user: str = ""  # To / request URI user part (the number that was dialled, inbound)
    source: str = ""  # ip:port the INVITE came from
    events: queue.Queue[tuple[Any, ...]] = field(default_factory=queue.Queue)
    rx: FrameQueue = field(default_factory=FrameQueue)
    tx: Playback = field(default_factory=Playback)
    answered: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    status_code: int = 0
    reason: str = ""
    answered_at: float | None = None
    ended_at: float | None = None
    bridged_to: str | None = None
    stack: SipStack | None = None

    @property
    def duration_s(self) -> int | None:
        """Seconds from answer to hang-up (None if never answered)."""
        if self.answered_at is None:
            return None
        return int(round((self.ended_at or time.monotonic()) - self.answered_at))

    def _stack(self) -> SipStack:
        if self.stack is None:
            raise SipError("call is not attached to a SIP stack")
        return self.stack

    def answer(self, code: int = 200) -> None:
        """Answer (200) or send a provisional response (180)."""
        self._stack().answer(self, code)

    def hangup(self, code: int = 0) -> None:
        """Hang up, cancel, or reject with `code` (486, 403, 603…); harmless on an ended call."""
        if not self.ended.is_set():
            self._stack().hangup(self, code)

    def send_dtmf(self, digits: str, method: str = "rfc2833") -> None:
        """Send keys by RFC 2833 or SIP INFO."""
        self._stack().send_dtmf(self, digits, method)


class _Port(pj.AudioMediaPort):
    """A conference port per call: received frames into the handle's queue, playback out. Tiny on purpose."""

    rx: FrameQueue | None = None  # class defaults: the clock thread may call in before __init__ finished
    tx: Playback | None = None

    def __init__(self, handle: CallHandle) -> None:
        super().__init__()
        self.rx = handle.rx
        self.tx = handle.tx

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2's name
        """Clock thread: copy the caller's 20 ms into the queue, nothing else."""
        rx = self.rx
        if rx is not None and frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO:
            rx.put(bytes(frame.buf))

    def onFrameRequested(self, frame: pj.MediaFrame) -> None:  # noqa: N802 - pjsua2's name
        """Clock thread: hand over the next 20 ms of playback (silence when there is none)."""
        tx = self.tx
        data = tx.read_frame() if tx is not None else SILENCE
        frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        frame.buf = pj.ByteVector(data)
        frame.size = len(data)


class _Call(pj.Call):
    """A pjsua2 call that forwards its callbacks to the stack (which owns it)."""

    def __init__(self, stack: SipStack, account: pj.Account, handle: CallHandle,
                 call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(account, call_id)
        self.stack = stack
        self.handle = handle
        self.port: _Port | None = None
        self.audio: pj.AudioMedia | None = None

    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802 - pjsua2's name
        """Stack thread: ringing / answered / ended."""
        self.stack._on_state(self)

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802 - pjsua2's name
        """Stack thread: the audio stream is up; connect it to this call's port."""
        self.stack._on_media(self)

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:  # noqa: N802 - pjsua2's name
        """Stack thread: a key, by RFC 2833 or SIP INFO."""
        self.handle.events.put(("dtmf", str(prm.digit), DTMF_METHODS.get(prm.method, str(prm.method))))


class _Account(pj.Account):
    def __init__(self, stack: SipStack) -> None:
        super().__init__()
        self.stack = stack

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802 - pjsua2's name
        """Stack thread: an INVITE got a call slot."""
        self.stack._on_incoming(self, prm)


class _Endpoint(pj.Endpoint):
    def __init__(self, stack: SipStack) -> None:
        super().__init__()
        self.stack = stack

    def onRejectedIncomingCall(self, prm: pj.OnRejectedIncomingCallParam) -> None:  # noqa: N802
        """An INVITE pjsua refused itself (every call slot taken → 486 Busy Here)."""
        self.stack._on_rejected(int(prm.statusCode))


def _user_part(uri: str) -> str:
    """The user part of a SIP URI as found in From/To (`"Wang" <sip:138…@gw>;tag=x` → `138…`)."""
    text = uri
    if "<" in text:
        text = text.split("<", 1)[1].split(">", 1)[0]
    text = text.split(";", 1)[0]
    for scheme in ("sips:", "sip:", "tel:"):
        if text.startswith(scheme):
            text = text[len(scheme):]
    return text.split("@", 1)[0] if "@" in text else ("" if text.count(".") >= 1 else text)


@dataclass(frozen=True)
class StackConfig:
    """How the stack binds and whom it registers with."""

    bind: str = "127.0.0.1"
    port: int = 5060
    max_calls: int = 4
    user: str = "xiaoyuan"
    registrar: str = ""
    username: str = ""
    password: str = ""
    log_level: int = 1
    user_agent: str = "xiaoyuan"


class SipStack:
    """One pjsua2 Endpoint on its own thread; every operation is a closure run there."""

    def __init__(self, config: StackConfig, *,
                 on_incoming: Callable[[CallHandle], int] | None = None,
                 on_rejected: Callable[[int], None] | None = None) -> None:
        self.config = config
        self.on_incoming = on_incoming  # returns 0 to take the call, else a SIP status to reject it with
        self.on_rejected = on_rejected
        self._commands: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._ep: _Endpoint | None = None
        self._account: _Account | None = None
        self._calls: dict[str, _Call] = {}
        self._stopping = False

    # --- life cycle -------------------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> None:
        """Create the endpoint on the stack thread; raise SipError when it cannot (port taken, …)."""
        self._thread = threading.Thread(target=self._run, name="sip-stack", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise SipError("the SIP stack did not start in time")
        if self._error is not None:
            raise SipError(f"SIP stack failed to start: {self._error}") from self._error

    def stop(self, timeout: float = 15.0) -> None:
        """Hang up every call, drop every pjsua2 object, destroy the library; then the thread ends."""
        if self._thread is None:
            return
        self._commands.put(None)
        self._thread.join(timeout)
        self._thread = None

    def register_thread(self, name: str) -> None:
        """Register the calling thread with pjlib (required before it touches — or drops — any pjsua2 object)."""
        ep = self._ep
        if ep is not None and not ep.libIsThreadRegistered():
            ep.libRegisterThread(name)

    @property
    def active_calls(self) -> int:
        """Calls holding a slot right now."""
        return len(self._calls)

    # --- thread-safe API (each runs on the stack thread) ---------------------------------------------------

    def call_soon(self, func: Callable[[], None]) -> None:
        """Run `func` on the stack thread."""
        self._commands.put(func)

    def run_sync(self, func: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Run `func` on the stack thread and return its result (or raise its error)."""
        if threading.current_thread() is self._thread:
            return func()
        future: Future[Any] = Future()

        def job() -> None:
            try:
                future.set_result(func())
            except BaseException as exc:  # handed to the waiting thread
                future.set_exception(exc)

        self._commands.put(job)
        return future.result(timeout)

    def make_call(self, number: str, *, call_id: str | None = None, host: str) -> CallHandle:
        """Dial sip:<number>@<host>; progress arrives as events on the returned handle."""
        handle = CallHandle(id=call_id or f"SIPOUT{next(_ids)}", direction="outbound", remote_user=number, stack=self)

        def dial() -> None:
            if self._account is None or self._stopping:
                raise SipError("SIP stack is not running")
            call = _Call(self, self._account, handle)
            prm = pj.CallOpParam(True)
            prm.opt.audioCount, prm.opt.videoCount = 1, 0
            try:
                call.makeCall(f"sip:{number}@{host}", prm)
            except pj.Error as exc:
                raise SipError(f"INVITE not sent: {exc.info()}") from None
            self._calls[handle.id] = call

        self.run_sync(dial)
        return handle

    def answer(self, handle: CallHandle, code: int = 200) -> None:
        """Send a response to an inbound INVITE (180 ringing, 200 answer)."""

        def job() -> None:
            call = self._calls.get(handle.id)
            if call is not None:
                prm = pj.CallOpParam()
                prm.statusCode = code
                call.answer(prm)

        self.run_sync(job)

    def hangup(self, handle: CallHandle, code: int = 0) -> None:
        """End, cancel or reject a call."""

        def job() -> None:
            call = self._calls.get(handle.id)
            if call is not None and not handle.ended.is_set():
                prm = pj.CallOpParam()
                if code:
                    prm.statusCode = code
                try:
                    call.hangup(prm)
                except pj.Error as exc:
                    log.debug("hang-up of %s: %s", handle.id, exc.info())

        self.run_sync(job)

    def send_dtmf(self, handle: CallHandle, digits: str, method: str = "rfc2833") -> None:
        """Send keys by RFC 2833 (in the RTP stream) or SIP INFO."""

        def job() -> None:
            call = self._calls.get(handle.id)
            if call is None:
                raise SipError("no such call")
            prm = pj.CallSendDtmfParam()
            prm.digits = digits
            prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO if method == "info" else pj.PJSUA_DTMF_METHOD_RFC2833
            call.sendDtmf(prm)

        self.run_sync(job)

    def bridge(self, first: CallHandle, second: CallHandle) -> None:
        """Connect two calls' audio inside the endpoint (both ports keep hearing, for recording and levels)."""

        def job() -> None:
            a, b = self._calls.get(first.id), self._calls.get(second.id)
            if a is None or b is None or a.audio is None or b.audio is None:
                raise SipError("both calls need live audio to be bridged")
            a.audio.startTransmit(b.audio)
            b.audio.startTransmit(a.audio)
            first.bridged_to, second.bridged_to = second.id, first.id

        self.run_sync(job)

    def unbridge(self, first: CallHandle, second: CallHandle) -> None:
        """Undo `bridge` (harmless when either call is gone)."""

        def job() -> None:
            a, b = self._calls.get(first.id), self._calls.get(second.id)
            for src, dst in ((a, b), (b, a)):
                if src is not None and dst is not None and src.audio is not None and dst.audio is not None:
                    try:
                        src.audio.stopTransmit(dst.audio)
                    except pj.Error:
                        pass
            first.bridged_to = second.bridged_to = None

        self.run_sync(job)

    # --- the stack thread -----------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            ep = self._create()
        except BaseException as exc:
            self._error = exc
            self._destroy()
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                ep.libHandleEvents(POLL_MS)
                if self._drain():
                    break
        except Exception:
            log.exception("SIP stack loop failed")
        finally:
            self._shutdown_calls()
            self._destroy()

    def _drain(self) -> bool:
        """Run queued closures; True when asked to stop."""
        while True:
            try:
                job = self._commands.get_nowait()
            except queue.Empty:
                return False
            if job is None:
                return True
            try:
                job()
            except Exception:
                log.exception("SIP stack job failed")

    def _create(self) -> _Endpoint:
        cfg = self.config
        ep = _Endpoint(self)
        self._ep = ep
        ep.libCreate()
        ep_cfg = pj.EpConfig()
        ep_cfg.uaConfig.threadCnt = 0  # no PJSIP worker thread: SIP callbacks run here, in libHandleEvents
        ep_cfg.uaConfig.mainThreadOnly = False
        ep_cfg.uaConfig.maxCalls = cfg.max_calls
        ep_cfg.uaConfig.userAgent = cfg.user_agent
        ep_cfg.logConfig.level = cfg.log_level
        ep_cfg.logConfig.consoleLevel = cfg.log_level
        ep_cfg.medConfig.clockRate = 8000
        ep_cfg.medConfig.sndClockRate = 8000
        ep_cfg.medConfig.channelCount = 1
        ep_cfg.medConfig.audioFramePtime = FRAME_MS
        ep_cfg.medConfig.ptime = FRAME_MS
        ep_cfg.medConfig.noVad = True  # keep sending silence: gateways treat a silent stream as a dead call
        ep_cfg.medConfig.ecTailLen = 0  # the gateway cancels echo; a second canceller here only smears speech
        ep.libInit(ep_cfg)
        tcfg = pj.TransportConfig()
        tcfg.port = cfg.port
        tcfg.boundAddress = cfg.bind
        if cfg.bind not in ("0.0.0.0", "::"):
            tcfg.publicAddress = cfg.bind
        try:
            ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
        except pj.Error as exc:
            raise SipError(bilingual(PORT_UNUSABLE, bind=cfg.bind, port=cfg.port,
                                     reason=exc.reason or exc.info())) from None
        ep.libStart()
        ep.audDevManager().setNullDev()  # no sound card: audio only flows through the call ports
        for codec in ep.codecEnum2():
            keep = codec.codecId.startswith(CODECS) or codec.codecId.startswith(KEEP_CODECS)
            ep.codecSetPriority(codec.codecId, 0 if not keep else (255 if codec.codecId.startswith("PCMU") else 254))
        acfg = pj.AccountConfig()
        host = cfg.bind if cfg.bind not in ("0.0.0.0", "::") else "127.0.0.1"
        acfg.idUri = f"sip:{cfg.user}@{host}:{cfg.port}"
        if cfg.registrar:
            acfg.regConfig.registrarUri = f"sip:{cfg.registrar.removeprefix('sip:')}"
        else:
            acfg.regConfig.registrarUri = ""
        if cfg.username:
            acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", cfg.username, 0, cfg.password))
        acfg.mediaConfig.transportConfig.boundAddress = cfg.bind
        # Each process its own RTP range (pjsua starts every process at 4000 and then collides).
        acfg.mediaConfig.transportConfig.port = rtp_base(cfg.port)
        acfg.mediaConfig.transportConfig.portRange = RTP_RANGE
        account = _Account(self)
        account.create(acfg, True)
        self._account = account
        log.info("SIP endpoint on udp %s:%s (pjproject %s, %s calls)", cfg.bind, cfg.port,
                 ep.libVersion().full, cfg.max_calls)
        return ep

    def _shutdown_calls(self) -> None:
        self._stopping = True
        ep = self._ep
        if ep is None:
            return
        try:
            ep.hangupAllCalls()
        except pj.Error:
            pass
        deadline = time.monotonic() + 3
        while self._calls and time.monotonic() < deadline:
            ep.libHandleEvents(POLL_MS)
            self._drain_quietly()

    def _drain_quietly(self) -> None:
        while True:
            try:
                job = self._commands.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                try:
                    job()
                except Exception as exc:
                    log.debug("SIP stack job during shutdown: %s", type(exc).__name__)

    def _destroy(self) -> None:
        """Drop every pjsua2 object, then destroy the library (a live reference there aborts the process)."""
        for call in list(self._calls.values()):
            self._release(call)
        self._calls.clear()
        if self._account is not None:
            try:
                self._account.shutdown()
            except pj.Error:
                pass
        self._account = None
        gc.collect()
        ep = self._ep
        if ep is not None:
            try:
                ep.libDestroy()
            except pj.Error:
                pass
        self._ep = None
        del ep
        gc.collect()

    # --- callbacks (stack thread) ----------------------------------------------------------------------

    def _on_incoming(self, account: _Account, prm: pj.OnIncomingCallParam) -> None:
        info_source = prm.rdata.srcAddress
        handle = CallHandle(id="", direction="inbound", source=info_source, stack=self)
        call = _Call(self, account, handle, prm.callId)
        info = call.getInfo()
        handle.id = f"SIPIN{info.callIdString}"[:64]
        handle.remote_user = _user_part(info.remoteUri)
        handle.local_user = _user_part(info.localUri)
        self._calls[handle.id] = call
        verdict = 0
        if self.on_incoming is not None:
            try:
                verdict = self.on_incoming(handle)
            except Exception:
                log.exception("incoming call handler failed")
                verdict = 500
        if verdict:
            prm_answer = pj.CallOpParam()
            prm_answer.statusCode = verdict
            try:
                call.hangup(prm_answer)
            except pj.Error:
                pass

    def _on_rejected(self, code: int) -> None:
        if self.on_rejected is not None:
            try:
                self.on_rejected(code)
            except Exception:
                log.exception("rejected-call handler failed")

    def _on_state(self, call: _Call) -> None:
        handle = call.handle
        info = call.getInfo()
        state = info.state
        if state == pj.PJSIP_INV_STATE_EARLY and handle.direction == "outbound":
            handle.events.put(("ringing", int(info.lastStatusCode)))
        elif state == pj.PJSIP_INV_STATE_CONFIRMED and not handle.answered.is_set():
            handle.answered_at = time.monotonic()
            handle.answered.set()
            handle.events.put(("answered",))
        elif state == pj.PJSIP_INV_STATE_DISCONNECTED:
            handle.status_code = int(info.lastStatusCode)
            handle.reason = str(info.lastReason)
            handle.ended_at = time.monotonic()
            handle.tx.stop()
            handle.ended.set()
            handle.events.put(("ended", handle.status_code, handle.reason))
            # Deleting a call inside its own callback is unsafe: release it on the next turn of the loop.
            self.call_soon(lambda: self._forget(handle.id))

    def _on_media(self, call: _Call) -> None:
        info = call.getInfo()
        for index, media in enumerate(info.media):
            if media.type != pj.PJMEDIA_TYPE_AUDIO or media.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            if call.audio is not None:
                continue
            audio = call.getAudioMedia(index)
            port = _Port(call.handle)
            fmt = pj.MediaFormatAudio()
            fmt.init(pj.PJMEDIA_FORMAT_PCM, 8000, 1, FRAME_MS * 1000, 16)
            port.createPort(f"call{call.handle.id[-12:]}", fmt)
            audio.startTransmit(port)
            port.startTransmit(audio)
            call.audio, call.port = audio, port
            call.handle.events.put(("media",))

    def _forget(self, handle_id: str) -> None:
        call = self._calls.pop(handle_id, None)
        if call is not None:
            self._release(call)

    def _release(self, call: _Call) -> None:
        port, audio = call.port, call.audio
        call.port = call.audio = None
        # After the call ended pjsua has already taken its audio out of the bridge.
        if port is not None and audio is not None and not call.handle.ended.is_set():
            for source, sink in ((audio, port), (port, audio)):
                try:
                    source.stopTransmit(sink)
                except pj.Error:
                    pass
