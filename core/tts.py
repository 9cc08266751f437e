"""The one text-to-speech service: pyttsx3 + espeak-ng in a single worker thread, WAVs cached by content hash.

Why a worker thread: a pyttsx3 engine must stay on the thread that created it (reusing it across
threads hangs or raises "run loop already started"). Callers on any thread queue their text and
block until the worker has written a *complete* WAV: `runAndWait()` can return before the file
exists, so the worker also waits for the "finished-utterance" callback and checks the RIFF size.
Recorded human prompts dropped into `settings.tts.prompts_dir` replace synthetic audio by id.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import struct
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from core.errors import LocalisedError
from core.i18n import N_
from core.private_files import FILE_MODE, private_dir
from core.settings import ROOT

log = logging.getLogger(__name__)

WAIT_SECONDS = 30.0
MAX_TEXT_CHARS = 4000


class TtsUnavailable(LocalisedError):
    """Speech cannot be made here (espeak-ng or pyttsx3 missing, voice unknown); the message says why."""


def cache_key(voice: str, rate: int, text: str) -> str:
    """The cache file name stem: sha256 of voice|rate|text."""
    return hashlib.sha256(f"{voice}|{rate}|{text}".encode()).hexdigest()


RENDER_ATTEMPTS = 3


def _quiet_driver_prints() -> None:
    """The espeak driver print()s "Audio saved to …" for every file: send that to the debug log instead."""
    try:
        from pyttsx3.drivers import espeak as espeak_driver
    except ImportError:  # pragma: no cover - driver layout of another pyttsx3 version
        return
    espeak_driver.print = lambda *args, **_kw: log.debug("espeak: %s", " ".join(map(str, args)))


def wav_is_complete(path: Path) -> bool:
    """True when the file is a RIFF/WAVE whose declared size matches its length and that holds audio."""
    try:
        size = path.stat().st_size
        if size < 44:
            return False
        with path.open("rb") as fh:
            header = fh.read(12)
    except OSError:
        return False
    if header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return False
    (riff_size,) = struct.unpack("<I", header[4:8])
    return riff_size + 8 == size and size > 44


class _EspeakWorker:
    """The single thread that owns the pyttsx3 engine (espeak-ng keeps process-global state)."""

    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[str, str, int, Path, Future[Path]] | None] = queue.Queue()
        self.ready = threading.Event()
        self.error: TtsUnavailable | None = None
        self.voices: set[str] = set()
        self.thread = threading.Thread(target=self._run, name="tts-worker", daemon=True)
        self.thread.start()
        self.ready.wait(WAIT_SECONDS)
        if not self.ready.is_set():
            self.error = TtsUnavailable(N_("TTS 引擎启动超时"))

    def stop(self) -> None:
        """Finish the queued work and end the thread."""
        self.queue.put(None)
        self.thread.join(timeout=5)

    def _start_engine(self) -> tuple[Any, threading.Event]:
        try:
            import pyttsx3
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise TtsUnavailable(N_("没有安装 pyttsx3")) from exc
        try:
            engine = pyttsx3.Engine("espeak")  # not pyttsx3.init(): that shares engines across threads
            _quiet_driver_prints()
        except Exception as exc:
            raise TtsUnavailable(N_("无法启动 espeak-ng（请安装 espeak-ng）：%(error)s"), error=exc) from exc
        self.voices = {v.id for v in engine.getProperty("voices")}
        finished = threading.Event()
        engine.connect("finished-utterance", lambda name, completed: finished.set())
        return engine, finished

    def _run(self) -> None:
        try:
            engine, finished = self._start_engine()
        except TtsUnavailable as exc:
            self.error = exc
            log.warning("TTS unavailable: %s", exc)
            self.ready.set()
            self._drain(exc)
            return
        self.ready.set()
        while True:
            item = self.queue.get()
            if item is None:
                break
            text, voice, rate, path, future = item
            try:
                future.set_result(self._render(engine, finished, text, voice, rate, path))
            except Exception as exc:
                log.exception("TTS failed for a %d-character text", len(text))
                future.set_exception(exc if isinstance(exc, TtsUnavailable)
                                     else TtsUnavailable(N_("语音合成失败：%(error)s"), error=exc))
        self._drain(TtsUnavailable(N_("TTS 已关闭")))

    def _drain(self, reason: TtsUnavailable) -> None:
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[4].set_exception(TtsUnavailable(reason.message, **reason.params))

    @staticmethod
    def _render(engine: Any, finished: threading.Event, text: str, voice: str, rate: int, path: Path) -> Path:
        if wav_is_complete(path):
            return path
        private_dir(path.parent)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.part.wav")
        for attempt in range(1, RENDER_ATTEMPTS + 1):
            partial.unlink(missing_ok=True)
            finished.clear()
            engine.setProperty("voice", voice)
            engine.setProperty("rate", rate)
            engine.save_to_file(text, str(partial))
            engine.runAndWait()
            # runAndWait may return early: wait for the callback, then for a complete RIFF file.
            if not finished.wait(WAIT_SECONDS):
                raise TtsUnavailable(N_("语音合成没有完成"))
            for _ in range(200):
                if wav_is_complete(partial):
                    os.chmod(partial, FILE_MODE)  # spoken notices and names: owner-only
                    os.replace(partial, path)
                    return path
                threading.Event().wait(0.01)
            # The espeak driver now and then finishes an utterance with a header-only WAV: try again.
            log.warning("TTS produced no audio (attempt %d of %d)", attempt, RENDER_ATTEMPTS)
        partial.unlink(missing_ok=True)
        raise TtsUnavailable(N_("语音文件不完整"))


_worker_lock = threading.Lock()
_worker: _EspeakWorker | None = None
_worker_users = 0


def _acquire_worker() -> _EspeakWorker:
    global _worker, _worker_users
    with _worker_lock:
        if _worker is None:
            _worker = _EspeakWorker()
        _worker_users += 1
        return _worker


def _release_worker() -> None:
    global _worker, _worker_users
    with _worker_lock:
        _worker_users -= 1
        if _worker_users <= 0 and _worker is not None:
            _worker.stop()
            _worker = None
            _worker_users = 0


class TtsService:
    """Speech synthesis for every surface (TV 读给我听, pickup codes, phone prompts)."""

    def __init__(self, *, voice: str, rate: int, cache_dir: Path, prompts_dir: Path | None = None) -> None:
        self.voice = voice
        self.rate = rate
        self.cache_dir = Path(cache_dir)
        self.prompts_dir = Path(prompts_dir) if prompts_dir else None
        self._closed = False
        self._lock = threading.Lock()
        self._inflight: dict[str, Future[Path]] = {}
        self._worker = _acquire_worker()
        self._error = self._worker.error
        if self._error is None and voice not in self._worker.voices:
            self._error = TtsUnavailable(N_("espeak-ng 没有语音 %(voice)s"), voice=voice)

    @classmethod
    def from_settings(cls, settings: Any) -> TtsService:
        """A service using settings.tts (voice, rate, prompts_dir) and data_dir/audio as the cache."""
        prompts = Path(settings.tts.prompts_dir)
        if not prompts.is_absolute():
            prompts = ROOT / prompts
        return cls(voice=settings.tts.voice, rate=settings.tts.rate, cache_dir=Path(settings.data_dir) / "audio",
                   prompts_dir=prompts)

    @property
    def available(self) -> bool:
        """Whether synthesis works here (the engine started and the voice exists)."""
        return self._error is None and not self._closed

    @property
    def error(self) -> str | None:
        """Why speech is unavailable, in plain Chinese words (None when it works)."""
        return str(self._error) if self._error is not None else None

    def cached_path(self, text: str, rate: int | None = None) -> Path:
        """Where the WAV for this text (at this rate, default the configured one) is or will be cached."""
        return self.cache_dir / f"{cache_key(self.voice, rate or self.rate, text)}.wav"

    def synthesize(self, text: str, rate: int | None = None) -> Path:
        """The path of a complete WAV of `text` (cached); blocks until written. Thread-safe.

        `rate` (words per minute) overrides the configured rate, e.g. for a slower repeat of a menu.
        """
        text = " ".join((text or "").split())[:MAX_TEXT_CHARS]
        if not text:
            raise ValueError("nothing to say")
        rate = rate or self.rate
        path = self.cached_path(text, rate)
        if wav_is_complete(path):
            return path
        if not self.available:
            problem = self._error or TtsUnavailable(N_("TTS 已关闭"))
            raise TtsUnavailable(problem.message, **problem.params)
        with self._lock:
            future = self._inflight.get(path.name)
            if future is None:
                future = Future()
                self._inflight[path.name] = future
                self._worker.queue.put((text, self.voice, rate, path, future))
        try:
            return future.result(timeout=WAIT_SECONDS)
        except TimeoutError as exc:
            raise TtsUnavailable(N_("语音合成超时")) from exc
        finally:
            with self._lock:
                if future.done():
                    self._inflight.pop(path.name, None)

    def synthesize_prompt(self, prompt_id: str, text: str, rate: int | None = None) -> Path:
        """A recorded human prompt `<prompts_dir>/<prompt_id>.wav` if there is one, else synthetic speech."""
        if self.prompts_dir is not None and prompt_id and "/" not in prompt_id and ".." not in prompt_id:
            recorded = self.prompts_dir / f"{prompt_id}.wav"
            if recorded.is_file():
                return recorded
        return self.synthesize(text, rate=rate)

    def close(self) -> None:
        """Release the shared worker thread (it stops when the last service closes)."""
        if self._closed:
            return
        self._closed = True
        _release_worker()
