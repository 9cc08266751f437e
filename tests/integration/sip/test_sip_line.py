"""The village line over real SIP on 127.0.0.1: keys by both DTMF methods, speech, silence, hang-ups, 486."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.models.calls import CallRecording
from core.models.requests import Request
from tests.integration.sip.conftest import WANG, wait_until

pytestmark = pytest.mark.slow  # real SIP calls between processes


def test_keys_by_rfc2833_route_the_menu_and_a_spoken_report_becomes_a_request_with_its_recording(line, phones):
    wang = phones(WANG)
    call = wang.call(line.uri)
    start = wang.now()
    wang.until_loud(call, start)  # the greeting starts
    wang.send(cmd="dtmf", id=call, digits="1", method="rfc2833")  # barge-in: 1 报告问题
    wait_until(lambda: line.path_has(WANG, "key:1"), 10, "key 1 to reach the flow")
    wang.until_loud(call, wang.now())  # "what kind?" …
    wang.send(cmd="dtmf", id=call, digits="1", method="rfc2833")  # … 1 垃圾、卫生
    wait_until(lambda: line.path_has(WANG, "report:1"), 10, "the kind of problem to reach the flow")
    after_prompt = wang.until_quiet(call, wang.now())  # the report prompt, then the beep
    wang.send(cmd="play", id=call, ms=2500)  # the caller talks for 2.5 s
    entry = wait_until(lambda: line.call_log(WANG) if any(s.startswith("request:") for s in
                                                        (line.call_log(WANG).path or [])) else None,
                       20, "the message to become a request")
    with line.services.session_factory() as session:
        req = session.get(Request, entry.request_id)
        assert req.type == "environment" and req.channel == "phone"
        rec = session.scalar(sa.select(CallRecording).where(CallRecording.call_log_id == entry.id))
        assert rec.local_file and (line.data_dir / rec.local_file).stat().st_size > 8000 * 2  # ≥ 2 s kept
    assert after_prompt > start
    wang.send(cmd="hangup", id=call)
    wang.wait("ended", id=call)
    closed = wait_until(lambda: (e := line.call_log(WANG)) is not None and e.ended_at is not None and e, 10,
                        "the call log to be closed")
    assert closed.status == "completed" and closed.duration_s is not None


def test_a_key_sent_by_sip_info_reads_the_points(line, phones):
    wang = phones(WANG)
    call = wang.call(line.uri)
    wang.until_loud(call, wang.now())
    wang.send(cmd="dtmf", id=call, digits="3", method="info")
    assert wait_until(lambda: line.path_has(WANG, "points"), 10, "the points step")
    wang.send(cmd="hangup", id=call)
    wang.wait("ended", id=call)


def test_the_line_hangs_up_by_itself_after_goodbye(line, phones):
    wang = phones(WANG)
    call = wang.call(line.uri)
    wang.until_loud(call, wang.now())
    wang.send(cmd="dtmf", id=call, digits="4", method="rfc2833")  # 4 → 帮我卖 / 找活干
    wait_until(lambda: line.path_has(WANG, "key:4"), 10, "key 4")
    wang.send(cmd="dtmf", id=call, digits="2", method="info")  # 找活干: the jobs are read out
    wait_until(lambda: line.path_has(WANG, "jobs"), 10, "the jobs step")
    wang.send(cmd="dtmf", id=call, digits="1", method="rfc2833")  # 1: ask the 院长 to look out for work
    entry = wait_until(lambda: line.path_has(WANG, "jobs") if (line.call_log(WANG).request_id) else None, 10,
                       "the 找活干 request")
    assert entry.outcome == "request_created"
    ended = wang.wait("ended", id=call, timeout=90)  # "anything else?" unanswered → goodbye → the line hangs up
    assert ended["code"] == 200
    closed = wait_until(lambda: (e := line.call_log(WANG)) is not None and e.ended_at is not None and e, 10,
                        "the call log to be closed")
    assert closed.path[-1].startswith("request:"), closed.path  # the goodbye followed the request, nothing between


def test_a_fifth_call_gets_486_busy_and_is_counted(line, phones):
    first, second = phones(WANG), phones("13800000001")
    calls = [first.call(line.uri) for _ in range(3)] + [second.call(line.uri)]
    before = line.endpoint().busy_rejected
    second.send(cmd="call", to=line.uri)
    fifth = second.wait("calling")["id"]
    ended = second.wait("ended", id=fifth)
    assert ended["code"] == 486
    assert wait_until(lambda: line.endpoint().busy_rejected > before, 15, "the 486 in the heartbeat counters")
    for index, call in enumerate(calls):
        (first if index < 3 else second).send(cmd="hangup", id=call)
