"""Phone audio in numpy: WAV parsing (PCM16 and μ-law), G.711 μ-law codec, resampling.

The standard library's audioop is deprecated (removed in Python 3.13), so the codec is done here.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np

WAVE_FORMAT_PCM = 1
WAVE_FORMAT_MULAW = 7
_BIAS = 0x84
_CLIP = 32635


class AudioError(ValueError):
    """The bytes are not audio this module can read."""


@dataclass(frozen=True)
class Audio:
    """Mono 16-bit samples and their sample rate."""

    samples: np.ndarray  # int16
    rate: int

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return len(self.samples) / self.rate if self.rate else 0.0


def ulaw_decode(data: bytes) -> np.ndarray:
    """G.711 μ-law bytes → int16 samples."""
    u = ~np.frombuffer(data, dtype=np.uint8)
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = ((mantissa.astype(np.int32) << 3) + _BIAS) << exponent
    return np.where(sign != 0, _BIAS - magnitude, magnitude - _BIAS).astype(np.int16)


def ulaw_encode(samples: np.ndarray) -> bytes:
    """int16 samples → G.711 μ-law bytes."""
    x = samples.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(x), _CLIP) + _BIAS
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def read_wav(data: bytes) -> Audio:
    """Parse a RIFF WAV (PCM 8/16-bit or μ-law, any channels: mixed to mono)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError("not a RIFF/WAVE file")
    pos, fmt, payload = 12, None, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if chunk_id == b"fmt ":
            if len(body) < 16:
                raise AudioError("short fmt chunk")
            fmt = struct.unpack("<HHIIHH", body[:16])
        elif chunk_id == b"data":
            payload = body
            break
        pos += 8 + size + (size & 1)
    if fmt is None or payload is None:
        raise AudioError("WAV without fmt or data chunk")
    tag, channels, rate, _, _, bits = fmt
    if tag == WAVE_FORMAT_MULAW:
        samples = ulaw_decode(payload)
    elif tag == WAVE_FORMAT_PCM and bits == 16:
        samples = np.frombuffer(payload[: len(payload) // 2 * 2], dtype="<i2").astype(np.int16)
    elif tag == WAVE_FORMAT_PCM and bits == 8:
        samples = ((np.frombuffer(payload, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    else:
        raise AudioError(f"unsupported WAV format tag={tag} bits={bits}")
    if channels > 1:
        samples = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(axis=1).astype(np.int16)
    if rate <= 0:
        raise AudioError("WAV with no sample rate")
    return Audio(samples, rate)


def _lowpass(samples: np.ndarray, cutoff: float, taps: int = 63) -> np.ndarray:
    """A windowed-sinc low-pass; `cutoff` is a fraction of the sample rate (0 < cutoff < 0.5)."""
    n = np.arange(taps) - (taps - 1) / 2
    kernel = np.sinc(2 * cutoff * n) * np.hamming(taps)
    kernel /= kernel.sum()
    return np.convolve(samples.astype(np.float64), kernel, mode="same")


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Linear-interpolation resampling, low-passed first when the rate goes down."""
    if src_rate == dst_rate or len(samples) == 0:
        return samples.astype(np.int16)
    signal = samples.astype(np.float64)
    if dst_rate < src_rate:
        signal = _lowpass(signal, 0.45 * dst_rate / src_rate)
    count = int(round(len(signal) * dst_rate / src_rate))
    positions = np.arange(count) * (src_rate / dst_rate)
    out = np.interp(positions, np.arange(len(signal)), signal)
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def to_pcm16k(data: bytes) -> bytes:
    """Any supported WAV (phone μ-law 8 kHz included) → raw 16-bit little-endian PCM at 16 kHz."""
    audio = read_wav(data)
    return resample(audio.samples, audio.rate, 16000).astype("<i2").tobytes()


def _wav_bytes(tag: int, rate: int, bits: int, payload: bytes) -> bytes:
    block = bits // 8
    fmt = struct.pack("<HHIIHH", tag, 1, rate, rate * block, block, bits)
    if tag == WAVE_FORMAT_MULAW:
        fmt += struct.pack("<H", 0)  # cbSize: non-PCM formats carry it
    out = io.BytesIO()
    fact = b"fact" + struct.pack("<II", 4, len(payload)) if tag != WAVE_FORMAT_PCM else b""
    riff_size = 4 + (8 + len(fmt)) + len(fact) + (8 + len(payload)) + (len(payload) & 1)
    out.write(b"RIFF" + struct.pack("<I", riff_size) + b"WAVE")
    out.write(b"fmt " + struct.pack("<I", len(fmt)) + fmt + fact)
    out.write(b"data" + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) & 1 else b""))
    return out.getvalue()


def wav_pcm16(samples: np.ndarray, rate: int) -> bytes:
    """Mono 16-bit PCM WAV bytes."""
    return _wav_bytes(WAVE_FORMAT_PCM, rate, 16, samples.astype("<i2").tobytes())


def wav_ulaw(samples: np.ndarray, rate: int = 8000) -> bytes:
    """Mono μ-law WAV bytes (what a phone line carries)."""
    return _wav_bytes(WAVE_FORMAT_MULAW, rate, 8, ulaw_encode(samples))


def to_phone_wav(data: bytes) -> bytes:
    """Any supported WAV (e.g. 22,050 Hz TTS output) → 8 kHz μ-law WAV for <Play>."""
    audio = read_wav(data)
    return wav_ulaw(resample(audio.samples, audio.rate, 8000), 8000)
