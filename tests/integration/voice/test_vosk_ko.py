"""The real vosk code path (load, convert, stream, grammar mode, pool) with the Korean model from PyPI.

Chinese models cannot be installed from the registries here; understanding Chinese is tested on
transcripts (tests/unit/voice/test_intents.py). Audio is synthesised with espeak-ng Korean.
"""

from __future__ import annotations

import pytest

from core.settings import load_settings
from tests.integration.voice.conftest import korean_model_dir, speak_korean
from voice.asr import make_asr
from voice.audio import read_wav

MODEL_DIR = korean_model_dir()
PHRASES = ["안녕하세요", "감사합니다", "도와주세요"]


@pytest.fixture(scope="module")
def phone_audio(tmp_path_factory) -> dict[str, bytes]:
    """Each phrase spoken by espeak-ng, converted to 8 kHz μ-law like a phone recording."""
    return speak_korean(PHRASES, tmp_path_factory.mktemp("ko"))


def test_speech_is_disabled_without_a_model_path(settings) -> None:
    assert make_asr(settings) is None
    missing = settings.model_copy(update={"vosk": settings.vosk.model_copy(update={"model": "/nonexistent/model"})})
    assert make_asr(missing) is None


def test_the_model_loads_from_the_configured_path(tmp_path) -> None:
    settings = load_settings(environ={"XIAOYUAN_VOSK_MODEL": MODEL_DIR, "XIAOYUAN_VOSK_WORKERS": "1"},
                             overrides={"data": {"dir": str(tmp_path)}})
    engine = make_asr(settings)
    try:
        assert engine is not None and engine.workers == 1
        assert engine.known_words(["안녕하세요", "zzzqqq"]) == ["안녕하세요"]
    finally:
        engine.close()


def test_a_deferred_model_loads_on_first_use(tmp_path) -> None:
    """Roles that never take calls keep the recogniser without holding the model in memory."""
    settings = load_settings(environ={"XIAOYUAN_VOSK_MODEL": MODEL_DIR, "XIAOYUAN_VOSK_WORKERS": "1"},
                             overrides={"data": {"dir": str(tmp_path)}})
    engine = make_asr(settings, preload=False)
    try:
        assert engine is not None and engine.load_seconds is None
        assert engine.known_words(["안녕하세요"]) == ["안녕하세요"]
        assert engine.load_seconds is not None and engine.language == "ko"
    finally:
        engine.close()


def test_grammar_mode_picks_the_spoken_phrase_from_phone_audio(asr, phone_audio) -> None:
    assert read_wav(phone_audio["안녕하세요"]).rate == 8000
    hits = 0
    for phrase, audio in phone_audio.items():
        result = asr.transcribe_wav(audio, grammar=PHRASES)
        hits += phrase in result.text
        assert 0.0 <= result.confidence <= 1.0
    assert hits >= 2  # synthetic Korean voice: most, not necessarily all


def test_free_mode_streams_and_returns_words_with_confidence(asr, phone_audio) -> None:
    result = asr.transcribe_wav(phone_audio["감사합니다"])
    assert result.text and result.words and result.seconds > 0.5
    assert all("conf" in word for word in result.words)


def test_recognitions_run_in_the_pool_concurrently(asr, phone_audio) -> None:
    futures = [asr.submit(asr.transcribe_wav, audio, PHRASES) for audio in phone_audio.values()]
    texts = [f.result(timeout=60).text for f in futures]
    assert len(texts) == len(PHRASES) and sum(bool(t) for t in texts) == len(PHRASES)


def test_a_call_recording_is_fetched_converted_and_transcribed(asr, phone_audio, fake_twilio, voice_services,
                                                               clock):
    from core.db import transaction
    from core.models.calls import CallRecording
    from core.phone.calls import add_recording
    from voice.recognition import run_recognition

    voice_services.asr = asr
    url = fake_twilio.add_recording(phone_audio["도와주세요"])
    with transaction(voice_services.session_factory) as s:
        rec_id = add_recording(s, now=clock.now(), call_log_id=None, recording_url=url).id
    run_recognition(voice_services, rec_id)
    with voice_services.session_factory() as s:
        row = s.get(CallRecording, rec_id)
        assert row.status == "done" and row.text and row.error == ""
        assert (voice_services.settings.data_dir / row.local_file).read_bytes() == phone_audio["도와주세요"]
