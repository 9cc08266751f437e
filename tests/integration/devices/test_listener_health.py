"""/healthz and /metrics against a real Mosquitto: 200 only while the listener hears its own heartbeat through the
broker and the lease holder's dispatcher turns; 503 naming the broken part, and back to 200 when it recovers."""

from __future__ import annotations

import json
import re
import time

import pytest

from core.bands.registry import add_band
from core.clock import SystemClock
from core.container import Services
from core.db import transaction
from devices.broker import listener_usernames, service_password
from devices.listener import Connection, Listener
from tests.factories import build_world
from tests.integration.devices.brokers import Mosquitto, band_credentials, device_client, wait_until
from xiaoyuan.app import create_app
from xiaoyuan.processes import StatusReporter
from xiaoyuan.scheduler import Worker

pytestmark = pytest.mark.slow


@pytest.fixture
def live(settings, session_factory):
    """Services on real time (the broker round trip is real), a world and one band."""
    services = Services(settings=settings, session_factory=session_factory, clock=SystemClock())
    with transaction(session_factory) as s:
        world = build_world(s, services.clock.now())
        _band, secret = add_band(s, now=services.clock.now(), device_id="864001", site="hut1",
                                 resident_id=world.residents[0].id)
    services.extras["secret"] = secret
    return services


@pytest.fixture
def mosquitto(live, tmp_path):
    broker = Mosquitto(tmp_path / "mosquitto", live.settings, band_credentials(live.session_factory)).start()
    yield broker
    broker.stop()


@pytest.fixture
def running(live, mosquitto):
    """A listener and an active worker in this process, reporting their status like `xiaoyuan run` does."""
    conn = Connection("127.0.0.1", mosquitto.port, listener_usernames(live.settings)[0],
                      service_password(live.settings), 5)
    listener = Listener(live, connection=conn, client_id="xiaoyuan-listener-health")
    worker = Worker(live, identity="health-test", jobs=[])
    live.extras["devices:listener"] = listener
    live.extras["worker"] = worker
    listener.start()
    assert worker.step()
    try:
        yield listener, worker, StatusReporter(live, "run")
    finally:
        worker.shutdown()
        listener.stop()


def healthz(client, reporter) -> tuple[int, dict]:
    reporter.report()
    response = client.get("/healthz")
    return response.status_code, response.get_json()


def test_healthz_follows_the_broker_down_and_back(live, mosquitto, running):
    listener, _worker, reporter = running
    client = create_app(live).test_client()
    assert wait_until(lambda: listener.last_heartbeat_at is not None, 10)
    assert wait_until(lambda: healthz(client, reporter)[0] == 200, 10), healthz(client, reporter)

    mosquitto.stop()
    assert wait_until(lambda: not listener.connected.is_set(), 10)
    status, body = healthz(client, reporter)
    assert status == 503
    assert body["problems"]["listener"].endswith("not connected to the broker")
    assert body["checks"]["worker"] == "ok"

    mosquitto.start()
    assert wait_until(lambda: healthz(client, reporter)[0] == 200, 40), healthz(client, reporter)


def test_a_listener_that_no_longer_hears_its_heartbeat_fails_within_30_seconds(live, mosquitto, running):
    """Connected and subscribed is not enough: when the heartbeat stops coming back, /healthz says so."""
    listener, _worker, reporter = running
    client = create_app(live).test_client()
    assert wait_until(lambda: healthz(client, reporter)[0] == 200, 10)
    listener.last_heartbeat_at = live.clock.now().replace(year=2020)  # as if the broker stopped routing it
    listener.heartbeat_topic += "-unrouted"  # and it never comes back
    status, body = healthz(client, reporter)
    assert status == 503 and "heartbeat last came back" in body["problems"]["listener"]


def test_healthz_fails_when_the_worker_stops_holding_the_lease(live, mosquitto, running):
    _listener, worker, reporter = running
    client = create_app(live).test_client()
    assert wait_until(lambda: healthz(client, reporter)[0] == 200, 10)
    worker.shutdown()  # released: nobody holds it now
    status, body = healthz(client, reporter)
    assert status == 503 and body["problems"]["worker"] == "no worker holds the lease"


def test_metrics_show_the_age_of_the_last_message_and_heartbeat(live, mosquitto, running):
    listener, _worker, reporter = running
    band = device_client(mosquitto.port, "864001", live.extras["secret"])
    try:
        band.publish("xiaoyuan/v1/hut1/band/864001/telemetry", json.dumps({"ts": time.time(), "hr": 70}), qos=0)
        assert wait_until(lambda: listener.last_message_at is not None and listener.last_heartbeat_at is not None, 10)
    finally:
        band.loop_stop()
    reporter.report()
    body = create_app(live).test_client().get("/metrics").get_data(as_text=True)
    for metric in ("xiaoyuan_listener_last_message_age_seconds", "xiaoyuan_listener_heartbeat_age_seconds",
                   "xiaoyuan_dispatcher_loop_age_seconds"):
        match = re.search(rf'^{metric}\{{process="[^"]+",role="run"\}} ([0-9.e+-]+)$', body, re.MULTILINE)
        assert match and float(match.group(1)) < 30, (metric, body)
    assert re.search(r'^xiaoyuan_worker_lease_held\{process="[^"]+",role="run"\} 1\.0$', body, re.MULTILINE)
