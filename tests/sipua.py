"""A scriptable SIP phone for the tests and the benchmark: its own process (PJSIP allows one endpoint each).

Run `python -m tests.sipua --port P --user NUMBER`; it reads one JSON command per line on stdin and
writes one JSON event per line on stdout. It can call (as NUMBER), answer calls (as a gateway does
for the numbers it dials), play WAV audio, send keys by RFC 2833 or SIP INFO, hang up, and report
what it hears: when the far end's audio starts and stops and how loud it was.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

from voice.audio import read_wav, resample
from voice.sip.media import FRAME_MS, level_dbfs
from voice.sip.stack import CallHandle, SipError, SipStack, StackConfig

LOUD_DBFS = -45.0


class Phone:
    """Calls of this UA and what was heard on them."""

    def __init__(self, stack: SipStack, answer_mode: str) -> None:
        self.stack = stack
        self.answer_mode = answer_mode  # answer / ring (never answer) / busy
        self.calls: dict[str, CallHandle] = {}
        self.heard: dict[str, list[tuple[float, float]]] = {}  # call → [(monotonic, dBFS)] per frame
        self.lock = threading.Lock()
        self.out = threading.Lock()

    def emit(self, **event: object) -> None:
        """One event line on stdout."""
        with self.out:
            sys.stdout.write(json.dumps(event) + "\n")
            sys.stdout.flush()

    def incoming(self, handle: CallHandle) -> int:
        """Stack thread: announce the call; answer, ring or refuse it as told."""
        if self.answer_mode == "busy":
            self.emit(ev="incoming", id=handle.id, to=handle.local_user, refused=486)
            return 486
        self.add(handle)
        self.emit(ev="incoming", id=handle.id, to=handle.local_user, caller=handle.remote_user)
        if self.answer_mode == "answer":
            self.stack.call_soon(lambda: self.stack.answer(handle, 200))
        else:
            self.stack.call_soon(lambda: self.stack.answer(handle, 180))
        return 0

    def add(self, handle: CallHandle) -> None:
        """Watch a call: record the level of every frame heard, report its events."""
        with self.lock:
            self.calls[handle.id] = handle
            self.heard[handle.id] = []
        threading.Thread(target=self._watch, args=(handle,), daemon=True).start()

    def _watch(self, handle: CallHandle) -> None:
        self.stack.register_thread(f"watch-{handle.id[-6:]}")
        levels = self.heard[handle.id]
        while True:
            frame = handle.rx.get(0.05)
            if frame is not None:
                levels.append((time.monotonic(), level_dbfs(frame)))
            while not handle.events.empty():
                event = handle.events.get_nowait()
                if event[0] == "answered":
                    self.emit(ev="answered", id=handle.id, at=time.monotonic())
                elif event[0] == "dtmf":
                    self.emit(ev="dtmf", id=handle.id, digit=event[1], method=event[2])
                elif event[0] == "ended":
                    self.emit(ev="ended", id=handle.id, code=event[1], at=time.monotonic(),
                              received=handle.rx.received, sent=handle.tx.sent)
                    return
            if frame is None and handle.ended.is_set():
                self.emit(ev="ended", id=handle.id, code=handle.status_code, at=time.monotonic(),
                          received=handle.rx.received, sent=handle.tx.sent)
                return

    def first_loud(self, call: str, after: float) -> float | None:
        """When the far end's audio was first loud after `after` (None: not yet)."""
        for at, level in list(self.heard.get(call, [])):
            if at >= after and level > LOUD_DBFS:
                return at
        return None

    def quiet_since(self, call: str, quiet_ms: int, after: float) -> float | None:
        """When the far end, having been loud after `after`, has been quiet for `quiet_ms` (None: not yet)."""
        loud_seen = False
        quiet_start = None
        frames = list(self.heard.get(call, []))
        for at, level in frames:
            if at < after:
                continue
            if level > LOUD_DBFS:
                loud_seen, quiet_start = True, None
            elif loud_seen and quiet_start is None:
                quiet_start = at
        if loud_seen and quiet_start is not None and frames and frames[-1][0] - quiet_start >= quiet_ms / 1000:
            return quiet_start
        return None

    def loudness(self, call: str, start: float, end: float) -> dict[str, float]:
        """Share of loud frames and mean level heard between two times."""
        levels = [level for at, level in self.heard.get(call, []) if start <= at <= end]
        if not levels:
            return {"frames": 0, "loud_share": 0.0, "mean_dbfs": -100.0}
        return {"frames": len(levels), "loud_share": sum(lv > LOUD_DBFS for lv in levels) / len(levels),
                "mean_dbfs": float(np.mean(levels))}


def _pcm8k(path: str) -> bytes:
    audio = read_wav(Path(path).read_bytes())
    return resample(audio.samples, audio.rate, 8000).astype("<i2").tobytes()


def _tone(ms: int, hz: float = 440.0) -> bytes:
    t = np.arange(8000 * ms // 1000) / 8000
    return (np.sin(2 * np.pi * hz * t) * 0.3 * 32767).astype("<i2").tobytes()


def serve(phone: Phone, line: str) -> bool:
    """Do one command; False on quit."""
    cmd = json.loads(line)
    name = cmd["cmd"]
    call = phone.calls.get(cmd.get("id", ""))
    try:
        if name == "quit":
            return False
        if name == "call":
            user, host = cmd["to"].split("@", 1)
            handle = phone.stack.make_call(user, host=host)
            phone.add(handle)
            phone.emit(ev="calling", id=handle.id, ref=cmd.get("ref"))
        elif name == "answer" and call is not None:
            phone.stack.answer(call, int(cmd.get("code", 200)))
        elif name == "mode":
            phone.answer_mode = cmd["mode"]
            phone.emit(ev="mode", mode=phone.answer_mode)
        elif name == "play" and call is not None:
            pcm = _pcm8k(cmd["wav"]) if cmd.get("wav") else _tone(int(cmd.get("ms", 1000)))
            call.tx.play(pcm)
            started = time.monotonic()
            phone.emit(ev="playing", id=call.id, at=started, ends_at=started + len(pcm) / 16000)
        elif name == "dtmf" and call is not None:
            phone.stack.send_dtmf(call, cmd["digits"], cmd.get("method", "rfc2833"))
            phone.emit(ev="sent_dtmf", id=call.id, digits=cmd["digits"], at=time.monotonic())
        elif name == "hangup" and call is not None:
            call.hangup(int(cmd.get("code", 0)))
        elif name == "first_loud":
            phone.emit(ev="first_loud", id=cmd["id"], at=phone.first_loud(cmd["id"], float(cmd["after"])))
        elif name == "quiet":
            phone.emit(ev="quiet", id=cmd["id"],
                       at=phone.quiet_since(cmd["id"], int(cmd.get("ms", 1000)), float(cmd.get("after", 0))))
        elif name == "loudness":
            phone.emit(ev="loudness", id=cmd["id"],
                       **phone.loudness(cmd["id"], float(cmd["start"]), float(cmd["end"])))
        elif name == "now":
            phone.emit(ev="now", at=time.monotonic())
        else:
            phone.emit(ev="error", error=f"unknown command or call: {line.strip()}")
    except (SipError, TimeoutError, KeyError, ValueError) as exc:
        phone.emit(ev="error", error=f"{type(exc).__name__}: {exc}", cmd=name)
    return True


def main() -> None:
    """Start the phone and obey stdin until quit or end of input."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", default="13800000000")
    parser.add_argument("--answer", default="answer", choices=("answer", "ring", "busy"))
    args = parser.parse_args()
    phone: Phone | None = None
    stack = SipStack(StackConfig(bind="127.0.0.1", port=args.port, user=args.user, log_level=0),
                     on_incoming=lambda handle: phone.incoming(handle) if phone else 486)
    phone = Phone(stack, args.answer)
    stack.start()
    stack.register_thread("ua-main")
    phone.emit(ev="ready", port=args.port, frame_ms=FRAME_MS)
    try:
        for line in sys.stdin:
            if line.strip() and not serve(phone, line):
                break
    finally:
        phone.calls.clear()
        stack.stop()
        phone.emit(ev="stopped")


if __name__ == "__main__":
    main()
