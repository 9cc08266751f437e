"""Phone audio conversion in numpy: μ-law codec, WAV parsing, resampling (no audioop)."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from voice.audio import (
    AudioError,
    read_wav,
    resample,
    to_pcm16k,
    to_phone_wav,
    ulaw_decode,
    ulaw_encode,
    wav_pcm16,
    wav_ulaw,
)


def _tone(rate: int, seconds: float = 1.0, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * freq * t) * 12000).astype(np.int16)


def test_ulaw_round_trip_keeps_the_signal() -> None:
    tone = _tone(8000)
    back = ulaw_decode(ulaw_encode(tone))
    error = np.abs(back.astype(np.int32) - tone.astype(np.int32))
    assert error.max() <= 400  # μ-law step at 12 000 is a few hundred
    assert ulaw_encode(np.array([0], dtype=np.int16)) == b"\xff"  # G.711 zero


def test_ulaw_matches_the_g711_reference_values() -> None:
    assert list(ulaw_decode(bytes([0x00, 0x7F, 0x80, 0xFF]))) == [-32124, 0, 32124, 0]


def test_phone_wav_is_8khz_mulaw_and_reads_back() -> None:
    data = to_phone_wav(wav_pcm16(_tone(22050), 22050))
    tag, channels, rate = struct.unpack("<HHI", data[20:28])
    assert (tag, channels, rate) == (7, 1, 8000)
    audio = read_wav(data)
    assert audio.rate == 8000 and abs(audio.seconds - 1.0) < 0.01


def test_phone_audio_is_upsampled_to_16khz_pcm_for_the_recogniser() -> None:
    pcm = to_pcm16k(wav_ulaw(_tone(8000, 2.0), 8000))
    samples = np.frombuffer(pcm, dtype="<i2")
    assert len(samples) == 32000
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * 16000 / len(samples) - 440) < 5  # the tone survives


def test_downsampling_filters_out_what_would_alias() -> None:
    high = _tone(22050, 1.0, freq=6000)  # above 4 kHz: must not fold back into the phone band
    out = resample(high, 22050, 8000)
    assert np.abs(out[50:-50]).max() < 1000  # (filter edges aside) 12 000 → under 1 000


@pytest.mark.parametrize("junk", [b"", b"RIFF", b"RIFF\x00\x00\x00\x00WAVEdata", b"not audio at all"])
def test_garbage_is_an_audio_error(junk: bytes) -> None:
    with pytest.raises(AudioError):
        read_wav(junk)
