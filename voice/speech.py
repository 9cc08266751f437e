"""Turning text into what the caller hears: <Play> of cached 8 kHz μ-law audio, or <Say> without TTS.

The core TTS service renders 22,050 Hz WAVs (a recorded human file wins for fixed prompts); this
module converts them once to phone audio in the data dir and names them by content hash.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from typing import Any

from core.private_files import write_private
from voice.audio import AudioError, to_phone_wav
from voice.prompts import is_fixed, prompt_text

log = logging.getLogger(__name__)
SAY_LANGUAGE = "zh-CN"
AUDIO_ROUTE = "/voice/audio/"
RENDER_ATTEMPTS = 3


SLOW_SUFFIX = "_slow"  # a prompt id ending so is spoken slower than the configured rate
SLOW_FACTOR = 0.75


def slow_rate(tts: Any, prompt_id: str | None) -> dict[str, int]:
    """`{"rate": …}` for a slow prompt (three quarters of the engine's rate), else nothing (pure)."""
    rate = getattr(tts, "rate", None)
    if prompt_id and prompt_id.endswith(SLOW_SUFFIX) and isinstance(rate, int) and rate > 0:
        return {"rate": max(60, int(rate * SLOW_FACTOR))}
    return {}


class Speaker:
    """Adds one utterance to a TwiML node: Play when phone audio can be had, Say otherwise."""

    def __init__(self, tts: Any = None, cache_dir: Path | None = None, base_url: str = "") -> None:
        self.tts = tts
        self.cache_dir = cache_dir
        self.base_url = base_url.rstrip("/")
        self._lock = threading.Lock()

    def phone_audio(self, text: str, prompt_id: str | None = None) -> Path | None:
        """The cached phone-quality WAV for this text, rendering it if needed; None when TTS fails."""
        if self.tts is None or self.cache_dir is None:
            return None
        try:
            slow = slow_rate(self.tts, prompt_id)
            if prompt_id and is_fixed(prompt_id):
                source = Path(self.tts.synthesize_prompt(prompt_id, text, **slow))
            else:
                source = Path(self.tts.synthesize(text, **slow))
            stat = source.stat()
            key = hashlib.sha256(f"{source}|{stat.st_mtime_ns}|{stat.st_size}".encode()).hexdigest()[:32]
            target = self.cache_dir / f"{key}.wav"
            if not target.is_file():
                write_private(target, to_phone_wav(source.read_bytes()))  # spoken names and requests
            return target
        except (OSError, AudioError, RuntimeError, ValueError) as exc:  # TtsUnavailable is a RuntimeError/Error
            log.warning("TTS unavailable, using <Say>: %s", type(exc).__name__)
            return None
        except Exception as exc:
            log.warning("TTS failed, using <Say>: %s", type(exc).__name__)
            return None

    def add(self, node: Any, text: str, prompt_id: str | None = None) -> None:
        """Append Play (cached audio) or Say (zh-CN) for `text` to a TwiML node."""
        path = self.phone_audio(text, prompt_id)
        if path is not None:
            node.play(f"{self.base_url}{AUDIO_ROUTE}{path.name}")
        else:
            node.say(text, language=SAY_LANGUAGE)

    def prompt(self, node: Any, prompt_id: str, **fields: object) -> None:
        """Append a prompt from config/prompts by id."""
        self.add(node, prompt_text(prompt_id, "zh", **fields), prompt_id)


def render_all_prompts(tts: Any, cache_dir: Path) -> list[tuple[str, Path | None]]:
    """Pre-render every fixed prompt to phone audio (for `xiaoyuan tts render-prompts`)."""
    from voice.prompts import load_prompts

    speaker = Speaker(tts, cache_dir)
    out = []
    for prompt_id in load_prompts():
        if is_fixed(prompt_id):
            path = None
            for _attempt in range(RENDER_ATTEMPTS):  # espeak-ng now and then ends an utterance with no audio
                path = speaker.phone_audio(prompt_text(prompt_id), prompt_id)
                if path is not None:
                    break
            out.append((prompt_id, path))
    return out
