"""Free speech on the village line: recognition off the webhook, bounded hold, read-back, acts."""

from __future__ import annotations

import sqlalchemy as sa

from core.models.calls import CallLog, CallRecording
from core.models.requests import Request
from tests.integration.voice.conftest import PUBLIC_BASE, fake_recording_bytes

WANG = "+8613800000000"


def _say(caller, fake_twilio, fake_asr, text: str, confidence: float = 0.8):
    """The caller speaks after the menu beep; returns the hold TwiML."""
    data = fake_recording_bytes()
    fake_asr.answers[data] = (text, confidence)
    url = fake_twilio.add_recording(data)
    return caller.post(f"{PUBLIC_BASE}/voice/twilio/menu/record?tries=1&failures=0", RecordingUrl=url,
                       RecordingDuration="4", Digits="hangup")


def _requests(services) -> list[Request]:
    with services.session_factory() as s:
        return list(s.scalars(sa.select(Request).order_by(Request.id)))


def test_s3_accented_speech_is_understood_read_back_and_becomes_a_request(world, call, fake_twilio,
                                                                          fake_asr, voice_services):
    """SCENARIOS S3: "我屋头那个垃圾桶满了哈" arrives as "我 屋 头 那个 垃圾 同 满 了 哈"."""
    caller = call(WANG)
    caller.post("/voice/twilio/incoming")
    hold = _say(caller, fake_twilio, fake_asr, "我 屋 头 那个 垃圾 同 满 了 哈", 0.62)
    assert "正在听您说的话" in hold.spoken and hold.verbs[-2:] == ["Pause", "Redirect"]
    doc = caller.post(hold.url("Redirect"))
    assert "您是说：垃圾桶满了，对吗？对请按1" in doc.spoken
    doc = caller.post(doc.url("Gather"), Digits="1")
    [req] = _requests(voice_services)
    assert req.type == "environment" and req.transcript == "我 屋 头 那个 垃圾 同 满 了 哈"
    assert req.confidence == 0.62 and req.text == "垃圾桶满了" and req.assignee_id == world.users["head_a"].id
    assert f"工单号是{req.id}，由李院长处理" in doc.spoken
    with voice_services.session_factory() as s:
        entry = s.scalar(sa.select(CallLog))
        assert entry.transcripts[0]["intent"] == "environment" and entry.request_id == req.id
        recording = s.scalar(sa.select(CallRecording))
        # The recording was fetched with the account credentials and kept locally for the console.
        assert (voice_services.settings.data_dir / recording.local_file).is_file()


def test_recognition_runs_off_the_webhook_with_bounded_polling(world, call, fake_twilio, fake_asr,
                                                               voice_services):
    fake_asr.deferred = True
    caller = call(WANG)
    hold = _say(caller, fake_twilio, fake_asr, "我家水管爆了")
    assert fake_asr.calls == 0  # the webhook only queued the work
    doc = caller.post(hold.url("Redirect"))
    assert doc.verbs[-2:] == ["Pause", "Redirect"] and "polls=1" in doc.url("Redirect")
    fake_asr.run_pending()
    doc = caller.post(doc.url("Redirect"))
    assert "您是说：水管爆了" in doc.spoken


def test_recognition_that_never_finishes_keeps_the_recording_as_a_request(world, call, fake_twilio,
                                                                          fake_asr, voice_services):
    fake_asr.deferred = True
    caller = call(WANG)
    doc = _say(caller, fake_twilio, fake_asr, "whatever")
    polls = 0
    while doc.verbs[-1] == "Redirect" and "speech/poll" in doc.url("Redirect"):
        doc = caller.post(doc.url("Redirect"))
        polls += 1
        assert polls <= 20, "polling must be bounded"
    [req] = _requests(voice_services)
    assert req.recording_url and "工单号" in doc.spoken and req.assignee_id == world.users["head_a"].id


def test_two_denied_read_backs_turn_the_recording_into_a_request(world, call, fake_twilio, fake_asr,
                                                                 voice_services):
    caller = call(WANG)
    doc = caller.post(_say(caller, fake_twilio, fake_asr, "查 一下 积分").url("Redirect"))
    assert "您是要查积分" in doc.spoken
    doc = caller.post(doc.url("Gather"), Digits="2")
    assert "没有听清楚" in doc.spoken and "failures=1" in doc.url("Record")
    data = fake_recording_bytes()
    fake_asr.answers[data] = ("嗯 啊 那个", 0.3)  # nothing recognisable
    hold = caller.post(doc.url("Record"), RecordingUrl=fake_twilio.add_recording(data), RecordingDuration="3")
    doc = caller.post(hold.url("Redirect"))
    assert "已经录下来了" in doc.spoken
    [req] = _requests(voice_services)
    assert req.type == "other" and req.transcript == "嗯 啊 那个" and req.recording_url


def test_sell_by_speech_extracts_goods_and_quantity(world, call, fake_twilio, fake_asr, voice_services):
    caller = call(WANG)
    caller.post(f"{PUBLIC_BASE}/voice/twilio/menu/key?tries=1&failures=0", Digits="4")
    doc = caller.post(f"{PUBLIC_BASE}/voice/twilio/submenu4", Digits="1")
    data = fake_recording_bytes()
    fake_asr.answers[data] = ("花 椒 五十 斤", 0.7)
    hold = caller.post(doc.url("Record"), RecordingUrl=fake_twilio.add_recording(data), RecordingDuration="3")
    doc = caller.post(hold.url("Redirect"))
    assert "要卖50斤花椒" in doc.spoken
    caller.post(doc.url("Gather"), Digits="1")
    [req] = _requests(voice_services)
    assert req.type == "sell" and req.details["goods"] == "花椒" and req.details["quantity"] == "50斤"


def test_saying_find_the_head_puts_the_caller_through(world, call, fake_twilio, fake_asr):
    caller = call(WANG)
    doc = caller.post(_say(caller, fake_twilio, fake_asr, "我 找 院 长").url("Redirect"))
    doc = caller.post(doc.url("Gather"), Digits="1")
    assert doc.first("Dial").text == "+8613900000000"


def test_without_a_model_the_menu_offers_keys_and_speech_becomes_a_message(world, call, fake_twilio,
                                                                           voice_services):
    voice_services.asr = None
    caller = call(WANG)
    doc = caller.post("/voice/twilio/incoming")
    assert "请直接说出" not in doc.spoken and "直接留言" in doc.spoken
    doc = caller.post(doc.url("Record"), RecordingUrl=fake_twilio.add_recording(fake_recording_bytes()),
                      RecordingDuration="5")
    [req] = _requests(voice_services)
    assert req.recording_url and req.assignee_id == world.users["head_a"].id and "院长" in doc.spoken


def test_a_key_that_ends_the_recording_counts_as_a_keypress(world, call, fake_twilio):
    caller = call(WANG)
    doc = caller.post(f"{PUBLIC_BASE}/voice/twilio/menu/record?tries=1&failures=0", Digits="3", RecordingDuration="0",
                      RecordingUrl=fake_twilio.add_recording(fake_recording_bytes()))
    assert "您家现在有" in doc.spoken
