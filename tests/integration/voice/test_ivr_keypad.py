"""The village line by keypad alone, silence, unknown callers, signatures and garbage input."""

from __future__ import annotations

import sqlalchemy as sa

from core.models.calls import CallLog, CallRecording
from core.models.outbox import OutboxMessage
from core.models.requests import Request
from tests.integration.voice.conftest import PUBLIC_BASE, fake_recording_bytes, sign, signed_post, twiml

WANG = "+8613800000000"  # 王奶奶, household 椒香小院1号户, 院长 李院长 (+8613900000000)
HEAD_A = "+8613900000000"


def _requests(services) -> list[Request]:
    with services.session_factory() as s:
        return list(s.scalars(sa.select(Request).order_by(Request.id)))


def test_known_caller_is_greeted_by_name_and_hears_the_menu(world, call):
    doc = call(WANG).post("/voice/twilio/incoming")
    assert "王奶奶，您好" in doc.spoken
    assert "报告问题，请按1" in doc.spoken
    assert doc.verbs == ["Gather", "Record", "Redirect"]
    assert doc.url("Gather").startswith(f"{PUBLIC_BASE}/voice/twilio/menu/key")
    assert doc.url("Redirect").startswith(f"{PUBLIC_BASE}/voice/twilio/menu/silent")


def test_unknown_caller_is_served_asked_who_they_are_and_flagged(world, call, voice_services):
    caller = call("+8613712345678")
    doc = caller.post("/voice/twilio/incoming")
    assert "不认识这个电话号码" in doc.spoken
    assert doc.url("Record").startswith(f"{PUBLIC_BASE}/voice/twilio/identity")
    # Silence falls through to the menu, not a hang-up.
    assert "/voice/twilio/menu" in doc.url("Redirect")
    with voice_services.session_factory() as s:
        entry = s.scalar(sa.select(CallLog))
        assert entry.unknown_caller and entry.resident_id is None and entry.caller == "+8613712345678"


def test_silent_caller_hears_the_menu_twice_then_is_put_through_to_the_head(world, call):
    caller = call(WANG)
    doc = caller.post("/voice/twilio/incoming")
    doc = caller.post(doc.url("Redirect"))
    assert "再慢慢说一遍" in doc.spoken and doc.verbs[-1] == "Redirect"
    doc = caller.post(doc.url("Redirect"))
    assert "接院长" in doc.spoken
    assert doc.first("Dial").text == HEAD_A
    assert "Hangup" not in doc.verbs


def test_key_1_records_a_problem_that_becomes_a_request_for_the_head(world, call, voice_services,
                                                                     fake_twilio):
    caller = call(WANG)
    caller.post("/voice/twilio/incoming")
    doc = caller.post(f"{PUBLIC_BASE}/voice/twilio/menu/key?tries=1&failures=0", Digits="1")
    assert "垃圾、卫生的事，请按1" in doc.spoken  # what kind first, not always 爱环境
    doc = caller.post(doc.url("Gather"), Digits="1")
    assert "报告的问题" in doc.spoken
    url = fake_twilio.add_recording(fake_recording_bytes())
    doc = caller.post(doc.url("Record"), RecordingUrl=url, RecordingDuration="6")
    [req] = _requests(voice_services)
    assert req.type == "environment" and req.channel == "phone" and req.resident_id == world.residents[0].id
    assert req.recording_url.startswith(f"{PUBLIC_BASE}/console/voice/recordings/")
    assert f"工单号是{req.id}" in doc.spoken and "李院长" in doc.spoken


def test_head_not_answering_turns_into_a_message_with_a_link_for_the_head(world, call, voice_services,
                                                                           fake_twilio):
    caller = call(WANG)
    doc = caller.post(f"{PUBLIC_BASE}/voice/twilio/menu/key?tries=1&failures=0", Digits="2")
    assert doc.first("Dial").text == HEAD_A and doc.first("Dial").get("timeout") == "20"
    doc = caller.post(doc.url("Dial"), DialCallStatus="no-answer")
    # The fallback person (no duty phone here: the next in the 小院's staff list, the grid worker).
    assert "李院长暂时没有接" in doc.spoken and doc.first("Dial").text == "+8613900000012"
    doc = caller.post(doc.url("Dial"), DialCallStatus="no-answer")
    assert "请在嘀声后留言" in doc.spoken
    doc = caller.post(doc.url("Record"), RecordingUrl=fake_twilio.add_recording(fake_recording_bytes()),
                      RecordingDuration="8")
    [req] = _requests(voice_services)
    assert req.type == "find_head" and req.assignee_id == world.users["head_a"].id
    assert WANG in req.text and req.details["callback"] == WANG  # the 院长 knows whom to call back
    with voice_services.session_factory() as s:
        note = s.scalar(sa.select(OutboxMessage).where(OutboxMessage.recipient_user_id == world.users["head_a"].id))
        assert req.recording_url in note.text


def test_key_3_reads_the_households_points(world, call):
    doc = call(WANG).post(f"{PUBLIC_BASE}/voice/twilio/menu/key?tries=1&failures=0", Digits="3")
    assert "您家现在有0分" in doc.spoken and "排第" in doc.spoken


def test_key_4_then_2_reads_job_notices(world, call, voice_services, clock):
    from core.db import transaction
    from core.models.notices import Notice

    with transaction(voice_services.session_factory) as s:
        s.add(Notice(title="柑橘园招采果工", body="每天120元", category="jobs", audience="village",
                     town_id=world.town.id, village_id=world.villages[0].id, publish_from=clock.now(),
                     created_at=clock.now(), updated_at=clock.now()))
    caller = call(WANG)
    caller.post(f"{PUBLIC_BASE}/voice/twilio/menu/key?tries=1&failures=0", Digits="4")
    doc = caller.post(f"{PUBLIC_BASE}/voice/twilio/submenu4", Digits="2")
    assert "柑橘园招采果工" in doc.spoken
    doc = caller.post(doc.url("Gather"), Digits="1")
    [req] = _requests(voice_services)
    assert req.type == "job" and "工单号" in doc.spoken


def test_an_unknown_key_says_so_and_repeats_the_menu(world, call):
    doc = call(WANG).post(f"{PUBLIC_BASE}/voice/twilio/menu/key?tries=1&failures=0", Digits="7")
    assert "没有这个选项" in doc.spoken and doc.verbs[-1] == "Redirect"


def test_unsigned_forged_and_replayed_requests_are_refused(world, voice_client):
    params = {"CallSid": "CA1", "From": WANG}
    assert voice_client.post("/voice/twilio/incoming", data=params).status_code == 403
    forged = sign(f"{PUBLIC_BASE}/voice/twilio/incoming", params, token="not-the-token")
    assert voice_client.post("/voice/twilio/incoming", data=params,
                             headers={"X-Twilio-Signature": forged}).status_code == 403
    # A signature for another URL (or another query string) does not carry over.
    other = sign(f"{PUBLIC_BASE}/voice/twilio/menu?tries=1", params)
    assert voice_client.post("/voice/twilio/menu?tries=2", data=params,
                             headers={"X-Twilio-Signature": other}).status_code == 403
    # Tampered parameters break the signature too.
    good = sign(f"{PUBLIC_BASE}/voice/twilio/incoming", params)
    assert voice_client.post("/voice/twilio/incoming", data={**params, "From": "+8613900000000"},
                             headers={"X-Twilio-Signature": good}).status_code == 403
    assert signed_post(voice_client, "/voice/twilio/incoming", params).status_code == 200


def test_garbage_parameters_still_get_valid_twiml(world, voice_client, fake_twilio):
    cases = [
        ("/voice/twilio/menu/key?tries=1&failures=0", {"CallSid": "CA9", "From": WANG, "Digits": "*#abc99"}),
        ("/voice/twilio/menu/key?tries=zz&failures=-4", {"CallSid": "CA9", "Digits": ""}),
        ("/voice/twilio/incoming", {"CallSid": "CA8"}),  # no From at all
        ("/voice/twilio/incoming", {"CallSid": "CA7", "From": "anonymous"}),
        ("/voice/twilio/menu/record?tries=1", {"CallSid": "CA9", "SpeechResult": "垃圾" * 50000,
                                           "RecordingDuration": "NaN"}),
        ("/voice/twilio/speech/poll?recording=999999&polls=x", {"CallSid": "CA9", "From": WANG}),
        ("/voice/twilio/speech/confirm?recording=abc", {"CallSid": "CA9", "Digits": "1"}),
        ("/voice/twilio/message?type=DROP%20TABLE", {"CallSid": "CA6", "From": WANG,
                                                     "RecordingUrl": fake_twilio.url + "/x", "RecordingDuration": "3"}),
        ("/voice/twilio/help/answer?leg=424242", {"CallSid": "CA5"}),
        ("/voice/twilio/help/press?leg=-1", {"CallSid": "CA5", "Digits": "1"}),
        ("/voice/twilio/confirm/press?message=77", {"CallSid": "CA4", "Digits": "1"}),
        ("/voice/twilio/status", {"CallSid": "CA3", "CallStatus": "completed", "CallDuration": "abc"}),
    ]
    for path, params in cases:
        doc = twiml(signed_post(voice_client, path, params))
        assert doc.root.tag == "Response", path


def test_an_internal_error_becomes_an_apology_and_a_message_path(world, call, monkeypatch,
                                                                voice_services, fake_twilio):
    from core.phone import calls as call_logs

    def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(call_logs, "open_call_log", broken)
    caller = call(WANG)
    doc = caller.post("/voice/twilio/incoming")
    assert "出了点问题" in doc.spoken
    assert doc.url("Record").endswith("/voice/twilio/fallback/message")
    monkeypatch.undo()
    doc = caller.post(doc.url("Record"), RecordingUrl=fake_twilio.add_recording(fake_recording_bytes()),
                      RecordingDuration="5")
    [req] = _requests(voice_services)
    assert req.resident_id == world.residents[0].id and "工单号" in doc.spoken


def test_status_callback_closes_the_call_log_with_its_duration(world, call, voice_services):
    caller = call(WANG)
    caller.post("/voice/twilio/incoming")
    caller.post("/voice/twilio/status", CallStatus="completed", CallDuration="73")
    caller.post("/voice/twilio/status", CallStatus="completed", CallDuration="73")  # repeated: harmless
    with voice_services.session_factory() as s:
        entry = s.scalar(sa.select(CallLog))
        assert entry.duration_s == 73 and entry.status == "completed" and entry.path[0] == "incoming"
        assert s.scalar(sa.select(sa.func.count()).select_from(CallRecording)) == 0


def test_the_urls_handed_to_the_provider_say_what_their_parameters_are(world, call):
    """Query parameters carry the call's state through the provider: each is named, none is a lone letter."""
    from urllib.parse import parse_qs, urlsplit

    caller = call(WANG)
    docs = [caller.post("/voice/twilio/incoming")]
    docs.append(caller.post(docs[0].url("Redirect")))  # silence: the menu again, with its tries counted
    urls = [value for doc in docs for element in doc.root.iter()
            for value in ([element.get("action"), element.text] if element.tag in ("Gather", "Record", "Redirect")
                          else []) if value and value.strip().startswith("http")]
    keys = {key for url in urls for key in parse_qs(urlsplit(url.strip()).query)}
    assert {"tries", "failures"} <= keys
    assert all(len(key) > 1 for key in keys), keys
