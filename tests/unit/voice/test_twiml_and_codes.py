"""TwiML builders (parsed as XML) and SMS reply codes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from core.phone.calls import parse_sms_reply, reply_code
from voice import twiml
from voice.speech import Speaker


def _parse(body: str) -> ET.Element:
    root = ET.fromstring(body)
    assert root.tag == "Response"
    return root


def test_menu_catches_keys_during_the_prompt_records_speech_and_never_hangs_up() -> None:
    root = _parse(twiml.menu(Speaker(), [("请按键", None)], key_action="https://x/k", record_action="https://x/r",
                             silent_url="https://x/s", record_max_s=30, silence_s=4))
    assert [c.tag for c in root] == ["Gather", "Record", "Redirect"]
    gather, record, redirect = list(root)
    assert gather.get("numDigits") == "1" and gather.find("Say").get("language") == "zh-CN"
    assert record.get("finishOnKey") == "0123456789*#" and record.get("playBeep") == "true"
    assert redirect.text == "https://x/s" and root.find("Hangup") is None


def test_ask_digit_repeats_the_question_then_redirects() -> None:
    root = _parse(twiml.ask_digit(Speaker(), [("按1", None)], action="https://x/a", no_input_url="https://x/n",
                                  repeat=3))
    assert [c.tag for c in root] == ["Gather", "Gather", "Gather", "Redirect"]


def test_apology_offers_a_message_for_the_head() -> None:
    root = _parse(twiml.apology(Speaker(), message_action="https://x/m"))
    assert "出了点问题" in root.find("Say").text and root.find("Record").get("action") == "https://x/m"
    assert _parse(twiml.bare_apology()).find("Record") is not None


def test_bridge_reports_when_the_residents_phone_answers() -> None:
    root = _parse(twiml.bridge(Speaker(), [("接通", None)], number="+8613800000000", caller_id="+15005550006",
                               timeout_s=30, action="https://x/b", answered_callback="https://x/cb"))
    number = root.find("Dial/Number")
    assert number.text == "+8613800000000" and number.get("statusCallbackEvent") == "answered"
    assert root.find("Dial").get("timeout") == "30"


def test_speaker_plays_cached_phone_audio_when_tts_works(tmp_path) -> None:
    from voice.audio import wav_pcm16

    source = tmp_path / "tts.wav"
    import numpy as np

    source.write_bytes(wav_pcm16(np.zeros(22050, dtype=np.int16), 22050))

    class Tts:
        def synthesize(self, text: str):
            return source

        def synthesize_prompt(self, prompt_id: str, text: str):
            return source

    root = _parse(twiml.speak_then(Speaker(Tts(), tmp_path / "cache", "https://x"), [("你好", "goodbye")]))
    url = root.find("Play").text
    assert url.startswith("https://x/voice/audio/") and (tmp_path / "cache" / url.rsplit("/", 1)[1]).is_file()

    class Broken:
        def synthesize(self, text: str):
            raise RuntimeError("espeak missing")

    root = _parse(twiml.speak_then(Speaker(Broken(), tmp_path / "cache"), [("你好", None)]))
    assert root.find("Say").text == "你好"


@pytest.mark.parametrize(("body", "expected"), [
    ("1", ("1", None)), ("1 0427", ("1", "0427")), ("１ ０４２７", ("1", "0427")), ("0427", ("1", "0427")),
    ("确认", ("1", None)), ("", ("", None)), ("你好", ("", None)), ("2", ("2", None)),
])
def test_sms_replies_are_parsed(body: str, expected: tuple) -> None:
    assert parse_sms_reply(body) == expected


def test_reply_codes_are_four_digits() -> None:
    assert reply_code(7) == "0007" and reply_code(123456) == "3456"
