"""Pure rules of the SIP line: settings, numbers, dial strings, call outcomes, frame buffers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.phone.config import SipSettings
from voice.sip.media import FRAME_BYTES, SILENCE, FrameQueue, Playback, level_dbfs, upsample_16k

BASE = {"bind": "127.0.0.1", "port": 5060, "gateway": "192.168.8.1:5060", "allowed_sources": ["10.0.0.0/24"],
        "max_calls": 4, "end_silence_ms": 600, "vad_threshold_dbfs": -40.0, "command_poll_ms": 100}


def sip(**changes) -> SipSettings:
    return SipSettings.model_validate({**BASE, **changes})


def test_a_village_number_matches_in_every_form_a_gateway_sends():
    settings = sip(numbers={"023-4671 2345": 3, "13912345678": 4})
    for called in ("02346712345", "+862346712345", "00862346712345", "023 4671 2345"):
        assert settings.village_for(called) == 3, called
    assert settings.village_for("+8613912345678") == 4
    assert settings.village_for("13900000000") is None and settings.village_for(None) is None


def test_only_allowed_sources_and_the_gateway_may_call_in():
    settings = sip(allowed_sources="10.0.0.0/24, 127.0.0.1")
    assert settings.source_allowed("10.0.0.77") and settings.source_allowed("127.0.0.1")
    assert settings.source_allowed("192.168.8.1")  # the gateway itself
    assert not settings.source_allowed("192.168.8.2") and not settings.source_allowed("garbage")


@pytest.mark.parametrize("bad", [
    {"bind": "localhost"}, {"port": 70000}, {"gateway": "host:99999"}, {"allowed_sources": ["10.0.0.300"]},
    {"numbers": {"village-a": 1}}, {"max_calls": 5}, {"unknown_key": 1},
])
def test_impossible_settings_are_refused_with_the_key_named(bad):
    with pytest.raises(ValidationError) as error:
        sip(**bad)
    assert next(iter(bad)) in str(error.value)


def test_numbers_are_dialled_the_way_a_chinese_gateway_expects():
    from voice.sip.driver import dial_string

    assert dial_string("+8613800000000") == "13800000000"
    assert dial_string("+862346712345") == "02346712345"  # landline keeps its area code with 0
    assert dial_string("+14155550100") == "0014155550100"


def test_how_a_call_ended_is_told_in_the_words_the_state_machines_know():
    from voice.sip.driver import dial_status

    assert dial_status(200, answered=True) == "completed"
    assert [dial_status(code, False) for code in (486, 603, 408, 480, 487, 404, 503)] == [
        "busy", "busy", "no-answer", "no-answer", "no-answer", "failed", "failed"]


def test_flow_urls_name_their_step_and_parameters():
    from voice import flow
    from voice.sip.driver import next_from_url

    flow.load_steps()
    target = next_from_url("https://x.example/voice/twilio/help/answer?leg=12")
    assert target == flow.Next("help/answer", {"leg": "12"})
    assert next_from_url("https://x.example/voice/twilio/confirm?m=7").step == "confirm"
    assert next_from_url("https://x.example/console/") is None


def test_caller_numbers_come_from_the_user_part_of_from():
    pytest.importorskip("pjsua2")
    from voice.sip.stack import _user_part

    assert _user_part('"Wang" <sip:13800000000@10.0.0.2:5060>;tag=abc') == "13800000000"
    assert _user_part("<sip:+862346712345@gw;user=phone>") == "+862346712345"
    assert _user_part("sip:10.0.0.2") == ""


def test_playback_hands_out_20ms_frames_then_silence_and_stops_at_once():
    playback = Playback()
    playback.play(b"\x01\x00" * 400)  # 50 ms
    frames = [playback.read_frame() for _ in range(4)]
    assert [len(f) for f in frames] == [FRAME_BYTES] * 4 and frames[3] == SILENCE
    assert frames[2][:160] == b"\x01\x00" * 80 and frames[2][160:] == bytes(160)  # the tail is padded
    assert playback.idle.is_set() and playback.sent == 3
    playback.play(b"\x01\x00" * 8000)
    assert playback.playing
    playback.stop()  # barge-in
    assert not playback.playing and playback.read_frame() == SILENCE


def test_a_full_frame_queue_drops_the_oldest_and_counts_it():
    frames = FrameQueue(max_frames=2)
    for n in range(3):
        frames.put(bytes([n]) * FRAME_BYTES)
    assert frames.dropped == 1 and frames.received == 3
    assert frames.get(0.01)[0] == 1 and frames.get(0.01)[0] == 2 and frames.get(0.01) is None


def test_levels_and_upsampling():
    assert level_dbfs(SILENCE) == -100.0
    assert -7 < level_dbfs((b"\xff\x3f" + b"\x01\xc0") * 80) < -5  # ±16383 square wave ≈ -6 dBFS
    assert len(upsample_16k(SILENCE)) == 2 * FRAME_BYTES
