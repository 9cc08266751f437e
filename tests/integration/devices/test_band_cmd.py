"""`xiaoyuan band cmd`: the service's downlink reaches the band (and only as asked), the simulator honours it,
set-interval is recorded for silent-band checks, and bad input is a plain error."""

from __future__ import annotations

import json
import threading

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner

from core.bands.registry import add_band, get_band
from core.clock import SystemClock
from core.container import Services
from core.db import make_engine, make_session_factory, transaction
from core.settings import load_settings
from devices.broker import listener_usernames, service_password
from devices.listener import Connection, Listener
from devices.simulator import SimBand, Simulator
from tests.factories import build_world
from tests.integration.devices.brokers import Mosquitto, band_credentials, device_client, free_port, wait_until
from xiaoyuan.cli import _load_command_modules, cli

CMD = "xiaoyuan/v1/hut1/band/{}/cmd"


@pytest.fixture
def world(db_url, tmp_path):
    """Environment for the CLI, services on real time, the test world and two bands on site hut1."""
    env = {"XIAOYUAN_DATA_DIR": str(tmp_path / "var"), "XIAOYUAN_CONFIG": "", "XIAOYUAN_DATABASE_URL": db_url,
           "XIAOYUAN_BROKER_PORT": str(free_port())}
    settings = load_settings(environ=env)
    engine = make_engine(db_url)
    services = Services(settings=settings, session_factory=make_session_factory(engine), clock=SystemClock())
    with transaction(services.session_factory) as s:
        w = build_world(s, services.clock.now())
        _, secret_a = add_band(s, now=services.clock.now(), device_id="864001", site="hut1",
                               resident_id=w.residents[0].id)
        _, secret_b = add_band(s, now=services.clock.now(), device_id="864002", site="hut1",
                               resident_id=w.residents[1].id)
    services.extras.update(env=env, secrets={"864001": secret_a, "864002": secret_b})
    _load_command_modules()
    yield services
    engine.dispose()


@pytest.fixture
def mosquitto(world, tmp_path):
    broker = Mosquitto(tmp_path / "mosquitto", world.settings, band_credentials(world.session_factory)).start()
    world.extras["env"]["XIAOYUAN_MQTT_URL"] = broker.url(listener_usernames(world.settings)[0],
                                                          service_password(world.settings))
    yield broker
    broker.stop()


def interval(services, device_id: str) -> int:
    with services.session_factory() as s:
        return get_band(s, device_id).interval_s


def band_cmd(services, *args: str):
    return CliRunner().invoke(cli, ["band", "cmd", *args], env=services.extras["env"], catch_exceptions=False)


class Inbox:
    """A band's own paho client subscribed to its cmd topic (the ACL lets a band read only its own)."""

    def __init__(self, port: int, device_id: str, secret: str, topic: str) -> None:
        self.messages: list[tuple[str, dict, int, bool]] = []
        self.subscribed = threading.Event()
        self.client = device_client(port, device_id, secret)
        self.client.on_message = lambda c, u, m: self.messages.append(
            (m.topic, json.loads(m.payload), m.qos, bool(m.retain)))
        self.client.on_subscribe = lambda c, u, mid, codes, p: self.subscribed.set()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.slow
def test_the_band_receives_the_cli_command_and_set_interval_is_recorded(world, mosquitto):
    secrets = world.extras["secrets"]
    band = Inbox(mosquitto.port, "864001", secrets["864001"], CMD.format("864001"))
    other = Inbox(mosquitto.port, "864002", secrets["864002"], CMD.format("864001"))  # not its own cmd topic
    try:
        result = band_cmd(world, "864001", "set-interval", "--seconds", "300")
        assert result.exit_code == 0, result.output
        assert "每 300 秒" in result.output and "every 300 s" in result.output
        assert wait_until(lambda: len(band.messages) == 1, 10)
        topic, payload, qos, retained = band.messages[0]
        assert (topic, payload["cmd"], payload["interval_s"], qos, retained) == (
            CMD.format("864001"), "set_interval", 300, 1, False)
        assert isinstance(payload["ts"], int) and payload["id"]
        assert interval(world, "864001") == 300  # silent-band detection now allows 3 × 300 s
        assert interval(world, "864002") == 60

        result = band_cmd(world, "864001", "measure-now")
        assert result.exit_code == 0, result.output
        assert wait_until(lambda: len(band.messages) == 2, 10)
        assert band.messages[1][1]["cmd"] == "measure_now" and "interval_s" not in band.messages[1][1]
        assert interval(world, "864001") == 300
        assert other.messages == []  # the ACL keeps another band from reading this band's commands
    finally:
        band.close()
        other.close()


@pytest.mark.slow
def test_the_simulator_honours_set_interval_and_measure_now_sent_by_the_listener(world, mosquitto):
    secrets = world.extras["secrets"]
    readings: list[dict] = []
    watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="cmd-test-watcher", protocol=mqtt.MQTTv5)
    watcher.username_pw_set(world.settings.broker.username, service_password(world.settings))
    watcher.on_message = lambda c, u, m: readings.append(json.loads(m.payload))
    watched = threading.Event()
    watcher.on_subscribe = lambda c, u, mid, codes, p: watched.set()
    watcher.connect("127.0.0.1", mosquitto.port)
    watcher.loop_start()
    watcher.subscribe("xiaoyuan/v1/hut1/band/864001/telemetry", qos=0)
    listener = Listener(world, connection=Connection("127.0.0.1", mosquitto.port,
                                                     listener_usernames(world.settings)[0],
                                                     service_password(world.settings), 5),
                        client_id="xiaoyuan-listener-cmd-test")
    sim = Simulator("127.0.0.1", mosquitto.port, [SimBand("864001", secrets["864001"], "hut1")], protocol=5)
    try:
        assert watched.wait(5)
        listener.start()
        assert listener.subscribed.wait(10)
        sim.connect()
        assert sim.wait_listening(10)

        _, info = listener.publish_command("hut1", "864001", "set_interval", interval_s=1800, wait=5)
        assert info.is_published()
        assert wait_until(lambda: sim.intervals.get("864001") == 1800, 10)
        sent = sim.run(scenario="normal", rate=50, count=1)  # one reading, then the band waits 30 minutes
        assert sent == 1
        stop = threading.Event()
        runner = threading.Thread(target=sim.run, kwargs={"scenario": "normal", "rate": 50, "stop": stop})
        runner.start()
        try:
            assert wait_until(lambda: len(readings) == 1, 5)
            listener.publish_command("hut1", "864001", "measure_now", wait=5)
            assert wait_until(lambda: len(readings) == 2, 10)  # measured on demand despite the long interval
            assert not wait_until(lambda: len(readings) > 2, 0.5)
        finally:
            stop.set()
            runner.join(5)
        assert [c["cmd"] for _, c in sim.commands] == ["set_interval", "measure_now"]
    finally:
        sim.close()
        listener.stop()
        watcher.disconnect()
        watcher.loop_stop()


@pytest.mark.parametrize("seconds", ["29", "3601"])
def test_an_interval_outside_30_to_3600_seconds_is_a_plain_cli_error(world, seconds):
    result = band_cmd(world, "864001", "set-interval", "--seconds", seconds)
    assert result.exit_code == 1
    assert "上报间隔应在30到3600秒之间" in result.output and "30–3600 s" in result.output
    assert "Traceback" not in result.output
    assert interval(world, "864001") == 60


def test_set_interval_without_seconds_and_an_unknown_band_are_plain_errors(world):
    result = band_cmd(world, "864001", "set-interval")
    assert result.exit_code == 2 and "--seconds" in result.output
    result = band_cmd(world, "999999", "measure-now")
    assert result.exit_code == 1 and "找不到这个手环" in result.output


def test_an_unreachable_broker_is_reported_and_the_interval_is_left_alone(world):
    world.extras["env"]["XIAOYUAN_MQTT_URL"] = f"mqtt://svc:pw@127.0.0.1:{free_port()}"
    result = band_cmd(world, "864001", "set-interval", "--seconds", "120")
    assert result.exit_code == 1
    assert "无法把指令发给 MQTT 服务器" in result.output and "nothing was changed" in result.output
    assert interval(world, "864001") == 60
