"""Live listening on a SIP call: the media worker that turns the caller's frames into speech events and utterances.

One worker thread per call drains the frames the clock thread queued (never recognising inside the
media callback), keeps an energy voice-activity state for barge-in, and while the flow is listening
records the audio and feeds a vosk recogniser of its own (one shared Model per process): grammar-first
for menu answers, free mode for messages. An utterance ends when vosk reports an endpoint after speech,
when the caller has been quiet for `end_silence_ms`, when `#` is pressed, or at the length limit.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voice.asr import UNK, GrammarMatch, Transcript, judge_grammar
from voice.sip.media import FRAME_MS, level_dbfs, upsample_16k
from voice.sip.stack import CallHandle

log = logging.getLogger(__name__)
PREROLL_FRAMES = 15  # 300 ms kept before speech is detected, so the first syllable is not cut
SPEECH_START_FRAMES = 3  # 60 ms above the threshold = speech (a click is shorter)
FEED_FRAMES = 5  # frames per AcceptWaveform call (100 ms): fewer calls, same result
VOSK_ENDPOINT_SILENCE_MS = 300  # vosk's own endpoint counts only once we also hear this much quiet
STABLE_PARTIAL_MS = 100  # of audio: a menu answer's partial result unchanged over a feed counts as settled


class FreeRecognisers:
    """Warm free-mode recognisers, reused across utterances.

    A new free-mode recogniser spends seconds on its first audio (the models' look-ahead graph is
    prepared then): far too long for a caller waiting for the read-back. So the endpoint warms a few
    at start-up and resets them after each utterance instead of making new ones (grammar recognisers
    are cheap and are still made fresh for every answer).
    """

    def __init__(self, asr: Any) -> None:
        self.asr = asr
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    def warm(self, count: int, threads: int = 2) -> float:
        """Make and warm `count` recognisers (in parallel); the seconds it took."""
        started = time.monotonic()
        noise = (np.random.default_rng(0).standard_normal(16000) * 30).astype("<i2").tobytes()

        def one() -> None:
            recogniser = self.asr.recogniser(None)
            for start in range(0, len(noise), 3200):
                recogniser.AcceptWaveform(noise[start:start + 3200])
            recogniser.FinalResult()
            recogniser.Reset()
            with self._lock:
                self._idle.append(recogniser)

        workers = [threading.Thread(target=one, name="vosk-warm") for _ in range(count)]
        for index in range(0, len(workers), threads):
            batch = workers[index:index + threads]
            for worker in batch:
                worker.start()
            for worker in batch:
                worker.join()
        return time.monotonic() - started

    def take(self) -> Any:
        """A warm recogniser if one is idle, else a new (cold) one."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        log.info("no warm free-mode recogniser idle: a cold one is slow on its first second of audio")
        return self.asr.recogniser(None)

    def give_back(self, recogniser: Any) -> None:
        """Reset a recogniser after its final result and keep it for the next utterance."""
        try:
            recogniser.Reset()
        except Exception as exc:
            log.warning("recogniser not reusable: %s", type(exc).__name__)
            return
        with self._lock:
            self._idle.append(recogniser)


@dataclass
class Utterance:
    """One spoken answer: 8 kHz PCM as heard, what the recogniser made of it, and when speech ended."""

    pcm8k: bytes
    spoke: bool
    transcript: Transcript | None = None
    match: GrammarMatch | None = None
    ended_by: str = ""  # silence / vosk / key / limit / no_speech / hangup
    speech_end_at: float | None = None  # monotonic time of the last loud frame
    decided_at: float | None = None  # when the end of the utterance was decided
    recognised_at: float | None = None  # when the final result (and the grammar match) was ready
    pcm16k: bytes = field(default=b"", repr=False)

    @property
    def seconds(self) -> float:
        """Length of the recorded audio."""
        return len(self.pcm8k) / 16000


@dataclass
class _Capture:
    purpose: str
    grammar: bool
    no_speech_s: float
    max_s: float
    end_silence_ms: int
    recogniser: Any
    started: float
    pooled: bool = False
    frames: list[bytes] = field(default_factory=list)
    pending16k: list[bytes] = field(default_factory=list)
    all16k: list[bytes] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    words: list[dict[str, Any]] = field(default_factory=list)
    loud_run: int = 0
    quiet_run: int = 0
    spoke: bool = False
    last_loud: float | None = None
    vosk_endpoint: bool = False
    partial: str = ""  # the recogniser's latest partial result (menu answers)
    partial_frame: int = 0  # how many frames had been heard when it last changed (audio time, not wall time)
    partial_intent: bool = False  # whether it already names exactly one intent


class CallListener:
    """The media worker of one call (a thread); the call driver asks it to listen and waits for events."""

    def __init__(self, handle: CallHandle, asr: Any, *, vad_dbfs: float = -40.0, end_silence_ms: int = 600,
                 end_stable_ms: int = 0, register_thread: Any = None, free: FreeRecognisers | None = None) -> None:
        self.handle = handle
        self.asr = asr
        self.free = free
        self.vad_dbfs = vad_dbfs
        self.end_silence_ms = end_silence_ms
        self.end_stable_ms = end_stable_ms  # 0: menu answers too wait for end_silence_ms
        self._register = register_thread
        self._lock = threading.Lock()
        self._capture: _Capture | None = None
        self._preroll: collections.deque[bytes] = collections.deque(maxlen=PREROLL_FRAMES)
        self._loud_run = 0
        self.barge_in = False  # post ("speech",) when the caller starts talking
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"listen-{handle.id[-8:]}", daemon=True)
        self.frames = 0

    def start(self) -> None:
        """Start draining frames."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the worker (call over); an active capture ends as a hang-up."""
        self._stop.set()
        self._thread.join(5)

    def listen(self, *, purpose: str, grammar: bool, no_speech_s: float, max_s: float,
               end_silence_ms: int | None = None) -> None:
        """Start recording and recognising an answer; an ("utterance", Utterance) event follows."""
        recogniser = None
        if self.asr is not None:
            try:
                recogniser = self._make_recogniser(grammar)
            except Exception as exc:
                log.warning("no recogniser for %s: %s", purpose, type(exc).__name__)
        capture = _Capture(purpose=purpose, grammar=grammar and recogniser is not None, no_speech_s=no_speech_s,
                           max_s=max_s, end_silence_ms=end_silence_ms or self.end_silence_ms,
                           recogniser=recogniser, started=time.monotonic(),
                           pooled=not grammar and self.free is not None)
        with self._lock:
            # Speech already under way (barge-in): keep what was heard before listening began.
            if self._loud_run >= SPEECH_START_FRAMES:
                for frame in self._preroll:
                    self._take(capture, frame, time.monotonic())
            self._capture = capture

    def finish(self, ended_by: str = "key") -> None:
        """End the current capture now (a key during a recording); its utterance is posted."""
        with self._lock:
            capture, self._capture = self._capture, None
        if capture is not None:
            self._post(capture, ended_by)

    def cancel(self) -> None:
        """Drop the current capture without an event."""
        with self._lock:
            capture, self._capture = self._capture, None
        if capture is not None and capture.pooled and capture.recogniser is not None and self.free is not None:
            capture.recogniser.FinalResult()
            self.free.give_back(capture.recogniser)

    def _make_recogniser(self, grammar: bool) -> Any:
        if grammar:
            compiled = self.asr.grammar()
            if compiled is not None:
                return self.asr.recogniser(compiled.phrases)
        if self.free is not None:
            return self.free.take()
        return self.asr.recogniser(None)

    def _run(self) -> None:
        if self._register is not None:
            self._register(f"listen-{self.handle.id[-8:]}")
        rx = self.handle.rx
        while not self._stop.is_set():
            frame = rx.get(0.1)
            if frame is None:
                if self.handle.ended.is_set():
                    break
                self._tick(time.monotonic())
                continue
            self.frames += 1
            self._frame(frame, time.monotonic())
        with self._lock:
            capture, self._capture = self._capture, None
        if capture is not None:
            self._post(capture, "hangup")

    def _frame(self, frame: bytes, now: float) -> None:
        loud = level_dbfs(frame) > self.vad_dbfs
        self._loud_run = self._loud_run + 1 if loud else 0
        if self._loud_run == SPEECH_START_FRAMES and self.barge_in:
            self.handle.events.put(("speech",))
        with self._lock:
            self._preroll.append(frame)  # under the lock: listen() copies it from the driver's thread
            capture = self._capture
            if capture is None:
                return
            self._take(capture, frame, now, loud)
            verdict = self._verdict(capture, now)
            if verdict:
                self._capture = None
        if verdict:
            self._post(capture, verdict)

    def _tick(self, now: float) -> None:
        """No frames (media stalled): limits still apply."""
        with self._lock:
            capture = self._capture
            verdict = self._verdict(capture, now) if capture is not None else ""
            if verdict:
                self._capture = None
        if verdict and capture is not None:
            self._post(capture, verdict)

    def _take(self, capture: _Capture, frame: bytes, now: float, loud: bool | None = None) -> None:
        if loud is None:
            loud = level_dbfs(frame) > self.vad_dbfs
        capture.frames.append(frame)
        if loud:
            capture.loud_run += 1
            capture.quiet_run = 0
            if capture.loud_run >= SPEECH_START_FRAMES:
                capture.spoke = True
            capture.last_loud = now
        else:
            capture.loud_run = 0
            capture.quiet_run += 1
        if capture.recogniser is not None:
            chunk = upsample_16k(frame)
            capture.pending16k.append(chunk)
            capture.all16k.append(chunk)
            if len(capture.pending16k) >= FEED_FRAMES:
                self._feed(capture, streaming=True)

    def _feed(self, capture: _Capture, streaming: bool = False) -> None:
        data = b"".join(capture.pending16k)
        capture.pending16k.clear()
        try:
            if capture.recogniser.AcceptWaveform(data):
                part = json.loads(capture.recogniser.Result())
                if part.get("text"):
                    capture.texts.append(part["text"])
                    capture.words.extend(part.get("result", []))
                    capture.vosk_endpoint = True
            elif streaming and capture.grammar and self.end_stable_ms:
                partial = json.loads(capture.recogniser.PartialResult()).get("partial", "")
                if partial != capture.partial:
                    capture.partial, capture.partial_frame = partial, len(capture.frames)
                    capture.partial_intent = self._names_one_intent(partial)
        except Exception as exc:
            log.warning("streaming recognition failed: %s", type(exc).__name__)
            capture.recogniser = None

    def _verdict(self, capture: _Capture, now: float) -> str:
        elapsed = now - capture.started
        if elapsed >= capture.max_s:
            return "limit"
        if not capture.spoke:
            return "no_speech" if elapsed >= capture.no_speech_s else ""
        quiet_ms = capture.quiet_run * FRAME_MS
        if quiet_ms >= capture.end_silence_ms:
            return "silence"
        # vosk's endpoint ends short answers early; a message ends only on # or the caller's long silence.
        if capture.vosk_endpoint and quiet_ms >= VOSK_ENDPOINT_SILENCE_MS and capture.end_silence_ms <= 1500:
            return "vosk"
        # A menu answer already complete (its words name one intent) and no longer changing need not wait
        # for the full silence: a pause inside an answer not yet complete still gets end_silence_ms.
        if (self.end_stable_ms and capture.grammar and capture.partial_intent and quiet_ms >= self.end_stable_ms
                and (len(capture.frames) - capture.partial_frame) * FRAME_MS >= STABLE_PARTIAL_MS):
            return "stable"
        return ""

    def _names_one_intent(self, partial: str) -> bool:
        """Whether a grammar partial result's words (fillers aside) all point to one and the same intent."""
        grammar = self.asr.grammar() if self.asr is not None else None
        words = partial.split()
        if grammar is None or not words:
            return False
        intents: set[str] = set()
        for word in words:
            pointing = grammar.intents_of(word)
            if word == UNK or len(pointing) > 1:
                return False
            intents |= pointing
        return len(intents) == 1

    def _post(self, capture: _Capture, ended_by: str) -> None:
        decided_at = time.monotonic()
        log.debug("utterance of %s ended by %s (spoke %s, %d frames)", capture.purpose, ended_by, capture.spoke,
                  len(capture.frames))
        transcript = match = None
        if capture.recogniser is not None and capture.spoke:
            try:
                if capture.pending16k:
                    self._feed(capture)
                if capture.recogniser is not None:
                    final = json.loads(capture.recogniser.FinalResult())
                    if final.get("text"):
                        capture.texts.append(final["text"])
                        capture.words.extend(final.get("result", []))
            except Exception as exc:
                log.warning("streaming recognition failed: %s", type(exc).__name__)
            confs = [float(w.get("conf", 0.0)) for w in capture.words]
            transcript = Transcript(text=" ".join(t for t in capture.texts if t).strip(),
                                    confidence=round(sum(confs) / len(confs), 3) if confs else 0.0,
                                    words=capture.words, seconds=len(capture.frames) * FRAME_MS / 1000)
            if capture.grammar:
                grammar = self.asr.grammar()
                if grammar is not None:
                    match = judge_grammar(grammar, transcript)
        if capture.pooled and capture.recogniser is not None and self.free is not None:
            self.free.give_back(capture.recogniser)
        capture.recogniser = None  # released on this thread, not on the driver's
        utterance = Utterance(pcm8k=b"".join(capture.frames), spoke=capture.spoke, transcript=transcript,
                              match=match, ended_by=ended_by if capture.spoke or ended_by != "limit" else "no_speech",
                              speech_end_at=capture.last_loud, decided_at=decided_at,
                              recognised_at=time.monotonic(), pcm16k=b"".join(capture.all16k))
        self.handle.events.put(("utterance", utterance))
