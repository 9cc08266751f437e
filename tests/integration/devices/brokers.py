"""Real brokers for tests: Mosquitto started from config/mosquitto.conf on a free port, paho publishers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import paho.mqtt.client as mqtt
import sqlalchemy as sa

from core.bands.registry import band_username
from core.models.devices import Band
from core.settings import ROOT as REPO
from devices.broker import BandCredential, export_broker_files, render_mosquitto_conf
from tests.processes import free_port, listening, wait_until

MOSQUITTO = "/usr/sbin/mosquitto"


def band_credentials(session_factory) -> list[BandCredential]:
    with session_factory() as s:
        return [BandCredential(*r) for r in s.execute(sa.select(Band.device_id, Band.site, Band.mqtt_password_hash))]


class Mosquitto:
    """A private Mosquitto with persistence, password file and ACL from config/mosquitto.conf."""

    def __init__(self, workdir: Path, settings, bands: list[BandCredential], port: int | None = None) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        passwd, acl = export_broker_files(settings, self.dir, bands=bands)
        template = (REPO / "config" / "mosquitto.conf").read_text()
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(render_mosquitto_conf(template, port=self.port, passwd=passwd, acl=acl, data_dir=self.dir))
        self.proc: subprocess.Popen | None = None

    def start(self) -> Mosquitto:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        assert wait_until(lambda: listening(self.port), 10), (self.dir / "mosquitto.log").read_text()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # saves the persistence file
            self.proc.wait(10)
        self.proc = None

    def url(self, user: str, password: str) -> str:
        return f"mqtt://{user}:{password}@127.0.0.1:{self.port}"


def device_client(port: int, device_id: str, secret: str, *, protocol: int = 5, client_id: str | None = None,
                  username: str | None = None) -> mqtt.Client:
    """A connected band (its broker username is `band-{device_id}` unless `username` says otherwise)."""
    proto = mqtt.MQTTv5 if protocol == 5 else mqtt.MQTTv311
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"band-{device_id}-{os.getpid()}",
                         protocol=proto)
    client.username_pw_set(band_username(device_id) if username is None else username, secret)
    client.max_inflight_messages_set(100)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def listener_process(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """`xiaoyuan listener` in its own process (so it can be SIGKILLed)."""
    full = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    with log_path.open("w") as log:
        return subprocess.Popen([sys.executable, "-m", "xiaoyuan", "listener"], cwd=REPO, env=full,
                                stdout=log, stderr=subprocess.STDOUT)


def connect_once(port: int, username: str | None, password: str | None, *, client_id: str,
                 protocol: int = 5, timeout: float = 5.0) -> str:
    """Connect with a clean session, wait for the CONNACK, disconnect; return the reason ("Success" or why not)."""
    import threading

    proto = mqtt.MQTTv5 if protocol == 5 else mqtt.MQTTv311
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=proto)
    if username is not None:
        client.username_pw_set(username, password)
    answered, reason = threading.Event(), []

    def on_connect(c, userdata, flags, reason_code, properties) -> None:
        reason.append(str(reason_code))
        answered.set()

    def on_disconnect(c, userdata, flags, reason_code, properties) -> None:
        reason.append(str(reason_code))
        answered.set()

    client.on_connect, client.on_disconnect = on_connect, on_disconnect
    try:
        client.connect("127.0.0.1", port, keepalive=10)
    except OSError as exc:
        return f"socket: {exc}"
    client.loop_start()
    try:
        answered.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    return reason[0] if reason else "no answer"
