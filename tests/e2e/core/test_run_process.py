"""`xiaoyuan run` as an operator starts it: answers /healthz, serves TV and console, stops cleanly."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow


def _env(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIAOYUAN_")}
    env.update(XIAOYUAN_DATA_DIR=str(tmp_path / "var"), PYTHONUNBUFFERED="1", **extra)
    return env


def _xiaoyuan(*args, env, **kw):
    return subprocess.run([sys.executable, "-m", "xiaoyuan", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120, **kw)


def _wait_http(url: str, deadline_s: float = 60) -> int:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status
        except OSError:
            time.sleep(0.2)  # polling a live server, not waiting for time to pass
    raise AssertionError(f"{url} did not answer")


def test_run_serves_everything_and_stops_gracefully(tmp_path):
    """After db upgrade + demo, `run` answers /healthz, /tv/ and the console; SIGTERM ends it with code 0."""
    port = free_port()
    env = _env(tmp_path, XIAOYUAN_WEB_PORT=str(port), XIAOYUAN_BROKER_PORT=str(free_port()))
    assert _xiaoyuan("db", "upgrade", env=env).returncode == 0
    assert _xiaoyuan("demo", env=env).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "xiaoyuan", "run"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert _wait_http(f"http://127.0.0.1:{port}/healthz") == 200
        assert _wait_http(f"http://127.0.0.1:{port}/tv/") == 200
        assert _wait_http(f"http://127.0.0.1:{port}/console/login") == 200
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, output
        assert "Traceback" not in output, output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_port_already_taken_is_reported_plainly(tmp_path):
    """A busy web port gives one clear sentence and exit 1, not a traceback."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        env = _env(tmp_path, XIAOYUAN_WEB_PORT=str(port))
        _xiaoyuan("db", "upgrade", env=env)
        result = _xiaoyuan("web", env=env)
    assert result.returncode == 1
    assert "already in use" in result.stderr and "Traceback" not in result.stderr
