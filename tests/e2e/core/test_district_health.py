"""/healthz of a gunicorn web process tells the truth about a listener and a worker running as other processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import load_settings
from devices.broker import listener_usernames, service_password
from tests.integration.devices.brokers import MOSQUITTO, Mosquitto
from tests.processes import free_port, healthz, stop_processes, wait_until

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow


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
        port = free_port()
        start("web", str(Path(sys.executable).with_name("gunicorn")), "-c", "python:xiaoyuan.gunicorn_conf", "-w", "1",
              "-b", f"127.0.0.1:{port}", "xiaoyuan.wsgi:create_app()")
        assert wait_until(lambda: healthz(port)[0] == 503, 60, every=0.2), tell()
        status, body = healthz(port)
        assert set(body["problems"]) == {"listener", "worker"}  # nothing else runs yet

        start("listener", sys.executable, "-m", "xiaoyuan", "listener")
        start("worker", sys.executable, "-m", "xiaoyuan", "worker")
        assert wait_until(lambda: healthz(port)[0] == 200, 60, every=0.2), (healthz(port), tell())

        broker.stop()  # the listener loses the broker
        assert wait_until(lambda: "not connected to the broker" in healthz(port)[1].get("problems", {})
                          .get("listener", ""), 20, every=0.2), (healthz(port), tell())
        broker.start()
        assert wait_until(lambda: healthz(port)[0] == 200, 60, every=0.2), (healthz(port), tell())

        procs["listener"].send_signal(signal.SIGKILL)  # a crash: its row goes stale
        procs["listener"].wait(10)
        assert wait_until(lambda: healthz(port)[1].get("problems", {}).get("listener", "").startswith(
            "no listener process has reported"), 30, every=0.2), (healthz(port), tell())
        start("listener2", sys.executable, "-m", "xiaoyuan", "listener")
        assert wait_until(lambda: healthz(port)[0] == 200, 60, every=0.2), (healthz(port), tell())
    finally:
        stop_processes(procs.values())
        broker.stop()
