"""Against real brokers: Mosquitto from config/mosquitto.conf, and the embedded amqtt broker."""

from __future__ import annotations

import json
import signal
import time

import pytest
import sqlalchemy as sa

from core.bands.registry import add_band
from core.clock import SystemClock
from core.container import Services
from core.db import transaction
from core.models.alerts import Alert
from core.models.devices import DeviceEvent
from devices.broker import BrokerError, listener_usernames, service_password, start_embedded_broker
from devices.listener import Connection, Listener
from tests.factories import build_world
from tests.integration.devices.brokers import (
    Mosquitto,
    band_credentials,
    device_client,
    free_port,
    listener_process,
    wait_until,
)
from tests.integration.devices.helpers import alerts, outbox

pytestmark = pytest.mark.slow
TOPIC = "xiaoyuan/v1/hut1/band/{}/{}"


@pytest.fixture
def live(settings, session_factory, tmp_path):
    """Services on real time (brokers check timestamps against now), a world and two bands."""
    services = Services(settings=settings, session_factory=session_factory, clock=SystemClock())
    with transaction(session_factory) as s:
        world = build_world(s, services.clock.now())
        a, secret_a = add_band(s, now=services.clock.now(), device_id="864001", site="hut1",
                               resident_id=world.residents[0].id)
        b, secret_b = add_band(s, now=services.clock.now(), device_id="864002", site="hut1",
                               resident_id=world.residents[1].id)
    services.extras["secrets"] = {"864001": secret_a, "864002": secret_b}
    services.extras["world"] = world
    return services


@pytest.fixture
def mosquitto(live, tmp_path):
    broker = Mosquitto(tmp_path / "mosquitto", live.settings, band_credentials(live.session_factory)).start()
    yield broker
    broker.stop()


def mosquitto_listener(live, broker) -> Listener:
    user, secret = listener_usernames(live.settings)[0], service_password(live.settings)
    conn = Connection("127.0.0.1", broker.port, user, secret, 5)
    listener = Listener(live, connection=conn, client_id="xiaoyuan-listener-test")
    listener.start()
    assert listener.subscribed.wait(10)
    return listener


def event(seq: int, kind: str = "sos") -> str:
    return json.dumps({"ts": time.time(), "seq": seq, "type": kind})


def events_recorded(live, below: int | None = None) -> int:
    query = sa.select(sa.func.count()).select_from(DeviceEvent)
    if below is not None:
        query = query.where(DeviceEvent.seq < below)
    with live.session_factory() as s:
        return s.scalar(query)


def test_sos_over_mosquitto_becomes_an_alert_and_outbox_rows(live, mosquitto):
    listener = mosquitto_listener(live, mosquitto)
    band = device_client(mosquitto.port, "864001", live.extras["secrets"]["864001"])
    try:
        band.publish(TOPIC.format("864001", "event"), event(1), qos=1).wait_for_publish(5)
        assert wait_until(lambda: len(alerts(live)) == 1, 10)
        assert wait_until(lambda: len(outbox(live, subject_type="alert")) >= 2, 5)
        assert alerts(live)[0].type == "sos"
    finally:
        band.loop_stop()
        listener.stop()


def test_a_band_cannot_publish_under_another_bands_topic(live, mosquitto):
    listener = mosquitto_listener(live, mosquitto)
    intruder = device_client(mosquitto.port, "864001", live.extras["secrets"]["864001"])
    try:
        info = intruder.publish(TOPIC.format("864002", "event"), event(7), qos=1)
        info.wait_for_publish(5)
        intruder.publish(TOPIC.format("864001", "telemetry"), json.dumps({"ts": time.time(), "hr": 70}), qos=0)
        own = intruder.publish(TOPIC.format("864001", "event"), event(8, "power_off"), qos=1)
        own.wait_for_publish(5)
        assert wait_until(lambda: events_recorded(live) == 1, 10)
        with live.session_factory() as s:
            assert s.scalar(sa.select(DeviceEvent.seq)) == 8  # only its own event arrived
        assert alerts(live) == []  # nothing was raised for the other band's resident
    finally:
        intruder.loop_stop()
        listener.stop()


def test_listener_killed_while_500_events_are_published_records_all_once(live, mosquitto, tmp_path, db_url):
    env = {"XIAOYUAN_DATABASE_URL": db_url, "XIAOYUAN_DATA_DIR": str(live.settings.data_dir),
           "XIAOYUAN_MQTT_URL": mosquitto.url(listener_usernames(live.settings)[1], service_password(live.settings)),
           "XIAOYUAN_MQTT_CLIENT_ID": "listener-kill-test"}
    proc = listener_process(env, tmp_path / "listener1.log")
    probes: list[int] = []
    band = device_client(mosquitto.port, "864001", live.extras["secrets"]["864001"])
    try:
        assert wait_until(lambda: _probe_subscribed(live, band, probes), 20), (tmp_path / "listener1.log").read_text()
        infos = []
        for seq in range(1, 501):
            infos.append(band.publish(TOPIC.format("864001", "event"), event(seq, "power_off"), qos=1))
            if seq == 150:
                assert wait_until(lambda: events_recorded(live) >= 50, 20)
                proc.send_signal(signal.SIGKILL)
                proc.wait(5)
        for info in infos:
            info.wait_for_publish(10)
        killed_at = events_recorded(live)
        assert killed_at < 500
        proc = listener_process(env, tmp_path / "listener2.log")
        assert wait_until(lambda: events_recorded(live, below=10_000) >= 500, 60), \
            (tmp_path / "listener2.log").read_text()
        with live.session_factory() as s:
            seqs = list(s.scalars(sa.select(DeviceEvent.seq)))
        # Every one of the 500 once, plus whichever probes the listener saw (probes sent before its
        # first SUBACK are lost; under load the first may be recorded after a second was sent).
        assert len(seqs) == len(set(seqs))
        assert set(seqs) - set(probes) == set(range(1, 501))
    finally:
        band.loop_stop()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)


def _probe_subscribed(live, band, probes: list[int]) -> bool:
    """Publish a probe event and see whether the listener records it (it is subscribed)."""
    if events_recorded(live) > 0:
        return True
    seq = 10_001 + len(probes)
    probes.append(seq)
    band.publish(TOPIC.format("864001", "event"), event(seq, "power_off"), qos=1).wait_for_publish(5)
    time.sleep(0.3)
    return events_recorded(live) > 0


def test_broker_restart_with_persistence_loses_nothing(live, mosquitto):
    listener = mosquitto_listener(live, mosquitto)
    listener.stop()  # its session (and subscriptions) stay on the broker
    band = device_client(mosquitto.port, "864001", live.extras["secrets"]["864001"])
    for seq in range(1, 301):
        band.publish(TOPIC.format("864001", "event"), event(seq, "power_off"), qos=1).wait_for_publish(5)
    band.loop_stop()
    band.disconnect()
    mosquitto.stop()
    mosquitto.start()
    listener = mosquitto_listener(live, mosquitto)
    try:
        assert wait_until(lambda: events_recorded(live) == 300, 30), events_recorded(live)
    finally:
        listener.stop()


def test_embedded_broker_keeps_events_for_a_restarting_listener(live):
    port = free_port()
    broker = start_embedded_broker(live.settings, port=port, bands=band_credentials(live.session_factory))
    conn = Connection("127.0.0.1", port, listener_usernames(live.settings)[0], service_password(live.settings), 4,
                      embedded=True)
    try:
        listener = Listener(live, connection=conn, client_id="embedded-test")
        listener.start()
        assert listener.subscribed.wait(10)
        band = device_client(port, "864001", live.extras["secrets"]["864001"], protocol=4)
        band.publish(TOPIC.format("864001", "event"), event(1), qos=1).wait_for_publish(5)
        assert wait_until(lambda: len(alerts(live)) == 1, 10)
        listener.stop()
        for seq in range(2, 102):
            band.publish(TOPIC.format("864001", "event"), event(seq, "power_off"), qos=1).wait_for_publish(5)
        # A band may not publish under another band's topic on the embedded broker either.
        band.publish(TOPIC.format("864002", "event"), event(1), qos=1).wait_for_publish(5)
        listener = Listener(live, connection=conn, client_id="embedded-test")
        listener.start()
        assert wait_until(lambda: events_recorded(live) == 101, 30), events_recorded(live)
        listener.stop()
        band.loop_stop()
        with live.session_factory() as s:
            assert s.scalar(sa.select(sa.func.count()).select_from(Alert)) == 1
    finally:
        broker.stop()


def test_embedded_broker_reports_a_taken_port_plainly(live, mosquitto):
    with pytest.raises(BrokerError, match="已被占用"):
        start_embedded_broker(live.settings, port=mosquitto.port, bands=[])


def test_malformed_payloads_over_the_real_broker_are_counted_and_the_listener_stays_alive(live, mosquitto):
    listener = mosquitto_listener(live, mosquitto)
    band = device_client(mosquitto.port, "864001", live.extras["secrets"]["864001"])
    garbage = [b"", b"{", b"null", b"[]", b'{"ts": "yesterday"}', b'{"ts": 1, "seq": "x", "type": "sos"}',
               b'{"ts": 9999999999, "seq": 1, "type": "sos"}', b"\xff" * 100, b'{"hr": 70}', b"9" * 5000]
    try:
        for i in range(300):
            kind = "event" if i % 2 else "telemetry"
            band.publish(TOPIC.format("864001", kind), garbage[i % len(garbage)], qos=1).wait_for_publish(5)
        band.publish(TOPIC.format("864001", "event"), event(1), qos=1).wait_for_publish(5)
        assert wait_until(lambda: len(alerts(live)) == 1, 15)
        assert wait_until(lambda: listener.counters.total("dropped") == 300, 10), listener.counters.dropped
        assert listener._worker.is_alive()
    finally:
        band.loop_stop()
        listener.stop()
