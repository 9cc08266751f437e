"""Call audio in plain Python: 20 ms frames of 16-bit 8 kHz PCM, what a call plays and what it hears.

The media callbacks of the SIP stack run on PJSIP's clock thread and may only move bytes: they
append to a `FrameQueue` and take from a `Playback`, both thread-safe and never blocking.
"""

from __future__ import annotations

import collections
import math
import threading
import time

import numpy as np

RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = RATE * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * 2
SILENCE = bytes(FRAME_BYTES)


class FrameQueue:
    """Caller frames on their way from the clock thread to the call's media worker (bounded: old frames drop)."""

    def __init__(self, max_frames: int = 500) -> None:
        self._frames: collections.deque[bytes] = collections.deque(maxlen=max_frames)
        self._ready = threading.Condition()
        self.received = 0
        self.dropped = 0

    def put(self, frame: bytes) -> None:
        """Add one frame (clock thread: no blocking beyond a short lock)."""
        with self._ready:
            if len(self._frames) == self._frames.maxlen:
                self.dropped += 1
            self._frames.append(frame)
            self.received += 1
            self._ready.notify()

    def get(self, timeout: float) -> bytes | None:
        """The next frame, or None after `timeout` seconds without one."""
        with self._ready:
            if not self._frames and not self._ready.wait(timeout):
                return None
            return self._frames.popleft() if self._frames else None

    def clear(self) -> None:
        """Forget frames not yet taken."""
        with self._ready:
            self._frames.clear()


class Playback:
    """What the call plays to the far end: a byte buffer the clock thread reads 20 ms at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = bytearray()
        self._pos = 0
        self.idle = threading.Event()
        self.idle.set()
        self.sent = 0  # frames with audio handed to the stack
        self.requested = 0  # frames the stack asked for
        self.started = threading.Event()  # set when the first frame of the current audio goes out
        self.started_at: float | None = None  # monotonic time of that first frame (latency figures)

    def play(self, pcm: bytes) -> None:
        """Queue audio after whatever is playing."""
        if not pcm:
            return
        with self._lock:
            if self._pos:
                del self._buffer[:self._pos]
                self._pos = 0
            if not self._buffer:
                self.started.clear()
                self.started_at = None
            self._buffer += pcm
            self.idle.clear()

    def stop(self) -> None:
        """Stop at once (barge-in, hang-up)."""
        with self._lock:
            self._buffer.clear()
            self._pos = 0
            self.idle.set()

    def read_frame(self) -> bytes:
        """The next 20 ms (silence once the buffer is empty); called by the clock thread."""
        with self._lock:
            self.requested += 1
            if self._pos >= len(self._buffer):
                if self._buffer:
                    self._buffer.clear()
                    self._pos = 0
                self.idle.set()
                return SILENCE
            frame = bytes(self._buffer[self._pos:self._pos + FRAME_BYTES])
            self._pos += FRAME_BYTES
            self.sent += 1
            if not self.started.is_set():
                self.started_at = time.monotonic()
                self.started.set()
        return frame if len(frame) == FRAME_BYTES else frame + bytes(FRAME_BYTES - len(frame))

    @property
    def playing(self) -> bool:
        """Whether audio is still queued."""
        return not self.idle.is_set()


def level_dbfs(frame: bytes) -> float:
    """RMS level of a 16-bit frame in dB below full scale (-100 for digital silence)."""
    samples = np.frombuffer(frame, dtype="<i2").astype(np.float64)
    if samples.size == 0:
        return -100.0
    rms = math.sqrt(float(np.mean(samples * samples)))
    return 20 * math.log10(rms / 32768) if rms > 0 else -100.0


def beep(ms: int = 300, hz: float = 1000.0, level: float = 0.3) -> bytes:
    """The record beep: a sine tone as 16-bit PCM."""
    count = RATE * ms // 1000
    t = np.arange(count) / RATE
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)  # 10 ms fades: no clicks
    return (np.sin(2 * np.pi * hz * t) * ramp * level * 32767).astype("<i2").tobytes()


def silence(ms: int) -> bytes:
    """PCM silence of this length."""
    return bytes(RATE * ms // 1000 * 2)


def upsample_16k(frame: bytes) -> bytes:
    """8 kHz 16-bit PCM → 16 kHz for the vosk models (linear interpolation; phone audio has nothing above 4 kHz)."""
    samples = np.frombuffer(frame, dtype="<i2").astype(np.int32)
    if samples.size == 0:
        return b""
    out = np.empty(samples.size * 2, dtype=np.int32)
    out[0::2] = samples
    out[1:-1:2] = (samples[:-1] + samples[1:]) // 2
    out[-1] = samples[-1]
    return out.astype("<i2").tobytes()
