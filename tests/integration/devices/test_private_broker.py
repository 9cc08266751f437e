"""The broker `xiaoyuan run` starts by itself: a private Mosquitto child process (amqtt only as a fallback)."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from core.bands.registry import add_band
from core.clock import SystemClock
from core.container import Services
from core.db import transaction
from core.models.devices import DeviceEvent
from core.settings import ROOT, load_settings
from devices.broker import BrokerError, EmbeddedBroker, service_password, start_private_broker
from devices.listener import Listener, resolve_connection
from devices.mosquitto import (
    MosquittoChild,
    private_dir,
    reload_mosquitto,
    reload_private_mosquitto,
    try_login,
)
from tests.factories import build_world
from tests.integration.devices.brokers import device_client, free_port, wait_until

pytestmark = pytest.mark.slow
TOPIC = "xiaoyuan/v1/hut1/band/{}/{}"


def private_settings(tmp_path, **extra):
    env = {"XIAOYUAN_DATA_DIR": str(tmp_path / "var"), "XIAOYUAN_BROKER_PORT": str(free_port()), **extra}
    return load_settings(environ=env)


@pytest.fixture
def live(tmp_path, db_url, session_factory):
    """Services on real time with the private broker's settings (a free port, a private data dir; the
    broker files are exported from the test database)."""
    settings = private_settings(tmp_path, XIAOYUAN_DATABASE_URL=db_url)
    services = Services(settings=settings, session_factory=session_factory, clock=SystemClock())
    with transaction(session_factory) as s:
        services.extras["world"] = build_world(s, services.clock.now())
    return services


def sos(seq: int) -> str:
    return json.dumps({"ts": time.time(), "seq": seq, "type": "sos"})


def sos_recorded(services) -> int:
    with services.session_factory() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(DeviceEvent).where(DeviceEvent.type == "sos"))


def register(services, device_id: str) -> str:
    with transaction(services.session_factory) as s:
        _, secret = add_band(s, now=services.clock.now(), device_id=device_id, site="hut1",
                             resident_id=services.extras["world"].residents[0].id)
    return secret


def test_the_default_port_is_not_the_system_mosquittos():
    assert load_settings(environ={}).broker.port not in (1883, 8883)


def test_run_starts_a_private_mosquitto_that_keeps_events_for_the_listener_and_learns_new_bands(live):
    broker = start_private_broker(live.settings)
    assert isinstance(broker, MosquittoChild)
    directory = private_dir(live.settings)
    conf = (directory / "mosquitto.conf").read_text()
    assert f"listener {live.settings.broker.port} 127.0.0.1" in conf
    assert "use_username_as_clientid true" in conf and f"persistence_location {directory}/" in conf
    listener = Listener(live)
    assert listener.connection.protocol == 5 and listener.connection.embedded
    band = None
    try:
        listener.start()
        assert listener.subscribed.wait(10)
        secret = register(live, "864001")  # added while the broker runs: the files are re-exported and reloaded
        broker.refresh(live.settings)
        band = device_client(broker.port, "864001", secret)
        band.publish(TOPIC.format("864001", "event"), sos(1), qos=1).wait_for_publish(5)
        assert wait_until(lambda: sos_recorded(live) == 1, 10)

        listener.stop()  # the listener restarts; events wait for it on the broker
        for seq in range(2, 42):
            band.publish(TOPIC.format("864001", "event"), sos(seq), qos=1).wait_for_publish(5)
        band.loop_stop()
        band.disconnect()
        broker.stop()  # and the broker restarts too: persistence keeps the listener's session and queue
        assert broker.process.poll() is not None
        broker = start_private_broker(live.settings)
        listener = Listener(live)
        listener.start()
        assert wait_until(lambda: sos_recorded(live) == 41, 20), sos_recorded(live)
    finally:
        listener.stop()
        broker.stop()
    with socket.socket() as probe:  # the port is free again once the service stopped
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a broker binds it
        probe.bind(("127.0.0.1", live.settings.broker.port))


def test_a_band_added_from_another_process_reaches_the_running_private_mosquitto(live):
    broker = start_private_broker(live.settings)
    try:
        secret = register(live, "864009")
        from devices.broker import export_broker_files

        export_broker_files(live.settings)
        assert reload_private_mosquitto(live.settings)  # what `xiaoyuan band add` does after registering
        band = device_client(broker.port, "864009", secret)
        assert band.publish(TOPIC.format("864009", "event"), sos(1), qos=1).wait_for_publish(5) is None
        band.loop_stop()
    finally:
        broker.stop()
    assert not reload_private_mosquitto(live.settings)  # none running: nothing to reload


def test_a_taken_port_is_reported_plainly(live):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", live.settings.broker.port))
        busy.listen(1)
        with pytest.raises(BrokerError, match="已被占用") as raised:
            start_private_broker(live.settings)
    assert "XIAOYUAN_BROKER_PORT" in str(raised.value)


def test_a_private_mosquitto_does_not_outlive_a_killed_service(live, db_url):
    # A service that dies by SIGKILL: on Linux its Mosquitto goes with it (PDEATHSIG).
    script = ("import sys, time; from core.settings import load_settings; from devices.broker import "
              "start_private_broker; b = start_private_broker(load_settings()); print(b.process.pid, flush=True); "
              "time.sleep(60)")
    env = {**os.environ, "XIAOYUAN_DATA_DIR": str(live.settings.data_dir), "XIAOYUAN_DATABASE_URL": db_url,
           "XIAOYUAN_BROKER_PORT": str(live.settings.broker.port), "PYTHONPATH": str(ROOT)}
    service = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    child_pid = int(service.stdout.readline())
    service.send_signal(signal.SIGKILL)
    service.wait(5)
    service.stdout.close()
    assert wait_until(lambda: not os.path.exists(f"/proc/{child_pid}") or _zombie(child_pid), 10)
    broker = start_private_broker(live.settings)  # the port and the persistence file are free again
    broker.stop()


def test_a_private_mosquitto_still_running_from_an_earlier_start_is_stopped_and_replaced(live):
    first = start_private_broker(live.settings)  # its service "forgot" it (e.g. no PDEATHSIG on this system)
    second = start_private_broker(live.settings)
    try:
        assert first.process.wait(10) is not None
        assert second.process.poll() is None
    finally:
        second.stop()
        first.stop()


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[1].split()[0] == "Z"
    except OSError:
        return True


def test_without_a_mosquitto_binary_amqtt_starts_with_a_loud_warning(tmp_path, caplog):
    settings = private_settings(tmp_path, XIAOYUAN_BROKER_MOSQUITTO="off")
    with caplog.at_level(logging.WARNING, logger="devices.broker"):
        broker = start_private_broker(settings)
    try:
        assert isinstance(broker, EmbeddedBroker)
        assert "NO MOSQUITTO BINARY FOUND" in caplog.text and str(settings.broker.port) in caplog.text
        assert resolve_connection(settings).protocol == 4
    finally:
        broker.stop()


def test_a_reload_that_mosquitto_cannot_complete_is_reported(live):
    broker = start_private_broker(live.settings)
    try:
        broker.files[0].unlink()  # as when the broker cannot read the password file ("Unable to open pwfile")
        with pytest.raises(BrokerError) as raised:
            reload_mosquitto(broker.process.pid, log_path=broker.log_path, login=lambda: try_login(
                "127.0.0.1", broker.port, live.settings.broker.username, service_password(live.settings)))
        assert "pwfile" in str(raised.value) or "拒绝" in str(raised.value)
    finally:
        broker.stop()


def test_simulate_handles_520_bands_in_one_command(live, db_url, tmp_path):
    from click.testing import CliRunner

    from xiaoyuan.cli import _load_command_modules, cli

    env = {"XIAOYUAN_DATA_DIR": str(live.settings.data_dir), "XIAOYUAN_BROKER_PORT": str(live.settings.broker.port),
           "XIAOYUAN_DATABASE_URL": db_url, "XIAOYUAN_CONFIG": ""}
    broker = start_private_broker(live.settings)
    _load_command_modules()
    try:
        result = CliRunner().invoke(cli, ["band", "simulate", "--count", "520", "--scenario", "sos", "--rate", "5000",
                                          "--duration", "0.2"], env=env, catch_exceptions=False)
    finally:
        broker.stop()
    assert result.exit_code == 0, result.output[-2000:]
    report = json.loads(next(line for line in result.output.splitlines() if line.startswith("{")))
    assert (report["connected"], report["refused"], report["events_acknowledged"]) == (520, 0, 520)
