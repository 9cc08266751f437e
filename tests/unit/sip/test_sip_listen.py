"""When a spoken answer on a SIP call ends: the silence timer, and the earlier end of a settled menu answer."""

from __future__ import annotations

import json
import queue
import threading
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("pjsua2")

from voice.asr import Grammar
from voice.sip.listen import CallListener
from voice.sip.media import FRAME_MS, FRAME_SAMPLES, SILENCE

LOUD = (np.sin(np.arange(FRAME_SAMPLES) / 3) * 8000).astype("<i2").tobytes()
GRAMMAR = Grammar(phrases=("일자리", "포인트", "네", "[unk]"),
                  word_intents={"일자리": frozenset({"job"}), "포인트": frozenset({"points"})})


class FakeRecogniser:
    """A grammar recogniser whose partial result the test sets; it never reports vosk's own endpoint."""

    def __init__(self) -> None:
        self.partial = ""

    def AcceptWaveform(self, data: bytes) -> bool:
        return False

    def PartialResult(self) -> str:
        return json.dumps({"partial": self.partial})

    def FinalResult(self) -> str:
        words = [{"word": w, "conf": 1.0} for w in self.partial.split()]
        return json.dumps({"text": self.partial, "result": words})


class FakeAsr:
    def __init__(self) -> None:
        self.made: list[FakeRecogniser] = []

    def grammar(self) -> Grammar:
        return GRAMMAR

    def recogniser(self, phrases: object) -> FakeRecogniser:
        self.made.append(FakeRecogniser())
        return self.made[-1]


def listening(end_stable_ms: int, grammar: bool = True) -> tuple[CallListener, FakeAsr, float]:
    handle = SimpleNamespace(id="call-0000test", events=queue.Queue(), ended=threading.Event())
    asr = FakeAsr()
    listener = CallListener(handle, asr, end_silence_ms=600, end_stable_ms=end_stable_ms)  # type: ignore[arg-type]
    listener.listen(purpose="menu", grammar=grammar, no_speech_s=5, max_s=10)
    assert listener._capture is not None
    return listener, asr, listener._capture.started


def speak_then_quiet(listener: CallListener, asr: FakeAsr, start: float, partial: str, quiet_ms: int) -> str:
    """1 s of speech (the partial result settles during it), then quiet; the verdict, or "" if still listening."""
    clock = start
    for index in range(50):
        if index == 10:
            asr.made[-1].partial = partial
        clock += FRAME_MS / 1000
        listener._frame(LOUD, clock)
    for _ in range(quiet_ms // FRAME_MS):
        clock += FRAME_MS / 1000
        listener._frame(SILENCE, clock)
    if listener._capture is not None:
        return ""
    return listener.handle.events.get_nowait()[1].ended_by


def test_a_settled_menu_answer_that_names_one_intent_ends_after_the_short_silence():
    listener, asr, start = listening(end_stable_ms=300)
    assert speak_then_quiet(listener, asr, start, "일자리", quiet_ms=280) == ""  # not yet
    listener, asr, start = listening(end_stable_ms=300)
    assert speak_then_quiet(listener, asr, start, "일자리", quiet_ms=320) == "stable"


@pytest.mark.parametrize("partial", ["일자리 포인트", "[unk]", "네", ""])
def test_an_answer_not_yet_naming_one_intent_waits_for_the_full_silence(partial):
    listener, asr, start = listening(end_stable_ms=300)
    assert speak_then_quiet(listener, asr, start, partial, quiet_ms=580) == ""
    listener, asr, start = listening(end_stable_ms=300)
    assert speak_then_quiet(listener, asr, start, partial, quiet_ms=620) == "silence"


def test_a_partial_result_still_changing_is_not_settled():
    listener, asr, start = listening(end_stable_ms=300)
    assert speak_then_quiet(listener, asr, start, "네", quiet_ms=200) == ""
    asr.made[-1].partial = "네 일자리"  # the decoder catches up after the caller went quiet
    clock = start + 1.2
    for _ in range(5):  # 300 ms of quiet, but the answer changed just now: not settled yet
        clock += FRAME_MS / 1000
        listener._frame(SILENCE, clock)
    assert listener._capture is not None
    for _ in range(5):  # 400 ms: unchanged over a feed, well before the 600 ms timer
        clock += FRAME_MS / 1000
        listener._frame(SILENCE, clock)
    assert listener._capture is None
    assert listener.handle.events.get_nowait()[1].ended_by == "stable"


def test_zero_turns_the_early_end_off_and_free_speech_never_ends_early():
    listener, asr, start = listening(end_stable_ms=0)
    assert speak_then_quiet(listener, asr, start, "일자리", quiet_ms=580) == ""
    listener, asr, start = listening(end_stable_ms=300, grammar=False)
    assert speak_then_quiet(listener, asr, start, "일자리", quiet_ms=580) == ""


def test_the_utterance_carries_when_its_end_was_decided_and_recognised():
    listener, asr, start = listening(end_stable_ms=300)
    speak_then_quiet(listener, asr, start, "일자리", quiet_ms=620)
    # speak_then_quiet consumed the event above; run once more and look at the timings
    listener, asr, start = listening(end_stable_ms=300)
    clock = start
    for index in range(50):
        if index == 10:
            asr.made[-1].partial = "일자리"
        clock += FRAME_MS / 1000
        listener._frame(LOUD, clock)
    last_loud = clock
    for _ in range(20):
        clock += FRAME_MS / 1000
        listener._frame(SILENCE, clock)
    utterance = listener.handle.events.get_nowait()[1]
    assert utterance.speech_end_at == last_loud
    assert utterance.match is not None and utterance.match.intent == "job"
    assert utterance.decided_at is not None and utterance.recognised_at is not None
    assert utterance.decided_at <= utterance.recognised_at


def test_a_new_read_back_is_played_clause_by_clause_and_a_cached_one_whole(tmp_path):
    from voice.sip.driver import PcmPrompts, clauses

    sentence = "您是说：要卖20斤花椒，对吗？对请按1，不对请按2。"
    assert clauses(sentence) == ["您是说：", "要卖20斤花椒，", "对吗？", "对请按1，", "不对请按2。"]
    assert clauses("您是说：啊，对吗？") == ["您是说：啊，", "对吗？"]  # a one-character clause stays joined
    assert clauses("好的") == ["好的"]

    class Tts:
        def cached_path(self, text: str):
            return tmp_path / f"{len(text)}.wav"

    prompts = PcmPrompts(SimpleNamespace(tts=Tts()))  # type: ignore[arg-type]
    assert prompts.pieces(sentence, None) == clauses(sentence)
    assert prompts.pieces(sentence, "menu") == [sentence]  # fixed prompts: one piece
    (tmp_path / f"{len(sentence)}.wav").write_bytes(b"RIFF")
    assert prompts.pieces(sentence, None) == [sentence]  # rendered whole before: played whole


def test_the_first_clause_plays_while_the_next_is_still_being_rendered():
    from voice.sip.driver import GAP, CallDriver
    from voice.sip.media import FRAME_BYTES, Playback

    first_out = threading.Event()
    pcm = {"您是说：": b"\x01\x00" * 800, "要卖花椒，": b"\x02\x00" * 800, "对吗？": b"\x03\x00" * 800}

    class Prompts:
        def pcm(self, text: str, prompt_id: object) -> bytes:
            if text == "要卖花椒，":
                assert first_out.wait(10)  # rendering the caller's words takes until the lead-in is heard
            return pcm[text]

    handle = SimpleNamespace(id="call-0000test", events=queue.Queue(), ended=threading.Event(), tx=Playback())
    driver = object.__new__(CallDriver)
    driver.handle, driver.prompts, driver.timeline, driver._stages, driver.stages = handle, Prompts(), [], None, []
    heard = bytearray()
    done = threading.Event()

    def clock() -> None:  # the media clock thread: takes 20 ms frames as fast as it can
        while not done.is_set():
            frame = handle.tx.read_frame()
            if frame != SILENCE:
                heard.extend(frame)
                first_out.set()

    reader = threading.Thread(target=clock, daemon=True)
    reader.start()
    assert driver._play_pieces(list(pcm), keys=False, speech=False) is None
    done.set()
    reader.join(5)
    expected = b"".join(pcm.values())
    assert bytes(heard[:len(expected)]) == expected  # in order, nothing lost
    assert len(heard) <= len(expected) + len(GAP) + FRAME_BYTES


def test_listening_while_the_caller_already_speaks_is_safe_against_the_media_worker():
    """Regression: listen() copied the pre-roll while the media worker appended to it ("deque mutated")."""
    listener, asr, start = listening(end_stable_ms=300, grammar=False)
    listener.cancel()
    stop = threading.Event()

    def media_worker() -> None:
        clock = start
        while not stop.is_set():
            clock += FRAME_MS / 1000
            listener._frame(LOUD, clock)

    worker = threading.Thread(target=media_worker, daemon=True)
    worker.start()
    try:
        for _ in range(3000):
            listener.listen(purpose="menu", grammar=False, no_speech_s=5, max_s=600)
            listener.cancel()
    finally:
        stop.set()
        worker.join(5)
