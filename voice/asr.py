"""Offline speech recognition with vosk: one model per process, one recogniser per utterance.

Recognition runs in a thread pool sized to the cores (vosk's C calls release the GIL), never in a
webhook. `make_asr(settings)` returns None when no model is configured: the phone line then works
by keypad and recorded messages.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voice.audio import to_pcm16k

log = logging.getLogger(__name__)
SAMPLE_RATE = 16000
CHUNK_BYTES = 8000  # 0.25 s of 16-bit 16 kHz audio per feed


class AsrUnavailable(RuntimeError):
    """No usable model: speech recognition is off."""


class AsrTimeout(RuntimeError):
    """Recognition took longer than the configured limit."""


@dataclass(frozen=True)
class Transcript:
    """What the recogniser heard: text (words separated by spaces for Chinese models) and mean confidence."""

    text: str
    confidence: float
    words: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def _mean_conf(words: Sequence[dict[str, Any]]) -> float:
    confs = [float(w.get("conf", 0.0)) for w in words]
    return round(sum(confs) / len(confs), 3) if confs else 0.0


class VoskAsr:
    """A loaded vosk model plus a worker pool."""

    def __init__(self, model_path: str | Path, *, workers: int | None = None, timeout_s: float = 20.0) -> None:
        import vosk

        path = Path(model_path)
        if not path.is_dir():
            raise AsrUnavailable(f"vosk model directory not found: {path}")
        vosk.SetLogLevel(-1)
        self._vosk = vosk
        started = time.monotonic()
        self.model = vosk.Model(str(path))  # never Model(lang=...): that downloads from the internet
        self.load_seconds = time.monotonic() - started
        self.model_path = path
        self.timeout_s = timeout_s
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="vosk")
        self._closed = threading.Event()
        log.info("vosk model %s loaded in %.1fs, %d workers", path.name, self.load_seconds, self.workers)

    def known_words(self, words: Sequence[str]) -> list[str]:
        """The words the model's vocabulary contains (grammar mode silently drops the others)."""
        return [w for w in words if self.model.vosk_model_find_word(w) >= 0]

    def recogniser(self, grammar: Sequence[str] | None = None) -> Any:
        """A fresh recogniser (re-setting a grammar on one leaks memory in vosk 0.3.45)."""
        if grammar:
            # Words outside the vocabulary are silently dropped by vosk: keep only phrases it can say.
            phrases = [p for p in grammar if p and all(self.model.vosk_model_find_word(w) >= 0 for w in p.split())]
            if not phrases:
                raise AsrUnavailable("no grammar phrase is in the model's vocabulary")
            phrases += (["[unk]"] if self.model.vosk_model_find_word("[unk]") >= 0 else [])
            rec = self._vosk.KaldiRecognizer(self.model, SAMPLE_RATE, json.dumps(phrases, ensure_ascii=False))
        else:
            rec = self._vosk.KaldiRecognizer(self.model, SAMPLE_RATE)
        rec.SetWords(True)
        return rec

    def transcribe_pcm(self, pcm: bytes, grammar: Sequence[str] | None = None,
                       deadline: float | None = None) -> Transcript:
        """Recognise raw 16-bit 16 kHz mono PCM; raise AsrTimeout past the deadline (monotonic)."""
        deadline = deadline if deadline is not None else time.monotonic() + self.timeout_s
        rec = self.recogniser(grammar)
        texts: list[str] = []
        words: list[dict[str, Any]] = []
        for start in range(0, len(pcm), CHUNK_BYTES):
            if time.monotonic() > deadline:
                raise AsrTimeout(f"recognition exceeded {self.timeout_s}s")
            if rec.AcceptWaveform(pcm[start:start + CHUNK_BYTES]):
                part = json.loads(rec.Result())
                texts.append(part.get("text", ""))
                words.extend(part.get("result", []))
        final = json.loads(rec.FinalResult())
        texts.append(final.get("text", ""))
        words.extend(final.get("result", []))
        text = " ".join(t for t in texts if t).strip()
        return Transcript(text=text, confidence=_mean_conf(words), words=words, seconds=len(pcm) / (2 * SAMPLE_RATE))

    def transcribe_wav(self, data: bytes, grammar: Sequence[str] | None = None) -> Transcript:
        """Recognise a WAV (phone μ-law 8 kHz is converted and upsampled to 16 kHz first)."""
        return self.transcribe_pcm(to_pcm16k(data), grammar)

    def submit(self, func: Callable[..., Any], *args: Any) -> Future:
        """Run work (typically fetch + transcribe + store) on the recognition pool."""
        if self._closed.is_set():
            raise AsrUnavailable("speech recognition is shut down")
        return self._pool.submit(func, *args)

    def close(self) -> None:
        """Stop accepting work and wait for running recognitions."""
        self._closed.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


def make_asr(settings: Any) -> VoskAsr | None:
    """The process's recogniser from settings.vosk.model, or None (speech disabled, with a loud warning)."""
    model = settings.vosk.model
    if not model:
        log.warning("speech recognition disabled: set XIAOYUAN_VOSK_MODEL to an unpacked vosk model directory")
        return None
    try:
        return VoskAsr(model, workers=settings.vosk.workers or None, timeout_s=settings.vosk.timeout_s)
    except AsrUnavailable as exc:
        log.warning("speech recognition disabled: %s", exc)
        return None
