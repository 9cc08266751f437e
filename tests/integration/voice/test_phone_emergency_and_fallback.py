"""Issue 10 §5 — the phone line never strands an emergency: 救命 / key 9, S2 without loops, fallback people,
unknown callers, and signed webhooks that arrive twice."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.db import transaction
from core.models.calls import CallLog
from core.models.helpcalls import HelpCall
from core.models.outbox import OutboxMessage
from core.models.places import Village
from core.models.requests import Request
from core.requests.reports import build_report
from tests.integration.voice.conftest import PUBLIC_BASE, fake_recording_bytes, signed_post, twiml

WANG = "+8613800000000"  # 王奶奶 (lives alone, 椒香小院1号户): chain son → 李院长 → 赵医生
WANG_LANDLINE = "+862346710000"
SON, HEAD_A, DOCTOR = "+8613800001111", "+8613900000000", "+8613900000020"
GRID_A, TOWN = "+8613900000012", "+8613900000010"
DUTY = "+8613900000099"
STRANGER = "+8613712345678"
KEY_URL = f"{PUBLIC_BASE}/voice/twilio/menu/key?tries=1&failures=0"


def _requests(services) -> list[Request]:
    with services.session_factory() as s:
        return list(s.scalars(sa.select(Request).order_by(Request.id)))


def _help_calls(services) -> list[HelpCall]:
    with services.session_factory() as s:
        return list(s.scalars(sa.select(HelpCall).order_by(HelpCall.id)))


def _set_duty_phone(services, village_id: int, phone: str | None = DUTY) -> None:
    with transaction(services.session_factory) as s:
        s.get(Village, village_id).duty_phone = phone


def _speak(caller, fake_twilio, fake_asr, words: str):
    """Say `words` after the menu's beep (the fake recogniser hears them)."""
    data = fake_recording_bytes()
    fake_asr.answers[data] = (words, 0.8)
    doc = caller.post("/voice/twilio/incoming")
    doc = caller.post(doc.url("Record"), RecordingUrl=fake_twilio.add_recording(data), RecordingDuration="3")
    assert "正在听您说的话" in doc.spoken  # held while the recogniser works, then the poll
    return caller.post(doc.url("Redirect"))


# --- 救命 / key 9 ---------------------------------------------------------------------------------------------


EMERGENCIES = ["救 命", "我 摔 倒 了 起 不 来", "胸 口 痛", "脑 壳 痛 得 很", "遭 跘 倒 了", "不 舒 服"]


@pytest.mark.parametrize("words", EMERGENCIES)
def test_saying_an_emergency_starts_the_households_help_call_at_once(world, call, fake_twilio, fake_asr,
                                                                     voice_services, words):
    doc = _speak(call(WANG), fake_twilio, fake_asr, words)
    assert "在给王小明、李院长、赵医生打电话" in doc.spoken and doc.verbs[-1] == "Hangup"  # no read-back first
    [help_call] = _help_calls(voice_services)
    assert help_call.household_id == world.households[0].id and help_call.source == "phone"
    assert fake_twilio.calls[0]["To"] == SON  # the son's phone already rings
    [req] = _requests(voice_services)
    assert req.type == "help" and req.urgent and req.details["help_call_id"] == help_call.id
    assert req.assignee_id == world.users["head_a"].id


def test_key_9_announced_first_in_the_menu_starts_the_same_help_call(world, call, fake_twilio, voice_services):
    caller = call(WANG)
    doc = caller.post("/voice/twilio/incoming")
    assert doc.spoken.index("请按9") < doc.spoken.index("请按1")
    doc = caller.post(doc.url("Gather"), Digits="9")
    assert "王小明" in doc.spoken and doc.verbs[-1] == "Hangup"
    [help_call] = _help_calls(voice_services)
    assert [c["To"] for c in fake_twilio.calls] == [SON]
    [req] = _requests(voice_services)
    assert req.urgent and req.type == "help" and req.channel == "phone"
    with voice_services.session_factory() as s:
        assert s.scalar(sa.select(CallLog.help_call_id)) == help_call.id


def test_asking_again_in_a_second_call_joins_the_help_call_and_its_request(world, call, fake_twilio,
                                                                           voice_services):
    call(WANG).post(KEY_URL, Digits="9")
    doc = call(WANG).post(KEY_URL, Digits="9")
    assert "王小明" in doc.spoken
    assert len(_help_calls(voice_services)) == 1 and len(_requests(voice_services)) == 1
    assert [c["To"] for c in fake_twilio.calls] == [SON]  # the son is not rung twice at once


def test_the_caregiver_who_presses_1_is_put_through_to_the_phone_the_elder_called_from(
        world, call, fake_twilio, voice_client):
    call(WANG_LANDLINE).post(KEY_URL, Digits="9")
    [leg] = fake_twilio.calls
    doc = twiml(signed_post(voice_client, leg["Url"], {"CallSid": leg["sid"], "To": leg["To"],
                                                       "CallStatus": "in-progress"}))
    doc = twiml(signed_post(voice_client, doc.url("Gather"), {"CallSid": leg["sid"], "Digits": "1"}))
    assert doc.first("Number").text == WANG_LANDLINE  # not her mobile: she is by the landline


def test_an_unknown_callers_emergency_goes_to_the_duty_person_at_once(world, call, fake_twilio, voice_services,
                                                                    monkeypatch):
    monkeypatch.setattr("voice.twilio_flow.village_for_number", lambda settings, called: world.villages[0].id)
    _set_duty_phone(voice_services, world.villages[0].id)
    doc = call(STRANGER).post(KEY_URL, Digits="9")
    assert "值班人员" in doc.spoken and doc.first("Dial").text == DUTY
    [req] = _requests(voice_services)
    assert req.urgent and req.type == "help" and req.village_id == world.villages[0].id
    assert req.assignee_id == world.users["village_a"].id
    assert _help_calls(voice_services) == []


# --- S2 exactly, never a loop ---------------------------------------------------------------------------------


def test_s2_silence_slow_menu_head_no_answer_and_an_empty_message_is_a_callback_request(
        world, call, fake_twilio, voice_services):
    caller = call("+8613800000001")  # 居民01 (椒香小院2号户)
    doc = caller.post("/voice/twilio/incoming")
    first_menu = doc.spoken
    doc = caller.post(doc.url("Redirect"))
    assert "再慢慢说一遍" in doc.spoken and "……" in doc.spoken  # a different, slower rendering
    assert doc.spoken.split("再慢慢说一遍。")[-1].strip() not in first_menu
    doc = caller.post(doc.url("Redirect"))
    assert "我们帮您接院长" in doc.spoken and doc.first("Dial").text == HEAD_A
    doc = caller.post(doc.url("Dial"), DialCallStatus="no-answer")
    assert "请在嘀声后留言" in doc.spoken and not doc.all("Dial")
    doc = caller.post(doc.url("Redirect"))  # he says nothing: the Record falls through
    assert "回电话" in doc.spoken and doc.verbs[-1] == "Hangup"
    [req] = _requests(voice_services)
    assert req.assignee_id == world.users["head_a"].id and "+8613800000001" in req.text
    assert req.details["callback"] == "+8613800000001"
    with voice_services.session_factory() as s:
        note = s.scalar(sa.select(OutboxMessage).where(OutboxMessage.recipient_user_id == world.users["head_a"].id))
        assert "+8613800000001" in note.text


def test_the_head_is_dialled_at_most_once_per_call(world, call, fake_twilio, voice_services):
    caller = call(WANG)
    doc = caller.post(KEY_URL, Digits="2")
    dialled = [doc.first("Dial").text]
    while doc.all("Dial"):
        doc = caller.post(doc.url("Dial"), DialCallStatus="no-answer")
        dialled += [d.text for d in doc.all("Dial")]
    doc = caller.post(doc.url("Record"), RecordingUrl=fake_twilio.add_recording(fake_recording_bytes()),
                      RecordingDuration="5")
    doc = caller.post(doc.url("Gather"), Digits="5")  # something else: the menu
    doc = caller.post(doc.url("Gather"), Digits="2")  # 找院长 again in the same call: only people not yet rung
    dialled += [d.text for d in doc.all("Dial")]
    while doc.all("Dial"):
        doc = caller.post(doc.url("Dial"), DialCallStatus="no-answer")
        dialled += [d.text for d in doc.all("Dial")]
    assert dialled.count(HEAD_A) == 1 and len(dialled) == len(set(dialled))
    assert "请在嘀声后留言" in doc.spoken


# --- 0 找人工 and 2 找院长 with fallbacks ---------------------------------------------------------------------


def test_key_2_falls_back_to_the_village_duty_phone(world, call, voice_services):
    _set_duty_phone(voice_services, world.villages[0].id)
    caller = call(WANG)
    doc = caller.post(KEY_URL, Digits="2")
    assert doc.first("Dial").text == HEAD_A
    doc = caller.post(doc.url("Dial"), DialCallStatus="no-answer")
    assert "李院长暂时没有接" in doc.spoken and doc.first("Dial").text == DUTY
    doc = caller.post(doc.url("Dial"), DialCallStatus="busy")
    assert "请在嘀声后留言" in doc.spoken and not doc.all("Dial")


def test_key_0_reaches_a_different_person_than_key_2(world, call, voice_services):
    _set_duty_phone(voice_services, world.villages[0].id)
    doc = call(WANG).post(KEY_URL, Digits="0")
    assert doc.first("Dial").text == DUTY
    doc = call(WANG).post(KEY_URL, Digits="0")
    doc_next = call(WANG).post(KEY_URL, Digits="2")
    assert doc_next.first("Dial").text == HEAD_A != doc.first("Dial").text


def test_key_0_without_a_duty_phone_reaches_the_command_centre_then_the_staff_list(world, call):
    caller = call(WANG)
    doc = caller.post(KEY_URL, Digits="0")
    assert doc.first("Dial").text == TOWN
    doc = caller.post(doc.url("Dial"), DialCallStatus="no-answer")
    assert doc.first("Dial").text == GRID_A


def test_a_talk_with_the_fallback_person_ends_the_call(world, call, voice_services):
    _set_duty_phone(voice_services, world.villages[0].id)
    caller = call(WANG)
    doc = caller.post(KEY_URL, Digits="2")
    doc = caller.post(doc.url("Dial"), DialCallStatus="no-answer")
    doc = caller.post(doc.url("Dial"), DialCallStatus="completed")
    assert doc.verbs[-1] == "Hangup" and _requests(voice_services) == []


# --- unknown callers ------------------------------------------------------------------------------------------


def test_unknown_callers_message_goes_to_the_duty_person_is_notified_and_counted(
        world, call, fake_twilio, voice_services, clock, monkeypatch):
    monkeypatch.setattr("voice.twilio_flow.village_for_number", lambda settings, called: world.villages[0].id)
    _set_duty_phone(voice_services, world.villages[0].id)
    caller = call(STRANGER)
    doc = caller.post(KEY_URL, Digits="1")
    doc = caller.post(doc.url("Gather"), Digits="2")  # 坏了要修
    doc = caller.post(doc.url("Record"), RecordingUrl=fake_twilio.add_recording(fake_recording_bytes()),
                      RecordingDuration="6")
    [req] = _requests(voice_services)
    assert req.village_id == world.villages[0].id and req.town_id == world.town.id
    assert req.assignee_id == world.users["village_a"].id and req.household_id is None
    with voice_services.session_factory() as s:
        told = list(s.scalars(sa.select(OutboxMessage).where(OutboxMessage.subject_id == req.id)))
        assert {m.recipient_user_id for m in told} >= {world.users["village_a"].id}
        assert any(m.template == "request.duty_phone" for m in told)
        report = build_report(s, kind="daily", day=clock.now().date(), village_id=world.villages[0].id)
    assert report.requests["unknown_callers"] == 1 and report.requests["new"] == 1


# --- signed webhooks delivered twice -------------------------------------------------------------------------


def test_a_repeated_keypress_webhook_acts_once(world, call, fake_twilio, voice_services):
    caller = call(WANG)
    doc = caller.post("/voice/twilio/incoming")
    url = doc.url("Gather")
    first = caller.post(url, Digits="9")
    again = caller.post(url, Digits="9")
    assert again.raw == first.raw
    assert len(_help_calls(voice_services)) == 1 and len(_requests(voice_services)) == 1
    assert len(fake_twilio.calls) == 1


def test_a_repeated_recording_acts_once(world, call, fake_twilio, voice_services):
    caller = call(WANG)
    doc = caller.post(KEY_URL, Digits="1")
    doc = caller.post(doc.url("Gather"), Digits="1")
    url = fake_twilio.add_recording(fake_recording_bytes())
    sid = url.rsplit("/", 1)[-1]
    first = caller.post(doc.url("Record"), RecordingUrl=url, RecordingSid=sid, RecordingDuration="6")
    again = caller.post(doc.url("Record") + "&x=1", RecordingUrl=url, RecordingSid=sid, RecordingDuration="6")
    assert again.raw == first.raw and len(_requests(voice_services)) == 1


def test_the_same_step_asked_for_again_by_the_caller_still_acts(world, call, voice_services):
    caller = call(WANG)
    doc = caller.post(KEY_URL, Digits="3")  # points, then "anything else?"
    doc = caller.post(doc.url("Gather"), Digits="1")  # the menu again
    doc = caller.post(doc.url("Gather"), Digits="3")  # points once more: a new document, a new token
    assert "您家现在有0分" in doc.spoken


# --- a key at the recording beep (issue 13 item 13) ----------------------------------------------------------


def test_a_key_pressed_at_the_menus_beep_is_the_menu_choice(world, call):
    caller = call(WANG)
    doc = caller.post("/voice/twilio/incoming")
    doc = caller.post(doc.url("Record"), Digits="2")  # the key ended the recording before any audio
    assert doc.first("Dial").text == HEAD_A


def test_a_key_pressed_at_a_messages_beep_is_a_menu_choice_not_a_message(world, call, fake_twilio,
                                                                         voice_services):
    caller = call(WANG)
    doc = caller.post(KEY_URL, Digits="1")
    doc = caller.post(doc.url("Gather"), Digits="3")
    assert doc.first("Record").get("finishOnKey") == "0123456789*#"
    doc = caller.post(doc.url("Record"), Digits="3", RecordingUrl=fake_twilio.add_recording(fake_recording_bytes()),
                      RecordingDuration="1")
    assert "您家现在有0分" in doc.spoken and _requests(voice_services) == []
    caller = call(WANG)
    doc = caller.post(KEY_URL, Digits="1")
    doc = caller.post(doc.url("Gather"), Digits="3")
    doc = caller.post(doc.url("Record"), Digits="#", RecordingUrl=fake_twilio.add_recording(fake_recording_bytes()),
                      RecordingDuration="7")  # a real message ended with #: a request
    assert len(_requests(voice_services)) == 1


def test_a_repeat_arriving_while_the_first_is_served_waits_and_gets_the_same_answer(world, call, voice_services):
    from core.phone.receipts import claim_webhook, receipt_key, store_webhook_response

    caller = call(WANG)
    params = {"tries": "1", "failures": "0", "_t": "feedc0ffee00"}
    key = receipt_key("menu/key", params, {"Digits": "3"})
    assert claim_webhook(voice_services.session_factory, now=voice_services.clock.now(), call_id=caller.sid,
                         key=key).first  # the first delivery is still being served
    url = f"{PUBLIC_BASE}/voice/twilio/menu/key?tries=1&failures=0&_t=feedc0ffee00"
    doc = caller.post(url, Digits="3")
    assert doc.verbs == ["Pause", "Redirect"] and not doc.spoken
    store_webhook_response(voice_services.session_factory, call_id=caller.sid, key=key, response="<Response/>")
    assert caller.post(doc.url("Redirect")).raw == "<Response/>"


def test_an_unmapped_number_gives_unknown_callers_to_the_configured_village(world, call, voice_services,
                                                                          monkeypatch):
    settings = voice_services.settings
    monkeypatch.setattr(voice_services, "settings", settings.model_copy(update={"voice": settings.voice.model_copy(
        update={"unknown_caller_village": world.villages[1].id})}))
    call(STRANGER).post(KEY_URL, Digits="0")
    with voice_services.session_factory() as s:
        assert s.scalar(sa.select(CallLog.village_id)) == world.villages[1].id
