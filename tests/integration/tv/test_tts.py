"""The TTS service with the real espeak-ng: complete WAVs, cache by content, threads, prompts, honest errors."""

from __future__ import annotations

import threading
import wave

import pytest

from core.tts import TtsService, TtsUnavailable, wav_is_complete


@pytest.fixture
def tts(settings):
    service = TtsService.from_settings(settings)
    if not service.available:
        service.close()
        pytest.fail(f"espeak-ng must be installed for these tests: {service.error}")
    yield service
    service.close()


def test_synthesize_writes_a_complete_mandarin_wav_and_caches_it(tts, settings):
    path = tts.synthesize("您好，取货码是 1 2 3 4")
    assert path.parent == settings.data_dir / "audio"
    assert wav_is_complete(path)
    with wave.open(str(path)) as wav:
        assert wav.getframerate() == 22050 and wav.getnchannels() == 1
        assert wav.getnframes() / wav.getframerate() > 1.0
    stamp = path.stat().st_mtime_ns
    assert tts.synthesize("您好，取货码是 1 2 3 4") == path
    assert path.stat().st_mtime_ns == stamp  # served from the cache
    assert tts.synthesize("另一句话") != path


def test_callers_on_many_threads_share_one_worker(tts):
    results: list = []
    lock = threading.Lock()

    def speak(i: int) -> None:
        path = tts.synthesize(f"第 {i % 4} 条通知")
        with lock:
            results.append(path)

    threads = [threading.Thread(target=speak, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 16 and len(set(results)) == 4
    assert all(wav_is_complete(p) for p in results)


def test_recorded_prompt_replaces_synthetic_speech(tts, tmp_path):
    tts.prompts_dir = tmp_path
    recorded = tmp_path / "welcome.wav"
    with wave.open(str(recorded), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\0\0" * 800)
    assert tts.synthesize_prompt("welcome", "欢迎") == recorded
    assert tts.synthesize_prompt("other", "欢迎") == tts.cached_path("欢迎")


def test_unknown_voice_is_reported_honestly(tmp_path):
    service = TtsService(voice="zh", rate=140, cache_dir=tmp_path)
    try:
        assert service.available is False and "zh" in service.error
        with pytest.raises(TtsUnavailable):
            service.synthesize("你好")
    finally:
        service.close()
