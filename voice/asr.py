"""Offline speech recognition with vosk: one model per process, one recogniser per utterance.

Recognition runs in thread pools sized to the cores (vosk's C calls release the GIL), never in a
webhook. Menu answers are recognised grammar-first: a phrase list compiled from the intent table
(≈20× faster than free mode); free mode runs only when the grammar finds no single confident intent,
on a separate background pool so it never delays another caller's grammar pass. `make_asr(settings)`
returns None when no model is configured: the phone line then works by keypad and recorded messages.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voice.audio import to_pcm16k
from voice.intents import grammar_languages, grammar_table

log = logging.getLogger(__name__)
SAMPLE_RATE = 16000
CHUNK_BYTES = 32000  # 1 s of 16-bit 16 kHz audio per feed (chunk size does not change vosk's speed)
UNK = "[unk]"
MIN_GRAMMAR_CONFIDENCE = 0.6  # mean confidence of the intent words a grammar result needs
NOISE_CONFIDENCE = 0.5  # a grammar word heard less surely than this is noise: it neither votes nor vetoes
MAX_WORD_CHARS = 4  # longest Chinese model word tried when splitting a phrase
_HAN_RUN = re.compile(r"[\u4e00-\u9fff]+")


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


def split_phrase(phrase: str, known: Callable[[str], bool]) -> tuple[list[str], list[str]]:
    """A phrase as model words, and the words the model does not know (which are dropped).

    Space-separated tokens the model knows are kept whole; Chinese runs are split greedily into the
    longest known words (垃圾桶满了 → 垃圾桶 满 了); an unknown character or token is dropped.
    """
    words: list[str] = []
    dropped: list[str] = []
    for token in phrase.split():
        if known(token):
            words.append(token)
            continue
        if not _HAN_RUN.fullmatch(token):
            dropped.append(token)
            continue
        index = 0
        while index < len(token):
            for size in range(min(MAX_WORD_CHARS, len(token) - index), 0, -1):
                piece = token[index:index + size]
                if known(piece):
                    words.append(piece)
                    index += size
                    break
            else:
                dropped.append(token[index])
                index += 1
    return words, dropped


@dataclass(frozen=True)
class Grammar:
    """A phrase list compiled for one model: what vosk gets, and which intent each model word points to."""

    phrases: tuple[str, ...]
    word_intents: Mapping[str, frozenset[str]]  # model word → intents whose phrases contain it; fillers absent
    dropped: tuple[str, ...] = ()  # words of the table the model does not know

    def intents_of(self, word: str) -> frozenset[str]:
        """The intents a recognised word points to (empty for fillers and [unk])."""
        return self.word_intents.get(word, frozenset())


def compile_grammar(table: Mapping[str, Sequence[str]], known: Callable[[str], bool],
                    fillers: Sequence[str] = ()) -> Grammar:
    """Phrase list from an intent table: phrases split into known words, unknown words dropped, [unk] added."""
    phrases: dict[str, None] = {}
    dropped: dict[str, None] = {}
    word_intents: dict[str, set[str]] = {}
    filler_words: set[str] = set()
    for intent, intent_phrases in table.items():
        for phrase in intent_phrases:
            words, missing = split_phrase(phrase, known)
            dropped.update(dict.fromkeys(missing))
            if words:
                phrases[" ".join(words)] = None
                for word in words:
                    word_intents.setdefault(word, set()).add(intent)
    for phrase in fillers:
        words, missing = split_phrase(phrase, known)
        dropped.update(dict.fromkeys(missing))
        if words:
            phrases[" ".join(words)] = None
            filler_words.update(words)
    if known(UNK):
        phrases[UNK] = None
    return Grammar(phrases=tuple(phrases), dropped=tuple(dropped),
                   word_intents={w: frozenset(i) for w, i in word_intents.items() if w not in filler_words})


@dataclass(frozen=True)
class GrammarMatch:
    """The verdict on a grammar-mode result: one intent heard confidently, or why not (then free mode runs)."""

    intent: str | None
    text: str
    confidence: float
    reason: str  # "ok", "empty", "unk", "no_intent", "ambiguous", "low_confidence"


def judge_grammar(grammar: Grammar, transcript: Transcript, min_confidence: float = MIN_GRAMMAR_CONFIDENCE,
                  ) -> GrammarMatch:
    """Accept a grammar result only when its words point to exactly one intent with enough confidence.

    Grammar mode forces any speech onto the list ("confident nonsense"): out-of-list speech typically
    comes back as [unk], only fillers, or words of several unrelated intents — all rejected here.
    """
    words = [w for w in transcript.words if w.get("word")]
    heard = [w for w in words if w["word"] != UNK]
    text = " ".join(w["word"] for w in heard) or transcript.text.replace(UNK, "").strip()
    if not heard:
        return GrammarMatch(None, text, 0.0, "unk" if words else "empty")
    if len(heard) * 2 < len(words):
        return GrammarMatch(None, text, _mean_conf(heard), "unk")
    pointing = [w for w in heard if len(grammar.intents_of(w["word"])) == 1
                and float(w.get("conf", 0.0)) >= NOISE_CONFIDENCE]
    intents = {next(iter(grammar.intents_of(w["word"]))) for w in pointing}
    if not intents:
        low = any(grammar.intents_of(w["word"]) for w in heard)
        return GrammarMatch(None, text, _mean_conf(heard), "low_confidence" if low else "no_intent")
    if len(intents) > 1:
        return GrammarMatch(None, text, _mean_conf(heard), "ambiguous")
    confidence = _mean_conf(pointing)
    if confidence < min_confidence:
        return GrammarMatch(None, text, confidence, "low_confidence")
    return GrammarMatch(intents.pop(), text, confidence, "ok")


def detect_language(known: Callable[[str], bool]) -> str | None:
    """The grammar language whose table words the model knows best (None if it knows none)."""
    best, best_share = None, 0.0
    for language in grammar_languages():
        table, _ = grammar_table(language)
        words = {w for phrases in table.values() for p in phrases for w in p.split()}
        share = sum(known(w) for w in words) / len(words) if words else 0.0
        if share > best_share:
            best, best_share = language, share
    return best


class VoskAsr:
    """A vosk model plus a worker pool.

    With preload=False the model (0.5–1.3 GB of RAM) is loaded on first use: the listener and worker
    roles carry the same services as the web roles but never recognise speech, so they never pay for it.
    """

    def __init__(self, model_path: str | Path, *, workers: int | None = None, timeout_s: float = 20.0,
                 language: str | None = None, preload: bool = True) -> None:
        import vosk

        path = Path(model_path)
        if not path.is_dir():
            raise AsrUnavailable(f"vosk model directory not found: {path}")
        vosk.SetLogLevel(-1)
        self._vosk = vosk
        self.model_path = path
        self.load_seconds: float | None = None
        self.timeout_s = timeout_s
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="vosk")
        # Free-mode fallbacks and message transcripts get their own pool: grammar passes never queue behind them.
        self._background = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="vosk-bg")
        self._closed = threading.Event()
        self._grammar_lock = threading.Lock()
        self._grammars: dict[str, Grammar] = {}
        self._load_lock = threading.RLock()
        self._model: Any = None
        self._language = language
        if preload:
            self._load()
        else:
            log.info("vosk model %s configured; it loads on first use", path.name)

    def _load(self) -> Any:
        with self._load_lock:
            if self._model is None:
                started = time.monotonic()
                # never Model(lang=...): that downloads from the internet
                self._model = self._vosk.Model(str(self.model_path))
                self.load_seconds = time.monotonic() - started
                if self._language is None:
                    self._language = detect_language(self.knows)
                log.info("vosk model %s (%s) loaded in %.1fs, %d workers", self.model_path.name,
                         self._language or "?", self.load_seconds, self.workers)
            return self._model

    @property
    def model(self) -> Any:
        """The loaded vosk Model (loaded now if it was not preloaded)."""
        return self._model if self._model is not None else self._load()

    @property
    def language(self) -> str | None:
        """The grammar language detected from the model's vocabulary (or the one given)."""
        if self._model is None:
            self._load()
        return self._language

    def knows(self, word: str) -> bool:
        """Whether the model's vocabulary has this word."""
        return self.model.vosk_model_find_word(word) >= 0

    def known_words(self, words: Sequence[str]) -> list[str]:
        """The words the model's vocabulary contains (grammar mode silently drops the others)."""
        return [w for w in words if self.model.vosk_model_find_word(w) >= 0]

    def grammar(self) -> Grammar | None:
        """The menu grammar for this model's language (compiled once; None when the language has no table)."""
        if self.language is None:
            return None
        with self._grammar_lock:
            if self.language not in self._grammars:
                table, fillers = grammar_table(self.language)
                compiled = compile_grammar(table, self.knows, fillers)
                if compiled.dropped:
                    log.info("grammar: %d words unknown to the model dropped", len(compiled.dropped))
                self._grammars[self.language] = compiled
            grammar = self._grammars[self.language]
        return grammar if grammar.word_intents else None

    def recogniser(self, grammar: Sequence[str] | None = None, *, words: bool = True) -> Any:
        """A fresh recogniser (re-setting a grammar on one leaks memory in vosk 0.3.45)."""
        if grammar:
            # Words outside the vocabulary are silently dropped by vosk: keep only the words it can say.
            phrases = [" ".join(split_phrase(p, self.knows)[0]) for p in grammar if p and p != UNK]
            phrases = list(dict.fromkeys(p for p in phrases if p))
            if not phrases:
                raise AsrUnavailable("no grammar phrase is in the model's vocabulary")
            phrases += [UNK] if self.knows(UNK) else []
            rec = self._vosk.KaldiRecognizer(self.model, SAMPLE_RATE, json.dumps(phrases, ensure_ascii=False))
        else:
            rec = self._vosk.KaldiRecognizer(self.model, SAMPLE_RATE)
        rec.SetWords(words)
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

    def grammar_pass(self, pcm: bytes) -> tuple[GrammarMatch, Transcript] | None:
        """Recognise 16 kHz PCM against the menu grammar with a new recogniser; None without a grammar."""
        grammar = self.grammar()
        if grammar is None:
            return None
        transcript = self.transcribe_pcm(pcm, grammar.phrases)
        return judge_grammar(grammar, transcript), transcript

    def submit(self, func: Callable[..., Any], *args: Any) -> Future:
        """Run work a caller is waiting for (fetch + grammar pass + store) on the recognition pool."""
        if self._closed.is_set():
            raise AsrUnavailable("speech recognition is shut down")
        return self._pool.submit(func, *args)

    def submit_background(self, func: Callable[..., Any], *args: Any) -> Future:
        """Run work nobody waits on (free-mode fallbacks, message transcripts) on the background pool."""
        if self._closed.is_set():
            raise AsrUnavailable("speech recognition is shut down")
        return self._background.submit(func, *args)

    def close(self) -> None:
        """Stop accepting work and wait for running recognitions."""
        self._closed.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._background.shutdown(wait=True, cancel_futures=True)


def make_asr(settings: Any, *, preload: bool = True) -> VoskAsr | None:
    """The process's recogniser from settings.vosk.model, or None (speech disabled, with a loud warning).

    preload=False defers loading the model to its first use (roles that never take calls)."""
    model = settings.vosk.model
    if not model:
        log.warning("speech recognition disabled: set XIAOYUAN_VOSK_MODEL to an unpacked vosk model directory")
        return None
    try:
        return VoskAsr(model, workers=settings.vosk.workers or None, timeout_s=settings.vosk.timeout_s,
                       preload=preload)
    except AsrUnavailable as exc:
        log.warning("speech recognition disabled: %s", exc)
        return None
