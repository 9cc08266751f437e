"""The one-key-call dialler against the fake Twilio API: every leg outcome, odd callbacks, restarts."""

from __future__ import annotations

import sqlalchemy as sa

from core.container import Services
from core.db import transaction
from core.models.helpcalls import HelpCall, HelpCallLeg
from core.models.outbox import OutboxMessage
from core.models.requests import Request
from core.phone.dialler import advance_help_call, sweep_help_calls
from core.phone.helpcalls import help_call_status, start_help_call
from core.phone.telephony.twilio_provider import TwilioTelephony
from tests.integration.voice.conftest import ACCOUNT_SID, AUTH_TOKEN, LINE_NUMBER, signed_post, twiml

SON, HEAD_A, DOCTOR = "+8613800001111", "+8613900000000", "+8613900000020"
WANG_PHONE = "+8613800000000"


def _start(services, world) -> int:
    with transaction(services.session_factory) as s:
        call_id = start_help_call(s, now=services.clock.now(), household_id=world.households[0].id, source="tv").id
    advance_help_call(services, call_id)
    return call_id


def _status(client, placed: dict, status: str, **extra: str):
    return twiml(signed_post(client, placed["StatusCallback"], {"CallSid": placed["sid"], "CallStatus": status,
                                                               "To": placed["To"], **extra}))


def _answer(client, placed: dict):
    return twiml(signed_post(client, placed["Url"], {"CallSid": placed["sid"], "To": placed["To"],
                                                      "From": LINE_NUMBER, "CallStatus": "in-progress"}))


def _press(client, placed: dict, url: str, digits: str):
    return twiml(signed_post(client, url, {"CallSid": placed["sid"], "Digits": digits, "To": placed["To"]}))


def _call(services, call_id: int) -> tuple[HelpCall, list[HelpCallLeg]]:
    with services.session_factory() as s:
        call = s.get(HelpCall, call_id)
        legs = list(s.scalars(sa.select(HelpCallLeg).where(HelpCallLeg.help_call_id == call_id)
                              .order_by(HelpCallLeg.id)))
        return call, legs


def test_s1_son_silent_head_answers_presses_1_and_is_bridged(world, voice_services, voice_client,
                                                               fake_twilio, clock):
    """SCENARIOS S1: no answer from the son after 20 s; the 院长 presses 1 and is put through."""
    call_id = _start(voice_services, world)
    [first] = fake_twilio.calls
    assert first["To"] == SON and first["Timeout"] == "20" and "/voice/twilio/help/answer?leg=" in first["Url"]
    assert first["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    _status(voice_client, first, "ringing")
    clock.advance(seconds=20)
    _status(voice_client, first, "no-answer")
    second = fake_twilio.calls[-1]
    assert second["To"] == HEAD_A
    with voice_services.session_factory() as s:
        steps = help_call_status(s, call_id)["steps"]
    assert any("王小明（儿子） 无人接听" in step for step in steps)
    doc = _answer(voice_client, second)
    assert doc.spoken.startswith("王奶奶一键呼叫求助，按1接通") and "椒香小院1号户的王奶奶" in doc.spoken
    doc = _press(voice_client, second, doc.url("Gather"), "1")
    number = doc.first("Number")
    assert number.text == WANG_PHONE and doc.first("Dial").get("action")
    call, _ = _call(voice_services, call_id)
    assert call.status == "reached" and call.reached_name == "李院长"
    twiml(signed_post(voice_client, number.get("statusCallback"), {"CallSid": "CA" + "9" * 32,
                                                                   "CallStatus": "in-progress"}))
    call, legs = _call(voice_services, call_id)
    assert call.status == "bridged"
    assert [(leg.name, leg.status) for leg in legs] == [("王小明", "no_answer"), ("李院长", "accepted")]
    with voice_services.session_factory() as s:
        assert help_call_status(s, call_id)["current"] == "已接通"


def test_each_failure_moves_to_the_next_person(world, voice_services, voice_client, fake_twilio):
    call_id = _start(voice_services, world)
    _status(voice_client, fake_twilio.calls[-1], "busy")
    assert fake_twilio.calls[-1]["To"] == HEAD_A
    _status(voice_client, fake_twilio.calls[-1], "failed")
    assert fake_twilio.calls[-1]["To"] == DOCTOR
    # Voicemail: the call is answered and completes, but nobody presses 1.
    _answer(voice_client, fake_twilio.calls[-1])
    _status(voice_client, fake_twilio.calls[-1], "completed", CallDuration="31")
    call, legs = _call(voice_services, call_id)
    assert [leg.status for leg in legs] == ["busy", "failed", "declined"]
    assert call.status == "failed_round"


def test_whole_chain_failing_tells_everyone_files_an_urgent_request_and_retries(world, voice_services,
                                                                                 voice_client, fake_twilio, clock):
    call_id = _start(voice_services, world)
    for _ in range(3):
        _status(voice_client, fake_twilio.calls[-1], "no-answer")
    call, _ = _call(voice_services, call_id)
    assert call.status == "failed_round" and len(fake_twilio.calls) == 3
    with voice_services.session_factory() as s:
        messages = list(s.scalars(sa.select(OutboxMessage).where(OutboxMessage.template == "helpcall.unanswered")))
        assert {m.recipient_name for m in messages} == {"王小明", "李院长", "赵医生"}
        assert all(m.priority == 0 for m in messages)
        [req] = s.scalars(sa.select(Request)).all()
        assert req.type == "help" and req.urgent and req.assignee_id == world.users["head_a"].id
    sweep_help_calls(voice_services)
    assert len(fake_twilio.calls) == 3  # not before the configured delay
    clock.advance(seconds=301)
    sweep_help_calls(voice_services)
    assert len(fake_twilio.calls) == 4 and fake_twilio.calls[-1]["To"] == SON
    for _ in range(3):
        _status(voice_client, fake_twilio.calls[-1], "no-answer")
    call, legs = _call(voice_services, call_id)
    assert call.status == "failed" and call.ended_at is not None and len(legs) == 6
    with voice_services.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Request)) == 1  # one request, not one per round


def test_repeated_and_out_of_order_callbacks_are_harmless(world, voice_services, voice_client,
                                                          fake_twilio):
    call_id = _start(voice_services, world)
    first = fake_twilio.calls[-1]
    _status(voice_client, first, "no-answer")
    _status(voice_client, first, "no-answer")  # repeated
    _status(voice_client, first, "ringing")  # late
    _status(voice_client, first, "completed")  # after the end
    assert [c["To"] for c in fake_twilio.calls] == [SON, HEAD_A]
    second = fake_twilio.calls[-1]
    _status(voice_client, second, "completed")  # completed before ringing (never answered)
    _status(voice_client, second, "ringing")
    _, legs = _call(voice_services, call_id)
    assert [leg.status for leg in legs] == ["no_answer", "completed", "ringing"]
    assert [c["To"] for c in fake_twilio.calls] == [SON, HEAD_A, DOCTOR]


def test_a_restart_mid_chain_loses_nothing(world, voice_services, voice_client, fake_twilio, clock):
    call_id = _start(voice_services, world)
    first = fake_twilio.calls[-1]
    _status(voice_client, first, "ringing")
    # The process dies; the no-answer callback is lost. A new process has fresh services.
    restarted = Services(settings=voice_services.settings, session_factory=voice_services.session_factory,
                         clock=clock, telephony=TwilioTelephony(ACCOUNT_SID, AUTH_TOKEN, LINE_NUMBER,
                                                                voice_services.settings.twilio.api_base))
    sweep_help_calls(restarted)
    assert len(fake_twilio.calls) == 1  # still within the ring time
    clock.advance(seconds=36)
    sweep_help_calls(restarted)
    assert fake_twilio.calls[-1]["To"] == HEAD_A
    assert fake_twilio.updates[-1] == {"sid": first["sid"], "Status": "completed"}  # the old leg is hung up
    sweep_help_calls(restarted)
    assert len(fake_twilio.calls) == 2
    _, legs = _call(voice_services, call_id)
    assert [leg.status for leg in legs] == ["no_answer", "ringing"]


def test_answered_without_a_keypress_times_out_to_the_next_person(world, voice_services, voice_client,
                                                                  fake_twilio, clock):
    _start(voice_services, world)
    _answer(voice_client, fake_twilio.calls[-1])
    clock.advance(seconds=30)
    sweep_help_calls(voice_services)
    assert len(fake_twilio.calls) == 1  # still time to hear the message and press 1
    clock.advance(seconds=30)  # past the whole prompt, three times over, and the time to press
    sweep_help_calls(voice_services)
    assert fake_twilio.calls[-1]["To"] == HEAD_A


def test_a_wrong_key_asks_again_and_a_late_second_acceptor_is_thanked(world, voice_services,
                                                                      voice_client, fake_twilio, clock):
    call_id = _start(voice_services, world)
    son = fake_twilio.calls[-1]
    doc = _answer(voice_client, son)
    again = _press(voice_client, son, doc.url("Gather"), "5")
    assert "按1接通" in again.spoken
    clock.advance(seconds=60)
    sweep_help_calls(voice_services)  # the son was too slow: the 院长 is called
    head = fake_twilio.calls[-1]
    hdoc = _answer(voice_client, head)
    _press(voice_client, head, hdoc.url("Gather"), "1")
    late = _press(voice_client, son, again.url("Gather"), "1")
    assert "已经有人接通了" in late.spoken
    call, _ = _call(voice_services, call_id)
    assert call.reached_name == "李院长"


def test_without_a_phone_on_file_the_caregiver_is_asked_to_call_or_visit(world, voice_services,
                                                                        voice_client, fake_twilio):
    from core.models.places import Household, Resident

    with transaction(voice_services.session_factory) as s:
        s.get(Resident, world.residents[0].id).phone = None
        s.get(Household, world.households[0].id).landline = None
    call_id = _start(voice_services, world)
    son = fake_twilio.calls[-1]
    doc = _press(voice_client, son, _answer(voice_client, son).url("Gather"), "1")
    assert "上门看看" in doc.spoken and doc.verbs[-1] == "Hangup"
    call, _ = _call(voice_services, call_id)
    assert call.status == "reached"


def test_a_refused_dial_moves_straight_on(world, voice_services, fake_twilio):
    fake_twilio.fail_next_call = 400
    call_id = _start(voice_services, world)
    assert [c["To"] for c in fake_twilio.calls] == [HEAD_A]
    _, legs = _call(voice_services, call_id)
    assert [leg.status for leg in legs] == ["failed", "ringing"]


def test_dry_run_records_calls_as_not_sent_and_nobody_answers(world, session_factory, clock,
                                                             voice_settings):
    from core.models.calls import DryRunRecord
    from core.phone.telephony.factory import make_telephony

    settings = voice_settings.model_copy(update={"telephony": voice_settings.telephony.model_copy(
        update={"provider": "dryrun"})})
    services = Services(settings=settings, session_factory=session_factory, clock=clock)
    services.telephony = make_telephony(settings, session_factory, clock)
    call_id = _start(services, world)
    call, legs = _call(services, call_id)
    assert call.dryrun and [leg.status for leg in legs] == ["ringing"]
    clock.advance(seconds=40)
    sweep_help_calls(services)
    call, legs = _call(services, call_id)
    assert [leg.status for leg in legs] == ["no_answer", "ringing"]
    with session_factory() as s:
        records = list(s.scalars(sa.select(DryRunRecord).where(DryRunRecord.kind == "call")))
        assert [r.to_number for r in records] == [SON, HEAD_A] and {r.status for r in records} == {"not_sent"}


def test_dry_run_demo_answer_pretends_only_when_asked(world, session_factory, clock, voice_settings):
    from core.phone.telephony.factory import make_telephony

    settings = voice_settings.model_copy(update={"telephony": voice_settings.telephony.model_copy(
        update={"provider": "dryrun", "demo_answer": True})})
    services = Services(settings=settings, session_factory=session_factory, clock=clock)
    services.telephony = make_telephony(settings, session_factory, clock)
    call_id = _start(services, world)
    call, legs = _call(services, call_id)
    assert call.status == "reached" and legs[0].status == "accepted"
