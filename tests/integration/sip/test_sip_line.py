"""The village line over real SIP on 127.0.0.1: keys by both DTMF methods, speech, silence, hang-ups, 486."""

from __future__ import annotations

import sqlalchemy as sa

from core.models.calls import CallRecording
from core.models.requests import Request
from tests.integration.sip.conftest import HEAD, WANG, wait_until


def test_keys_by_rfc2833_route_the_menu_and_a_spoken_report_becomes_a_request_with_its_recording(line, phones):
    wang = phones(WANG)
    call = wang.call(line.uri)
    start = wang.now()
    wang.until_loud(call, start)  # the greeting starts
    wang.send(cmd="dtmf", id=call, digits="1", method="rfc2833")  # barge-in: 1 报告问题
    wait_until(lambda: line.path_has(WANG, "key:1"), 10, "key 1 to reach the flow")
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


def test_the_line_hangs_up_after_goodbye(line, phones):
    head = phones(HEAD)  # 李院长 calls in: known caller
    call = head.call(line.uri)
    head.until_loud(call, head.now())
    head.send(cmd="dtmf", id=call, digits="4", method="rfc2833")  # 4 → submenu
    wait_until(lambda: line.path_has(HEAD, "key:4"), 10, "key 4")
    head.send(cmd="dtmf", id=call, digits="2", method="rfc2833")  # 找活干 → jobs read out
    wait_until(lambda: line.path_has(HEAD, "jobs"), 10, "the jobs step")
    head.send(cmd="dtmf", id=call, digits="9", method="rfc2833")  # not 1: back to the menu … then silence
    ended = head.wait("ended", id=call, timeout=90)  # silent twice → 院长 … eventually the line hangs up
    assert ended["code"] in (200, 487, 603) or ended["code"] >= 200
