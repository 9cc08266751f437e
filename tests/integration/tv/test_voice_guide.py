"""语音导读 on the TV: switched per box and remembered; the clip endpoint speaks only for a paired box with it on."""

from __future__ import annotations

import wave
from io import BytesIO

import pytest

from core.tts import TtsService
from tests.integration.tv.conftest import pair_client


def _text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def speaking(services, settings):
    """The real espeak-ng TTS on the services (the TV's audio views use it)."""
    services.tts = TtsService.from_settings(settings)
    if not services.tts.available:
        services.tts.close()
        pytest.fail(f"espeak-ng must be installed for these tests: {services.tts.error}")
    yield services.tts
    services.tts.close()
    services.tts = None


def _switch(client, on: bool, back: str = ""):
    return client.post("/tv/voice", data={"t": client.tv_token, "on": "1" if on else "0", "back": back})


def test_guide_is_off_by_default_and_leaves_pages_untouched(tv_client):
    home = _text(tv_client.get("/tv/"))
    assert 'id="tile-voice"' in home and "语音导读" in home and "现在关着" in home
    assert "data-say" not in home  # neither the clip URL nor the spoken intro
    assert "data-say" not in _text(tv_client.get("/tv/ranking"))


def test_guide_switched_on_is_remembered_for_this_box_only(tv_client, app, services, world_ids):
    response = _switch(tv_client, True)
    assert response.status_code == 302 and response.headers["Location"].endswith("f=tile-voice")
    home = _text(tv_client.get("/tv/"))
    assert 'data-say="/tv/say"' in home and "现在开着" in home
    assert 'data-say-intro="椒香小院1号户|积分 0 分|' in home  # the facts line is heard when the home opens
    assert "data-say=" in _text(tv_client.get("/tv/ranking"))  # the rows carry their spoken text
    other = app.test_client()
    other.tv_token = pair_client(other, services, world_ids.households[1])
    assert "data-say" not in _text(other.get("/tv/"))
    _switch(tv_client, False)
    assert "data-say" not in _text(tv_client.get("/tv/"))


def test_blue_key_form_returns_to_the_same_tv_page_only(tv_client):
    assert _switch(tv_client, True, back="/tv/ranking?tab=1&f=row-2").headers["Location"] == "/tv/ranking?tab=1&f=row-2"
    assert _switch(tv_client, False, back="https://evil.example/").headers["Location"].startswith("/tv/")
    assert _switch(tv_client, False, back="//evil.example/tv/").headers["Location"].startswith("/tv/")


def test_switching_needs_the_box_token(tv_client):
    assert tv_client.post("/tv/voice", data={"on": "1"}).status_code == 403


def test_say_returns_a_wav_of_the_text_with_numbers_spoken(tv_client, speaking):
    _switch(tv_client, True)
    response = tv_client.get("/tv/say", query_string={"x": "积分榜|第 3 名"})
    assert response.status_code == 200 and response.mimetype == "audio/wav"
    assert "private" in response.headers["Cache-Control"]
    data = response.get_data()
    response.close()
    with wave.open(BytesIO(data)) as wav:
        assert wav.getnframes() > 0
    assert speaking.cached_path("积分榜，第三名").is_file()  # synthesised from the spoken form


def test_say_refuses_unpaired_boxes_guide_off_and_overlong_text(tv_client, app, speaking):
    assert tv_client.get("/tv/say", query_string={"x": "积分榜"}).status_code == 403  # guide off
    _switch(tv_client, True)
    assert tv_client.get("/tv/say", query_string={"x": "字" * 400}).status_code == 400
    assert tv_client.get("/tv/say", query_string={"x": " | "}).status_code == 404
    stranger = app.test_client()
    response = stranger.get("/tv/say", query_string={"x": "积分榜"})
    assert response.status_code == 302 and "audio" not in response.mimetype


def test_new_clips_are_limited_per_box_but_cached_ones_always_play(tv_client, speaking, monkeypatch):
    import tvportal.pages as tv_pages

    monkeypatch.setattr(tv_pages, "NEW_CLIPS_PER_BOX", 2)
    _switch(tv_client, True)
    for words in ("积分榜", "兑换"):
        response = tv_client.get("/tv/say", query_string={"x": words})
        assert response.status_code == 200
        response.close()
    assert tv_client.get("/tv/say", query_string={"x": "通知"}).status_code == 429
    again = tv_client.get("/tv/say", query_string={"x": "积分榜"})  # cached: no synthesis, no limit
    assert again.status_code == 200 and again.mimetype == "audio/wav"
    again.close()
