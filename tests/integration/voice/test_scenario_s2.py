"""SCENARIOS S2 — the silent caller (S1 is in test_helpcall_dialler.py, S3 in test_ivr_speech.py)."""

from __future__ import annotations

import sqlalchemy as sa

from core.models.outbox import OutboxMessage
from core.models.requests import Request
from tests.integration.voice.conftest import fake_recording_bytes

CALLER = "+8613800000001"  # 居民01 of 椒香小院2号户, 院长 李院长


def test_s2_silent_caller_gets_the_head_then_a_message_that_becomes_a_repair_request(
        world, call, fake_twilio, fake_asr, voice_services):
    caller = call(CALLER)
    doc = caller.post("/voice/twilio/incoming")
    assert "居民01，您好" in doc.spoken
    doc = caller.post(doc.url("Redirect"))  # silence: the menu once more, slowly
    assert "再慢慢说一遍" in doc.spoken
    doc = caller.post(doc.url("Redirect"))  # silence again
    assert "我们帮您接院长" in doc.spoken and doc.first("Dial").text == "+8613900000000"
    doc = caller.post(doc.url("Dial"), DialCallStatus="no-answer")
    assert "请在嘀声后留言" in doc.spoken
    data = fake_recording_bytes()
    fake_asr.answers[data] = ("我 家 水 管 爆 了", 0.71)
    doc = caller.post(doc.url("Record"), RecordingUrl=fake_twilio.add_recording(data), RecordingDuration="4")
    assert "工单号" in doc.spoken and "李院长" in doc.spoken
    with voice_services.session_factory() as s:
        [req] = s.scalars(sa.select(Request)).all()
        assert req.type == "repair" and req.transcript == "我 家 水 管 爆 了"
        assert req.assignee_id == world.users["head_a"].id and req.resident_id == world.residents[1].id
        [note] = s.scalars(sa.select(OutboxMessage).where(
            OutboxMessage.recipient_user_id == world.users["head_a"].id)).all()
        assert req.recording_url in note.text and "/console/voice/recordings/" in req.recording_url
        assert [e.action for e in req.events][-1] == "retyped"
