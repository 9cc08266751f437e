"""Issue 10 §6 — the one-key call covers the household: chain union, keypress deadline, machine detection,
starts per box."""

from __future__ import annotations

import sqlalchemy as sa

from core.db import transaction
from core.models.helpcalls import HelpCall, HelpCallLeg
from core.models.outbox import OutboxMessage
from core.models.places import CaregiverLink, Resident, Village
from core.phone.dialler import advance_help_call, sweep_help_calls
from core.phone.helpcalls import cancel_help_call, help_call_status, start_help_call
from tests.integration.voice.conftest import LINE_NUMBER, signed_post, twiml

SON, HEAD_A, DOCTOR = "+8613800001111", "+8613900000000", "+8613900000020"
DAUGHTER, DUTY = "+8613800002222", "+8613900000099"


def _add_husband_with_chain(services, world) -> None:
    """王奶奶's household gets a second member whose chain is his daughter, then the same 院长."""
    with transaction(services.session_factory) as s:
        husband = Resident(household_id=world.households[0].id, name="王大爷", birth_year=1940,
                           created_at=services.clock.now())
        s.add(husband)
        s.flush()
        s.add_all([
            CaregiverLink(resident_id=husband.id, position=1, kind="family", name="王小红", relation="女儿",
                          phone=DAUGHTER, channels=["dryrun"]),
            CaregiverLink(resident_id=husband.id, position=2, kind="courtyard_head", name="李院长", phone=HEAD_A,
                          channels=["dryrun"], user_id=world.users["head_a"].id),
        ])
        s.get(Village, world.villages[0].id).duty_phone = DUTY


def _start(services, world, box_id: int | None = None) -> HelpCall:
    with transaction(services.session_factory) as s:
        call = start_help_call(s, now=services.clock.now(), household_id=world.households[0].id, source="tv",
                               box_id=box_id)
        s.expunge(call)
    advance_help_call(services, call.id)
    return call


def _status(client, placed: dict, status: str, **extra: str):
    return twiml(signed_post(client, placed["StatusCallback"], {"CallSid": placed["sid"], "CallStatus": status,
                                                               "To": placed["To"], **extra}))


def _answer(client, placed: dict, **extra: str):
    return twiml(signed_post(client, placed["Url"], {"CallSid": placed["sid"], "To": placed["To"],
                                                      "From": LINE_NUMBER, "CallStatus": "in-progress", **extra}))


def _legs(services, call_id: int) -> list[HelpCallLeg]:
    with services.session_factory() as s:
        return list(s.scalars(sa.select(HelpCallLeg).where(HelpCallLeg.help_call_id == call_id)
                              .order_by(HelpCallLeg.id)))


def test_the_chain_is_every_members_chain_then_the_head_then_the_duty_phone(world, voice_services, voice_client,
                                                                            fake_twilio):
    _add_husband_with_chain(voice_services, world)
    call = _start(voice_services, world)
    assert [(e["name"], e["phone"]) for e in call.chain] == [
        ("王小明", SON), ("王小红", DAUGHTER), ("李院长", HEAD_A), ("赵医生", DOCTOR), ("村值班电话", DUTY)]
    for _ in range(4):
        _status(voice_client, fake_twilio.calls[-1], "no-answer")
    assert [c["To"] for c in fake_twilio.calls] == [SON, DAUGHTER, HEAD_A, DOCTOR, DUTY]  # everyone once


def test_the_keypress_deadline_covers_the_whole_repeated_prompt(world, voice_services, voice_client, fake_twilio,
                                                                clock):
    call = _start(voice_services, world)
    son = fake_twilio.calls[-1]
    _status(voice_client, son, "in-progress")  # the callback sets the configured 45 s …
    doc = _answer(voice_client, son)
    assert doc.spoken.startswith("王奶奶一键呼叫求助，按1接通")  # name first, 按1接通 early …
    assert len(doc.all("Gather")) == 3  # … and repeated
    clock.advance(seconds=50)  # … but three rounds of the prompt take longer
    sweep_help_calls(voice_services)
    assert len(fake_twilio.calls) == 1 and _legs(voice_services, call.id)[0].status == "answered"
    doc = twiml(signed_post(voice_client, doc.url("Gather"), {"CallSid": son["sid"], "Digits": "1"}))
    assert _legs(voice_services, call.id)[0].status == "accepted"
    clock.advance(seconds=120)
    sweep_help_calls(voice_services)
    assert len(fake_twilio.calls) == 1


def test_an_answering_machine_moves_the_call_on_at_once(world, voice_services, voice_client, fake_twilio):
    call = _start(voice_services, world)
    son = fake_twilio.calls[-1]
    assert son["MachineDetection"] == "Enable"
    doc = _answer(voice_client, son, AnsweredBy="machine_start")
    assert doc.verbs == ["Hangup"]
    assert [c["To"] for c in fake_twilio.calls] == [SON, HEAD_A]
    assert _legs(voice_services, call.id)[0].status == "declined"


def test_a_human_answer_by_detection_still_needs_the_keypress(world, voice_services, voice_client, fake_twilio):
    call = _start(voice_services, world)
    doc = _answer(voice_client, fake_twilio.calls[-1], AnsweredBy="human")
    assert doc.all("Gather") and _legs(voice_services, call.id)[0].status == "answered"


def test_a_box_starts_at_most_three_calls_in_ten_minutes_then_staff_are_told(world, voice_services, fake_twilio,
                                                                           clock):
    for _ in range(3):
        call = _start(voice_services, world, box_id=7)
        with transaction(voice_services.session_factory) as s:
            cancel_help_call(s, now=clock.now(), help_call_id=call.id)
        clock.advance(seconds=60)
    placed = len(fake_twilio.calls)
    fourth = _start(voice_services, world, box_id=7)
    assert fourth.status == "told" and len(fake_twilio.calls) == placed  # nobody dialled
    with voice_services.session_factory() as s:
        told = list(s.scalars(sa.select(OutboxMessage).where(OutboxMessage.template == "helpcall.too_many")))
        assert [m.recipient_user_id for m in told] == [world.users["head_a"].id]
        assert help_call_status(s, fourth.id)["current"] == "已经告诉院长和村上值班的人，会有人尽快联系您"
    fifth = _start(voice_services, world, box_id=7)
    assert fifth.id == fourth.id  # staff are told once, not per press
    clock.advance(minutes=10)
    _start(voice_services, world, box_id=7)
    assert len(fake_twilio.calls) == placed + 1  # a new window dials again
