"""What watch frames mean: replies byte for byte, telemetry and events on the MQTT contract, stable seqs."""

from __future__ import annotations

import datetime as dt

import pytest

from core.clock import UTC
from devices.schemas import EventPayload, TelemetryPayload, parse_payload
from devices.watch.decoder import decode_frame, event_seq
from devices.watch.frames import Frame, FrameReader, encode_frame, reply_to

NOW = dt.datetime(2026, 11, 30, 5, 0, 0, tzinfo=UTC)
ID = "8800000015"


def frame(content: str, index: str | None = None, mf: str = "3G") -> Frame:
    (parsed,) = FrameReader().feed(encode_frame(mf, ID, index, content))
    assert isinstance(parsed, Frame)
    return parsed


def position(kind: str, status: str, *, date: str = "301126", time: str = "045930", fix: str = "A",
             battery: str = "88", steps: str = "1200") -> str:
    return (f"{kind},{date},{time},{fix},29.563010,N,106.551556,E,0.00,95.7,0.0,9,100,{battery},{steps},0,"
            f"{status},4,1,460,0,9346,13191,160,9346,13192,150,9346,13193,140,"
            "2,home,aa:bb:cc:dd:ee:ff,-50,work,11:22:33:44:55:66,-70")


def reply(content: str, index: str | None = None) -> bytes | None:
    f = frame(content, index)
    decoded = decode_frame(f, received_at=NOW)
    return reply_to(f, decoded.reply) if decoded.reply is not None else None


def valid(kind: str, payload: dict) -> TelemetryPayload | EventPayload:
    """The published payload passes the listener's own validation (nothing the gateway sends is dropped)."""
    import json

    parsed = parse_payload(kind, json.dumps(payload).encode(), now=NOW, max_future_s=600, max_past_s=7 * 86400)
    assert isinstance(parsed, (TelemetryPayload, EventPayload)), parsed
    return parsed


def test_replies_byte_for_byte():
    assert reply("LK") == b"[3G*8800000015*0002*LK]"
    assert reply("LK,50,100,88", index="00A3") == b"[3G*8800000015*00A3*0002*LK]"
    assert reply("INIT,13800138000,1,1,1") == b"[3G*8800000015*0006*INIT,1]"
    assert reply("TKQ") == b"[3G*8800000015*0003*TKQ]"
    assert reply("TKQ2", index="0001") == b"[3G*8800000015*0001*0004*TKQ2]"
    assert reply(position("AL", "00010000")) == b"[3G*8800000015*0002*AL]"
    assert reply(position("AL_LTE", "00010000"), index="0102") == b"[3G*8800000015*0102*0002*AL]"
    assert reply(position("UD", "00000000")) is None
    assert reply("bphrt,120,79,73") is None


def test_a_vendor_prefix_other_than_3g_is_mirrored():
    f = frame("LK", mf="CS")
    assert reply_to(f, decode_frame(f, received_at=NOW).reply) == b"[CS*8800000015*0002*LK]"


def test_link_with_values_is_steps_and_battery_telemetry():
    decoded = decode_frame(frame("LK,4321,0,76"), received_at=NOW)
    assert decoded.telemetry == {"ts": NOW.timestamp(), "steps": 4321, "battery": 76}
    assert decode_frame(frame("LK"), received_at=NOW).telemetry is None


@pytest.mark.parametrize("kind", ["UD", "UD2", "UD_LTE", "WT"])
def test_position_frames_are_telemetry_with_the_watch_time(kind):
    decoded = decode_frame(frame(position(kind, "00000010")), received_at=NOW)
    assert decoded.events == () and decoded.reply is None
    assert decoded.telemetry == {"ts": dt.datetime(2026, 11, 30, 4, 59, 30, tzinfo=UTC).timestamp(), "worn": True,
                                 "battery": 88, "steps": 1200, "lat": 29.56301, "lon": 106.551556}
    assert decoded.extra["motion"] is True
    valid("telemetry", decoded.telemetry)


def test_southern_western_hemispheres_and_no_fix():
    content = position("UD", "0").replace("N,106", "S,106").replace("106.551556,E", "106.551556,W")
    assert (decode_frame(frame(content), received_at=NOW).telemetry["lat"],
            decode_frame(frame(content), received_at=NOW).telemetry["lon"]) == (-29.56301, -106.551556)
    no_fix = decode_frame(frame(position("UD", "0", fix="V")), received_at=NOW).telemetry
    assert "lat" not in no_fix and "lon" not in no_fix


@pytest.mark.parametrize(("status", "events"), [
    ("00010000", ["sos"]),
    ("00200000", ["fall"]),
    ("00400000", ["fall"]),
    ("00100000", ["removed"]),
    ("00000001", ["low_battery"]),
    ("00020000", ["low_battery"]),
    ("00000010", []),  # motion only
    ("00310001", ["sos", "fall", "removed", "low_battery"]),
])
def test_alarm_status_bits_become_events(status, events):
    decoded = decode_frame(frame(position("AL", status)), received_at=NOW)
    assert [e.type for e in decoded.events] == events
    for event in decoded.events:
        parsed = valid("event", event.payload())
        assert (parsed.lat, parsed.lon, parsed.battery) == (29.56301, 106.551556, 88)


def test_removed_bit_says_not_worn():
    assert decode_frame(frame(position("UD", "00100000")), received_at=NOW).telemetry["worn"] is False


def test_status_bits_in_a_plain_position_frame_raise_nothing():
    # Only an alarm frame is an alarm: a UD with a stale SOS bit must not raise a second alert later.
    assert decode_frame(frame(position("UD", "00010000")), received_at=NOW).events == ()


def test_a_resent_alarm_has_the_same_seq_and_another_alarm_another():
    first = decode_frame(frame(position("AL", "00010000"), index="0001"), received_at=NOW)
    resent = decode_frame(frame(position("AL", "00010000"), index="0007"), received_at=NOW + dt.timedelta(minutes=3))
    later = decode_frame(frame(position("AL", "00010000", time="050210")), received_at=NOW)
    fall = decode_frame(frame(position("AL", "00200000")), received_at=NOW)
    assert first.events[0].seq == resent.events[0].seq
    assert len({first.events[0].seq, later.events[0].seq, fall.events[0].seq}) == 3


def test_without_a_valid_time_the_seq_comes_from_the_content_and_the_ts_from_the_gateway():
    content = position("AL", "00010000", date="000000", time="000000")
    a = decode_frame(frame(content), received_at=NOW)
    b = decode_frame(frame(content), received_at=NOW + dt.timedelta(seconds=30))
    assert a.events[0].seq == b.events[0].seq >= 2**52
    assert a.events[0].ts == NOW.timestamp()
    valid("event", a.events[0].payload())


def test_a_watch_clock_in_local_time_is_shifted_by_the_configured_offset():
    beijing = position("UD", "0", time="125930")  # 12:59:30 +08:00 is 04:59:30 UTC
    assert decode_frame(frame(beijing), received_at=NOW, utc_offset=dt.timedelta(hours=8)).telemetry["ts"] == \
        dt.datetime(2026, 11, 30, 4, 59, 30, tzinfo=UTC).timestamp()


def test_a_clock_far_off_is_replaced_by_the_receive_time_so_the_alarm_is_not_dropped_as_future():
    ahead = decode_frame(frame(position("AL", "00010000", time="125930")), received_at=NOW)
    assert ahead.events[0].ts == NOW.timestamp()
    valid("event", ahead.events[0].payload())
    assert ahead.events[0].seq == event_seq("sos", dt.datetime(2026, 11, 30, 12, 59, 30), b"")


def test_health_frames_become_vitals():
    def telemetry(content):
        return decode_frame(frame(content), received_at=NOW).telemetry

    assert telemetry("bphrt,120,79,73,,,,") == {"ts": NOW.timestamp(), "sbp": 120, "dbp": 79, "hr": 73}
    assert telemetry("blood,135,88") == {"ts": NOW.timestamp(), "sbp": 135, "dbp": 88}
    assert telemetry("heart,72") == {"ts": NOW.timestamp(), "hr": 72}
    assert telemetry("PULSE,64") == {"ts": NOW.timestamp(), "hr": 64}
    assert telemetry("btemp2,1,36.55") == {"ts": NOW.timestamp(), "temp_c": 36.5}
    assert telemetry("btemp2,0,36.5") is None  # flag 0: no measurement
    assert telemetry("heart,0") is None  # a failed measurement is not a heart rate of 0
    valid("telemetry", telemetry("bphrt,120,79,73"))


@pytest.mark.parametrize("content", ["heart", "heart,abc", "bphrt,120", "btemp2", "UD,301126,045930,A",
                                     position("UD", "zz")])
def test_known_types_with_unreadable_values_are_malformed_not_crashes(content):
    decoded = decode_frame(frame(content), received_at=NOW)
    assert decoded.malformed and decoded.telemetry is None and decoded.events == ()


def test_a_malformed_alarm_is_still_answered_so_the_watch_stops_resending():
    decoded = decode_frame(frame("AL,garbage"), received_at=NOW)
    assert decoded.malformed and decoded.reply == "AL"


def test_unknown_types_and_command_answers():
    assert decode_frame(frame("PHOTO,1"), received_at=NOW).known is False
    assert decode_frame(frame("CR"), received_at=NOW).ack is True
    assert decode_frame(frame("SOS1"), received_at=NOW).ack is True
