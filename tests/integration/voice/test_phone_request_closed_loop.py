"""End to end: a request raised by phone is followed up by a call, evaluated by keypress,
and counted in that day's report (the 日通报 pushed the next morning)."""

from __future__ import annotations

import sqlalchemy as sa

from core.clock import to_local
from core.db import transaction
from core.models.outbox import OutboxMessage
from core.models.requests import Request
from core.notify.dispatcher import Dispatcher
from core.requests.followup import followup_sweep
from core.requests.reports import build_report
from core.requests.workorders import resolve_request
from tests.integration.voice.conftest import PUBLIC_BASE, fake_recording_bytes, signed_post, twiml

WANG = "+8613800000000"


def test_phone_request_is_followed_up_evaluated_and_reported(world, call, voice_services, voice_client,
                                                            fake_twilio, clock):
    # 王奶奶 calls the village line, presses 1 and leaves her report.
    caller = call(WANG)
    caller.post("/voice/twilio/incoming")
    doc = caller.post(f"{PUBLIC_BASE}/voice/twilio/menu/key?tries=1&failures=0", Digits="1")
    doc = caller.post(doc.url("Gather"), Digits="1")  # 垃圾、卫生
    doc = caller.post(doc.url("Record"), RecordingUrl=fake_twilio.add_recording(fake_recording_bytes()),
                      RecordingDuration="6")
    with voice_services.session_factory() as s:
        [req] = s.scalars(sa.select(Request)).all()
        request_id = req.id
    assert req.channel == "phone" and f"工单号是{request_id}" in doc.spoken

    # The 院长 fixes it; half an hour later the follow-up call goes out through the real provider.
    clock.advance(hours=3)
    with transaction(voice_services.session_factory) as s:
        resolve_request(s, now=clock.now(), actor=world.users["head_a"], request_id=request_id, note="清运了垃圾")
    clock.advance(minutes=31)
    assert followup_sweep(voice_services) == 1
    Dispatcher(voice_services, concurrency=1).run_once(100)
    with voice_services.session_factory() as s:
        followup = s.scalar(sa.select(OutboxMessage).where(OutboxMessage.subject_type == "request_followup"))
        assert followup.channel == "voice_call" and followup.status == "sent"
    placed = fake_twilio.call_to(WANG)

    # She answers, hears the question and presses 1 (满意).
    doc = twiml(signed_post(voice_client, placed["Url"], {"CallSid": placed["sid"], "To": WANG}))
    assert "满意请按1" in doc.spoken and "不满意请按3" in doc.spoken
    twiml(signed_post(voice_client, doc.url("Gather"), {"CallSid": placed["sid"], "Digits": "1"}))
    with voice_services.session_factory() as s:
        req = s.get(Request, request_id)
        assert (req.status, req.satisfaction) == ("evaluated", "satisfied")

    # The day's report (pushed the next morning) counts it: raised, resolved, satisfied.
    with voice_services.session_factory() as s:
        report = build_report(s, kind="daily", day=to_local(clock.now()).date(), village_id=world.villages[0].id)
    assert report.requests["new"] == 1 and report.requests["resolved"] == 1
    assert report.requests["by_type"]["environment"] == {"new": 1, "resolved": 1, "overdue": 0, "overdue_open": 0}
    assert report.satisfaction["satisfied"] == 1 and report.satisfaction["rate"] == 1.0
