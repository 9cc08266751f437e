"""Phone prompts through the real TTS (espeak-ng): 8 kHz μ-law <Play>, recorded files win, <Say> without TTS."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from core.settings import load_settings
from core.tts import TtsService
from tests.integration.voice.conftest import PUBLIC_BASE, signed_post
from voice.audio import read_wav, wav_pcm16
from voice.prompts import is_fixed, load_prompts, prompt_text
from voice.speech import Speaker

WAVE_FORMAT_MULAW = 7


def wav_format(data: bytes) -> tuple[int, int, int, int]:
    """(format tag, channels, sample rate, bits) of a RIFF/WAVE file's fmt chunk."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert struct.unpack("<I", data[4:8])[0] + 8 == len(data)  # complete: declared size matches
    offset = 12
    while offset + 8 <= len(data):
        kind, size = data[offset:offset + 4], struct.unpack("<I", data[offset + 4:offset + 8])[0]
        if kind == b"fmt ":
            tag, channels, rate, _byte_rate, _align, bits = struct.unpack("<HHIIHH", data[offset + 8:offset + 24])
            return tag, channels, rate, bits
        offset += 8 + size + (size & 1)
    raise AssertionError("no fmt chunk")


def tone(seconds: float, rate: int = 16000) -> bytes:
    """A recorded-prompt stand-in: a 440 Hz tone of an exact length."""
    t = np.arange(int(seconds * rate)) / rate
    return wav_pcm16((np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16), rate)


@pytest.fixture
def tts(tmp_path) -> Iterator[TtsService]:
    """The real TTS service (espeak-ng Mandarin) with a private cache and recorded-prompts folder."""
    recorded = tmp_path / "recorded"
    recorded.mkdir()
    settings = load_settings(environ={}, overrides={"data": {"dir": str(tmp_path / "var")},
                                                     "tts": {"prompts_dir": str(recorded)}})
    service = TtsService.from_settings(settings)
    if not service.available:
        service.close()
        pytest.fail(f"espeak-ng TTS should work on this machine: {service.error}")
    yield service
    service.close()


def test_a_prompt_renders_to_8khz_mulaw_phone_audio(tts, tmp_path) -> None:
    """The menu is spoken by espeak-ng and converted to what a phone line plays: mono 8 kHz μ-law."""
    path = Speaker(tts, tmp_path / "phone").phone_audio(prompt_text("menu_keys"), "menu_keys")
    data = path.read_bytes()
    assert wav_format(data) == (WAVE_FORMAT_MULAW, 1, 8000, 8)
    audio = read_wav(data)
    assert audio.rate == 8000 and audio.seconds > 3  # a long menu, really spoken
    assert np.abs(audio.samples.astype(np.int32)).max() > 1000  # not silence


def test_a_recorded_prompt_replaces_the_synthetic_voice(tts, tmp_path) -> None:
    """A human recording named <prompt id>.wav is what callers hear, converted to phone audio."""
    speaker = Speaker(tts, tmp_path / "phone")
    synthetic = read_wav(speaker.phone_audio(prompt_text("greeting_unknown"), "greeting_unknown").read_bytes())
    (tts.prompts_dir / "greeting_unknown.wav").write_bytes(tone(1.5))
    recorded = speaker.phone_audio(prompt_text("greeting_unknown"), "greeting_unknown").read_bytes()
    assert wav_format(recorded) == (WAVE_FORMAT_MULAW, 1, 8000, 8)
    assert read_wav(recorded).seconds == pytest.approx(1.5, abs=0.01) != pytest.approx(synthetic.seconds, abs=0.01)


def test_render_prompts_command_prerenders_every_fixed_prompt(tmp_path) -> None:
    """`xiaoyuan tts render-prompts` renders each prompt without fields; a recorded file wins."""
    recorded = tmp_path / "recorded"
    recorded.mkdir()
    (recorded / "menu_repeat.wav").write_bytes(tone(0.75))
    env = {**os.environ, "XIAOYUAN_DATA_DIR": str(tmp_path / "var"), "XIAOYUAN_CONFIG": "",
           "XIAOYUAN_TTS_PROMPTS_DIR": str(recorded)}
    result = subprocess.run([sys.executable, "-m", "xiaoyuan", "tts", "render-prompts"], env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    output = [line for line in result.stdout.splitlines() if ": " in line and "Audio saved" not in line]
    lines = dict(line.split(": ", 1) for line in output)
    fixed = [pid for pid in load_prompts() if is_fixed(pid)]
    assert sorted(lines) == sorted(fixed)
    folder = tmp_path / "var" / "voice" / "audio"
    for prompt_id in fixed:
        assert wav_format((folder / lines[prompt_id]).read_bytes())[:3] == (WAVE_FORMAT_MULAW, 1, 8000)
    assert read_wav((folder / lines["menu_repeat"]).read_bytes()).seconds == pytest.approx(0.75, abs=0.01)


def _spoken(body: bytes) -> list[ET.Element]:
    root = ET.fromstring(body)
    return [el for el in root.iter() if el.tag in ("Play", "Say")]


def test_the_phone_line_plays_tts_audio_it_can_serve(voice_services, voice_client, world, tts) -> None:
    """With TTS the call hears <Play> of cached phone audio, and /voice/audio serves that file."""
    voice_services.tts = tts
    doc = signed_post(voice_client, "/voice/twilio/incoming",
                      {"CallSid": "CA" + "1" * 32, "From": "+8613900009999", "To": "+15005550006"})
    spoken = _spoken(doc.data)
    assert spoken and all(el.tag == "Play" for el in spoken)
    url = spoken[0].text
    assert url.startswith(f"{PUBLIC_BASE}/voice/audio/")
    served = voice_client.get(url.removeprefix(PUBLIC_BASE))
    try:
        assert served.status_code == 200 and served.mimetype == "audio/wav"
        assert wav_format(served.data)[:3] == (WAVE_FORMAT_MULAW, 1, 8000)
    finally:
        served.close()


def test_without_tts_the_phone_line_says_the_prompt_in_chinese(voice_services, voice_client, world,
                                                                 tmp_path) -> None:
    """TTS unavailable (no such voice): the caller still hears every prompt, through <Say language="zh-CN">."""
    broken = TtsService(voice="no-such-voice", rate=150, cache_dir=tmp_path / "broken", prompts_dir=None)
    try:
        assert not broken.available
        voice_services.tts = broken
        doc = signed_post(voice_client, "/voice/twilio/incoming",
                          {"CallSid": "CA" + "2" * 32, "From": "+8613900009999", "To": "+15005550006"})
    finally:
        broken.close()
    spoken = _spoken(doc.data)
    assert spoken and all(el.tag == "Say" and el.get("language") == "zh-CN" for el in spoken)
    assert any(prompt_text("greeting_unknown") in (el.text or "") for el in spoken)
    assert not list(Path(tmp_path / "broken").glob("*.wav"))
