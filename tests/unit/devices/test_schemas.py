"""Edge validation: topics and payloads that do not fit the contract are named and dropped."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core.clock import UTC
from devices.schemas import EventPayload, Rejected, StatusPayload, TelemetryPayload, parse_payload, parse_topic

NOW = dt.datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
LIMITS = {"now": NOW, "max_future_s": 600, "max_past_s": 7 * 86400}


def parse(kind: str, data) -> object:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return parse_payload(kind, raw, **LIMITS)


def test_topic_contract():
    topic = parse_topic("xiaoyuan/v1/hut1/band/864001/event", "xiaoyuan/v1")
    assert (topic.site, topic.device_id, topic.kind) == ("hut1", "864001", "event")
    for bad in ("xiaoyuan/v1/hut1/band/864001", "xiaoyuan/v1/hut1/watch/1/event", "other/hut1/band/1/event",
                "xiaoyuan/v1/hut1/band/1/cmd", "xiaoyuan/v1//band/1/event"):
        assert parse_topic(bad, "xiaoyuan/v1") == Rejected("bad_topic")


def test_valid_telemetry_with_unix_or_iso_timestamps():
    a = parse("telemetry", {"ts": NOW.timestamp(), "hr": 72, "spo2": 97, "temp_c": 36, "worn": True})
    b = parse("telemetry", {"ts": "2026-11-26T10:00:00+08:00", "hr": 72})
    assert isinstance(a, TelemetryPayload) and a.temp_c == 36.0 and a.ts == NOW
    assert isinstance(b, TelemetryPayload) and b.ts == NOW


@pytest.mark.parametrize(("payload", "reason"), [
    (b"{not json", "malformed_json"),
    (b"[1, 2]", "malformed_json"),
    (b"\xff\xfe\x00", "malformed_json"),
    ({"hr": 70}, "invalid"),                                          # no timestamp
    ({"ts": NOW.timestamp(), "hr": "70"}, "invalid"),                 # wrong type
    ({"ts": NOW.timestamp(), "hr": 400}, "invalid"),                  # absurd value
    ({"ts": NOW.timestamp(), "spo2": 130}, "invalid"),
    ({"ts": NOW.timestamp(), "temp_c": float("nan")}, "invalid"),
    ({"ts": True, "hr": 70}, "invalid"),
    ({"ts": NOW.timestamp() + 3600, "hr": 70}, "future_ts"),
    ({"ts": NOW.timestamp() - 30 * 86400, "hr": 70}, "stale_ts"),
    (b"{" + b'"a":1,' * 2000 + b'"ts":1}', "too_large"),
])
def test_bad_telemetry_is_rejected_with_a_reason(payload, reason):
    result = parse("telemetry", payload)
    assert isinstance(result, Rejected) and result.reason == reason


def test_events_need_a_known_type_and_a_sequence_number():
    ok = parse("event", {"ts": NOW.timestamp(), "seq": 5, "type": "sos", "lat": 29, "lon": 106.5})
    assert isinstance(ok, EventPayload) and ok.seq == 5 and ok.lat == 29.0
    assert parse("event", {"ts": NOW.timestamp(), "type": "sos"}).reason == "invalid"
    assert parse("event", {"ts": NOW.timestamp(), "seq": 1, "type": "party"}).reason == "invalid"
    assert parse("event", {"ts": NOW.timestamp(), "seq": -1, "type": "sos"}).reason == "invalid"


def test_status_accepts_plain_and_json_forms():
    assert parse_payload("status", b"online", **LIMITS) == StatusPayload(True)
    assert parse_payload("status", b'{"state": "offline"}', **LIMITS) == StatusPayload(False)
    assert isinstance(parse_payload("status", b"maybe", **LIMITS), Rejected)
