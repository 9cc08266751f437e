"""The ingest path (what the listener's worker runs) against a real database, with a fake clock."""

from __future__ import annotations

import datetime as dt
import json
import random

import sqlalchemy as sa

from core.clock import UTC
from core.models.devices import Band, DeviceEvent, TelemetryReading
from devices.ingest import Counters, Ingestor
from devices.monitor import check_bands
from tests.integration.devices.helpers import alerts, msg, outbox, seed, ts


def count(services, model) -> int:
    with services.session_factory() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(model))


def test_sos_event_becomes_an_alert_and_outbox_rows_in_one_batch(services, clock):
    seed(services)
    ingest = Ingestor(services)
    ingest.process([msg("event", {"ts": ts(clock.now()), "seq": 1, "type": "sos", "lat": 29.5, "lon": 106.5},
                        qos=1)])
    (alert,) = alerts(services)
    assert (alert.type, alert.severity, alert.status, alert.lat) == ("sos", "critical", "notified", 29.5)
    assert {m.channel for m in outbox(services, subject_id=alert.id)} == {"voice_call", "dryrun"}
    with services.session_factory() as s:
        assert s.scalar(sa.select(DeviceEvent.alert_id)) == alert.id


def test_redelivered_events_are_recorded_once(services, clock):
    seed(services)
    ingest = Ingestor(services)
    events = [msg("event", {"ts": ts(clock.now()), "seq": n, "type": "fall"}, qos=1) for n in range(5)]
    ingest.process(events + events[:2])
    ingest.process(events)
    assert count(services, DeviceEvent) == 5
    assert len(alerts(services)) == 1  # and one open fall alert, not five
    assert ingest.counters.dropped["duplicate_event"] == 7


def test_every_reading_is_stored_and_the_band_state_follows(services, clock):
    _, band_id, _ = seed(services)
    ingest = Ingestor(services)
    ingest.process([msg("telemetry", {"ts": ts(clock.now()) - 60 + n, "hr": 70 + n, "battery": 80, "worn": True})
                    for n in range(50)])
    assert count(services, TelemetryReading) == 50
    with services.session_factory() as s:
        band = s.get(Band, band_id)
        assert (band.online, band.battery, band.last_reading["hr"], band.last_seen_at) == (True, 80, 119, clock.now())


def test_unknown_device_wrong_site_and_bad_topics_are_dropped_and_counted(services, clock):
    seed(services)
    ingest = Ingestor(services)
    sos = {"ts": ts(clock.now()), "seq": 1, "type": "sos"}
    ingest.process([msg("event", sos, device_id="999999"), msg("event", sos, site="other-hut"),
                    msg("event", sos, device_id="a/b")])
    assert alerts(services) == []
    assert ingest.counters.dropped == {"unknown_device": 1, "wrong_site": 1, "bad_topic": 1}


def test_sustained_tachycardia_alerts_and_the_all_clear_reaches_everyone_told(services, clock):
    seed(services)
    ingest = Ingestor(services)
    for _ in range(11):
        ingest.process([msg("telemetry", {"ts": ts(clock.now()), "hr": 135})])
        clock.advance(minutes=1)
    (alert,) = alerts(services)
    assert (alert.type, alert.severity, alert.status) == ("hr_high", "urgent", "notified")
    ingest.process([msg("telemetry", {"ts": ts(clock.now()), "hr": 80})])
    alert = alerts(services)[0]
    assert alert.status == "auto_cleared" and alert.open_key is None
    clear = outbox(services, template="alert.all_clear")
    assert [m.recipient_name for m in clear] == ["王小明"] and "已恢复" in clear[0].text


def test_s6_band_goes_quiet_warning_family_urgent_head_all_clear_everyone(services, clock):
    """S6: silent 14:00; 14:15 warning to the family; 15:00 urgent: 院长 told, family called; 15:20 back: 已恢复."""
    clock.set(dt.datetime(2026, 11, 26, 6, 0, tzinfo=UTC))  # 14:00 local
    seed(services)
    ingest = Ingestor(services)
    ingest.process([msg("telemetry", {"ts": ts(clock.now()), "hr": 72, "steps": 900, "battery": 3})])
    clock.advance(minutes=14)
    check_bands(services)
    assert [a for a in alerts(services) if a.type == "silent"] == []
    clock.advance(minutes=1)  # 14:15
    check_bands(services)
    (silent,) = [a for a in alerts(services) if a.type == "silent"]
    assert silent.severity == "warning"
    assert [m.recipient_name for m in outbox(services, subject_id=silent.id)] == ["王小明"]
    for _ in range(45):  # every minute until 15:00, as the scheduler would
        clock.advance(minutes=1)
        check_bands(services)
    silent = [a for a in alerts(services) if a.type == "silent"][0]
    assert silent.severity == "urgent"
    rows = [(m.recipient_name, m.channel) for m in outbox(services, subject_id=silent.id, template="alert.alert")]
    # 14:15 an SMS to the son; 15:00 the son is called too (issue 10 §3), and the 院长 gets a call + SMS.
    assert rows == [("王小明", "dryrun"), ("王小明", "voice_call"), ("李院长", "voice_call"), ("李院长", "dryrun")]
    clock.advance(minutes=20)  # 15:20 the band is back
    ingest.process([msg("telemetry", {"ts": ts(clock.now()), "hr": 75, "battery": 60})])
    silent = [a for a in alerts(services) if a.type == "silent"][0]
    assert silent.status == "auto_cleared"
    assert sorted(m.recipient_name for m in outbox(services, subject_id=silent.id, template="alert.all_clear")) == [
        "李院长", "王小明"]


FIELD_NAMES = ["ts", "seq", "type", "hr", "spo2", "temp_c", "battery", "worn", "lat", "lon", "steps"]


def hostile_value(rng: random.Random, depth: int = 0) -> object:
    """Any JSON value a broken or hostile band might send: wrong types, absurd numbers, nesting."""
    choice = rng.randrange(9 if depth < 3 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 2**63, -(2**63), 10**30, rng.randint(-10**6, 10**6)])
    if choice == 3:
        return rng.choice([0.5, -273.15, 1e308, -1e308, float("nan"), float("inf"), rng.uniform(-1e6, 1e6)])
    if choice == 4:
        return "".join(rng.choice("ab0-:TZ\u0000汉\"{}") for _ in range(rng.randrange(20)))
    if choice == 5:
        return rng.choice(["sos", "fall", "2026-13-45T99:99:99", "", "NaN", "1e999"])
    if choice == 6:
        return [hostile_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(FIELD_NAMES + ["x", ""]): hostile_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def hostile_payload(rng: random.Random) -> bytes:
    """Raw bytes, a JSON object with the contract's field names but wrong values, or any JSON at all."""
    kind = rng.randrange(3)
    if kind == 0:
        return rng.randbytes(rng.randrange(65))
    if kind == 1:
        fields = {name: hostile_value(rng) for name in rng.sample(FIELD_NAMES, rng.randrange(len(FIELD_NAMES)))}
        return json.dumps(fields).encode()
    return json.dumps(hostile_value(rng)).encode()


def test_ten_thousand_malformed_payloads_leave_the_ingest_alive_and_counting(sqlite_session_factory, settings, clock):
    from core.container import Services

    services = Services(settings=settings, session_factory=sqlite_session_factory, clock=clock)
    seed(services)
    counters = Counters()
    ingest = Ingestor(services, counters)
    # A seeded generator, not Hypothesis: the point is volume and variety, and the same 10,000 inputs
    # every run keep the test fast and its failures reproducible.
    rng = random.Random(20261130)
    batch = []
    for _ in range(10_000):
        kind = rng.choice(["telemetry", "event", "status"])
        batch.append(msg(kind, hostile_payload(rng), qos=1 if kind == "event" else 0))
    for start in range(0, len(batch), 500):
        ingest.process(batch[start:start + 500])
    handled = counters.total("dropped") + counters.total("messages")
    assert handled == len(batch)  # every single one is either stored or counted as dropped
    # Still alive: a real SOS after the garbage is handled normally.
    ingest.process([msg("event", {"ts": ts(clock.now()), "seq": 10**9, "type": "sos"}, qos=1)])
    assert any(a.type == "sos" for a in alerts(services))
