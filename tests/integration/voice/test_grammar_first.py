"""Grammar-first recognition with the real vosk code and the Korean model from PyPI (espeak-ng Korean speech).

The menu grammar comes from the intent table of the model's language (Korean here, Chinese in the
field); what the grammar cannot vouch for is recognised freely in the background, and the live call
is redirected to the read-back as soon as the result is stored.
"""

from __future__ import annotations

from concurrent.futures import Future

import pytest
import sqlalchemy as sa

from core.db import transaction
from core.models.calls import CallLog, CallRecording
from core.phone.calls import add_recording
from tests.integration.voice.conftest import PUBLIC_BASE, speak_korean
from voice.audio import to_pcm16k
from voice.recognition import run_recognition

WANG = "+8613800000000"
IN_GRAMMAR = {"원장님": "find_head", "일자리": "job", "상담원": "human"}
OUT_OF_GRAMMAR = "오늘 날씨가 정말 좋네요"


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> dict[str, bytes]:
    """Korean phrases spoken by espeak-ng, as 8 kHz μ-law phone recordings."""
    return speak_korean([*IN_GRAMMAR, OUT_OF_GRAMMAR], tmp_path_factory.mktemp("ko-grammar"))


@pytest.fixture
def jobs(asr, monkeypatch) -> list[Future]:
    """Every job handed to the recogniser's pools (so a test can wait for them)."""
    futures: list[Future] = []
    for name in ("submit", "submit_background"):
        original = getattr(asr, name)

        def wrapped(*args, _original=original):
            futures.append(_original(*args))
            return futures[-1]

        monkeypatch.setattr(asr, name, wrapped)
    return futures


def wait_all(futures: list[Future]) -> None:
    """Wait for every job, including ones the first jobs queued."""
    done = 0
    while done < len(futures):
        futures[done].result(timeout=60)
        done += 1


def test_the_menu_grammar_comes_from_the_intent_table_without_unknown_words(asr) -> None:
    grammar = asr.grammar()
    assert asr.language == "ko" and grammar is not None
    assert "원장님" in grammar.phrases and grammar.intents_of("원장님") == {"find_head"}
    assert "도와주세요" in grammar.dropped and not any("도와주세요" in p for p in grammar.phrases)
    assert "[unk]" not in grammar.phrases  # this model has no [unk] word: the verdict must catch nonsense


def test_grammar_first_picks_the_spoken_phrase(asr, speech) -> None:
    for text, intent in IN_GRAMMAR.items():
        match, transcript = asr.grammar_pass(to_pcm16k(speech[text]))
        assert match.intent == intent and text in match.text and match.reason == "ok", transcript


def test_out_of_grammar_speech_is_not_forced_onto_an_intent(asr, speech) -> None:
    match, transcript = asr.grammar_pass(to_pcm16k(speech[OUT_OF_GRAMMAR]))
    assert match.intent is None and transcript.text  # grammar mode did say something: confident nonsense


def test_each_utterance_gets_a_new_recogniser(asr, speech, monkeypatch) -> None:
    made: list[object] = []
    real = asr._vosk.KaldiRecognizer

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args) -> None:
            super().__init__(*args)
            made.append(self)

        def SetGrammar(self, *args):
            raise AssertionError("re-setting a grammar leaks memory in vosk 0.3.45")

    monkeypatch.setattr(asr._vosk, "KaldiRecognizer", Counting)
    pcm = to_pcm16k(speech["원장님"])
    asr.grammar_pass(pcm)
    asr.grammar_pass(pcm)
    asr.transcribe_pcm(pcm)
    assert len(made) == 3 and len({id(r) for r in made}) == 3


def _menu_recording(services, clock, url: str) -> int:
    with transaction(services.session_factory) as s:
        return add_recording(s, now=clock.now(), call_log_id=None, recording_url=url, purpose="menu").id


def test_a_confident_grammar_result_is_stored_without_a_free_pass(asr, speech, jobs, fake_twilio,
                                                                   voice_services, clock):
    voice_services.asr = asr
    rec_id = _menu_recording(voice_services, clock, fake_twilio.add_recording(speech["일자리"]))
    run_recognition(voice_services, rec_id)
    with voice_services.session_factory() as s:
        row = s.get(CallRecording, rec_id)
        assert row.status == "done" and row.text == "일자리" and row.confidence >= 0.6
    assert jobs == []  # no free-mode fallback was queued


def test_out_of_grammar_speech_falls_back_to_free_mode_in_the_background(asr, speech, jobs, fake_twilio,
                                                                         voice_services, clock):
    voice_services.asr = asr
    rec_id = _menu_recording(voice_services, clock, fake_twilio.add_recording(speech[OUT_OF_GRAMMAR]))
    run_recognition(voice_services, rec_id)
    assert len(jobs) == 1  # the free pass is queued on the background pool; the verdict is already stored
    wait_all(jobs)
    with voice_services.session_factory() as s:
        row = s.get(CallRecording, rec_id)
        assert row.status == "done" and row.text and row.error == ""  # the free-mode transcript is kept


def _requests(services) -> list:
    from core.models.requests import Request

    with services.session_factory() as s:
        return list(s.scalars(sa.select(Request)))


def test_a_spoken_menu_choice_redirects_the_live_call_to_the_read_back(asr, speech, jobs, world, call,
                                                                        fake_twilio, voice_services):
    voice_services.asr = asr
    caller = call(WANG)
    caller.post("/voice/twilio/incoming")
    hold = caller.post(f"{PUBLIC_BASE}/voice/twilio/menu/record?tries=1&failures=0", RecordingDuration="2",
                       RecordingUrl=fake_twilio.add_recording(speech["원장님"]))
    assert "正在听您说的话" in hold.spoken and hold.verbs[-2:] == ["Pause", "Redirect"]
    wait_all(jobs)
    [update] = fake_twilio.updates  # the recogniser pushed the result: no waiting for the next poll
    assert update["sid"] == caller.sid and "speech/poll" in update["Url"] and "push=1" in update["Url"]
    doc = caller.post(update["Url"])
    assert "您是要找院长" in doc.spoken
    doc = caller.post(doc.url("Gather"), Digits="1")
    assert doc.first("Dial").text == "+8613900000000"


def test_speech_the_grammar_cannot_place_asks_again_at_once_and_is_never_lost(asr, speech, jobs, world,
                                                                              call, fake_twilio, voice_services):
    voice_services.asr = asr
    caller = call(WANG)
    url = fake_twilio.add_recording(speech[OUT_OF_GRAMMAR])
    caller.post(f"{PUBLIC_BASE}/voice/twilio/menu/record?tries=1&failures=0", RecordingDuration="3", RecordingUrl=url)
    jobs[0].result(timeout=60)  # the grammar pass; the free pass may still be running
    [update] = fake_twilio.updates
    doc = caller.post(update["Url"])
    assert "没有听清楚" in doc.spoken and doc.verbs[0] == "Gather"  # the menu again: keys work
    wait_all(jobs)
    # The second try is not understood either: that recording becomes a request with its free-mode transcript.
    url = fake_twilio.add_recording(speech[OUT_OF_GRAMMAR])
    caller.post(doc.url("Record"), RecordingDuration="3", RecordingUrl=url)
    wait_all(jobs)
    doc = caller.post(fake_twilio.updates[-1]["Url"])
    assert "已经录下来了" in doc.spoken
    wait_all(jobs)
    [req] = _requests(voice_services)
    with voice_services.session_factory() as s:
        entry = s.scalar(sa.select(CallLog))
        recordings = list(s.scalars(sa.select(CallRecording).order_by(CallRecording.id)))
    assert req.recording_url and req.assignee_id == world.users["head_a"].id
    assert recordings[-1].request_id == req.id and recordings[-1].text and entry.request_id == req.id


def test_no_redirect_once_the_call_has_moved_on(asr, speech, jobs, world, call, fake_twilio,
                                                voice_services):
    voice_services.asr = asr
    caller = call(WANG)
    asr_submit = asr.submit
    held: list[tuple] = []
    asr.submit = lambda *args: held.append(args)  # hold the job until the caller has pressed a key
    caller.post(f"{PUBLIC_BASE}/voice/twilio/menu/record?tries=1&failures=0", RecordingDuration="2",
                RecordingUrl=fake_twilio.add_recording(speech["원장님"]))
    caller.post(f"{PUBLIC_BASE}/voice/twilio/menu/key?tries=1&failures=0", Digits="3")  # the caller pressed 3 meanwhile
    asr.submit = asr_submit
    [(func, *args)] = held
    func(*args)
    assert fake_twilio.updates == []
