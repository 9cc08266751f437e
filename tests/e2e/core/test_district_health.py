"""/healthz of a gunicorn web process tells the truth about a listener and a worker running as other processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from core.settings import load_settings
from devices.broker import listener_usernames, service_password
from tests.integration.devices.brokers import MOSQUITTO, Mosquitto

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


def _until(predicate, timeout: float) -> bool:
    """Poll real processes' observable state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_gunicorn_healthz_follows_listener_and_worker_processes(tmp_path):
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed")
    data_dir = tmp_path / "var"
    settings = load_settings(environ={}, overrides={"data": {"dir": str(data_dir)}})
    broker = Mosquitto(tmp_path / "mosquitto", settings, []).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIAOYUAN_")}
    env.update(XIAOYUAN_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1",
               XIAOYUAN_MQTT_URL=broker.url(listener_usernames(settings)[0], service_password(settings)))
    logs = {name: (tmp_path / f"{name}.log") for name in ("web", "listener", "worker", "listener2")}
    procs: dict[str, subprocess.Popen] = {}

    def start(name: str, *argv: str) -> None:
        with logs[name].open("w") as log:
            procs[name] = subprocess.Popen(list(argv), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def tell() -> str:
        return "\n".join(f"--- {n}\n{p.read_text()[-3000:]}" for n, p in logs.items() if p.exists())

    try:
        upgrade = subprocess.run([sys.executable, "-m", "xiaoyuan", "db", "upgrade"], cwd=ROOT, env=env,
                                 capture_output=True, text=True, timeout=120)
        assert upgrade.returncode == 0, upgrade.stderr
        port = _free_port()
        start("web", str(Path(sys.executable).with_name("gunicorn")), "-w", "1", "-b", f"127.0.0.1:{port}",
              "xiaoyuan.wsgi:create_app()")
        assert _until(lambda: _health(port)[0] == 503, 60), tell()
        status, body = _health(port)
        assert set(body["problems"]) == {"listener", "worker"}  # nothing else runs yet

        start("listener", sys.executable, "-m", "xiaoyuan", "listener")
        start("worker", sys.executable, "-m", "xiaoyuan", "worker")
        assert _until(lambda: _health(port)[0] == 200, 60), (_health(port), tell())

        broker.stop()  # the listener loses the broker
        assert _until(lambda: "not connected to the broker" in _health(port)[1].get("problems", {})
                      .get("listener", ""), 20), (_health(port), tell())
        broker.start()
        assert _until(lambda: _health(port)[0] == 200, 60), (_health(port), tell())

        procs["listener"].send_signal(signal.SIGKILL)  # a crash: its row goes stale
        procs["listener"].wait(10)
        assert _until(lambda: _health(port)[1].get("problems", {}).get("listener", "").startswith(
            "no listener process has reported"), 30), (_health(port), tell())
        start("listener2", sys.executable, "-m", "xiaoyuan", "listener")
        assert _until(lambda: _health(port)[0] == 200, 60), (_health(port), tell())
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        broker.stop()
