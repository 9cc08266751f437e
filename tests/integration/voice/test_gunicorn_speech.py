"""The gunicorn app (`xiaoyuan.wsgi:create_app()`) offers speech on the phone line like `xiaoyuan web` does."""

from __future__ import annotations

import os

from core.db import transaction
from tests.factories import build_world
from tests.integration.voice.conftest import LINE_NUMBER, PUBLIC_BASE, Caller, korean_model_dir
from tests.integration.voice.fake_twilio import ACCOUNT_SID, AUTH_TOKEN
from voice.asr import VoskAsr
from xiaoyuan.bootstrap import close_services

WANG = "+8613800000000"  # 王奶奶 in the test world


def test_gunicorn_app_has_speech_recognition_with_a_configured_model(monkeypatch, tmp_path, db_url, fake_twilio,
                                                                    clock):
    """Configured as README's deployment does (environment only), the gunicorn app loads the vosk model and
    the menu asks callers to say what they need (it once ran keypad-only without a word in any log)."""
    from xiaoyuan import wsgi

    for key in [k for k in os.environ if k.startswith("XIAOYUAN_")]:
        monkeypatch.delenv(key)
    for key, value in {
        "XIAOYUAN_DATABASE_URL": db_url, "XIAOYUAN_DATA_DIR": str(tmp_path / "var"),
        "XIAOYUAN_PUBLIC_BASE_URL": PUBLIC_BASE, "XIAOYUAN_TELEPHONY_PROVIDER": "twilio",
        "XIAOYUAN_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "XIAOYUAN_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "XIAOYUAN_TWILIO_FROM_NUMBER": LINE_NUMBER, "XIAOYUAN_TWILIO_API_BASE": fake_twilio.url,
        "XIAOYUAN_VOSK_MODEL": korean_model_dir(),
    }.items():
        monkeypatch.setenv(key, value)
    app = wsgi.create_app()
    services = app.extensions["xiaoyuan"]
    try:
        assert isinstance(services.asr, VoskAsr)
        with transaction(services.session_factory) as session:
            build_world(session, clock.now())
        spoken: list[str] = []
        if services.tts is not None:  # prompts become <Play> audio: note which ones were rendered
            render = services.tts.synthesize_prompt
            monkeypatch.setattr(services.tts, "synthesize_prompt",
                                lambda prompt_id, text: (spoken.append(prompt_id), render(prompt_id, text))[1])
        doc = Caller(app.test_client(), "CA" + "7" * 32, WANG).post("/voice/twilio/incoming")
        said = spoken if doc.all("Play") else [doc.spoken]
        assert "menu_speech" in said or "请直接说出您要办的事" in doc.spoken, doc.raw
        assert "menu_keys" not in said, doc.raw
    finally:
        close_services(services)
