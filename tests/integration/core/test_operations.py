"""/healthz and /metrics: what operators and load balancers rely on."""

import re

import sqlalchemy as sa

from core.db import transaction
from core.requests import workorders as svc
from tests.factories import build_world


def test_healthz_names_the_missing_listener_and_worker(client):
    """With the database up but no listener or worker reporting, /healthz is 503 and says which parts are missing."""
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["database"] == "ok"
    assert body["problems"]["listener"] == "no listener process is running"
    assert body["problems"]["worker"] == "no worker holds the lease"


def test_healthz_degrades_when_the_database_goes_away(app, services):
    """With the database gone, /healthz says 503 instead of crashing."""
    services.session_factory.kw["bind"] = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["problems"]["database"].startswith("error")


def test_metrics_count_requests_by_status_and_outbox_depth(client, session_factory, clock):
    """Prometheus text shows requests by status and the number of messages waiting."""
    with transaction(session_factory) as s:
        world = build_world(s, clock.now())
        svc.submit_request(s, now=clock.now(), due_hours={"repair": 24}, resident_id=world.residents[0].id,
                           type="repair", channel="phone", text="水管")
    body = client.get("/metrics").get_data(as_text=True)
    assert 'xiaoyuan_requests{status="assigned"} 1.0' in body
    assert "xiaoyuan_outbox_depth 1.0" in body


def test_metrics_report_zero_rather_than_vanish(client):
    """On an empty database the depth and every status are 0, so an alert on them can evaluate."""
    body = client.get("/metrics").get_data(as_text=True)
    assert "xiaoyuan_outbox_depth 0.0" in body
    assert 'xiaoyuan_outbox_messages{status="failed"} 0.0' in body
    assert 'xiaoyuan_requests{status="new"} 0.0' in body


def test_metrics_include_in_process_counters(app, services):
    """Counters registered by the listener or dispatcher are exported."""

    class Counters:
        def snapshot(self):
            return {"xiaoyuan_mqtt_dropped": ("Dropped MQTT messages", {"malformed_json": 3})}

    services.extras["counters:listener"] = Counters()
    body = app.test_client().get("/metrics").get_data(as_text=True)
    assert re.search(r'^xiaoyuan_mqtt_dropped_total\{kind="malformed_json",process="[^"]+:\d+",role="web"\} 3\.0$',
                     body, re.MULTILINE), body


def test_secret_key_is_generated_once_and_kept(app, services):
    """Without a configured key the app makes one, stores it privately, and reuses it after a restart."""
    from xiaoyuan.app import create_app

    key_file = services.settings.data_dir / "secret_key"
    assert key_file.stat().st_mode & 0o077 == 0
    assert create_app(services).config["SECRET_KEY"] == app.config["SECRET_KEY"]


def test_health_command_prints_the_same_verdict_and_exits_1_when_failing(monkeypatch, db_url, tmp_path):
    """`xiaoyuan health` (for hosts that run only a listener or a worker) says what /healthz says."""
    import json
    import os

    from click.testing import CliRunner

    from xiaoyuan.cli import _load_command_modules, cli

    for key in [k for k in os.environ if k.startswith("XIAOYUAN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("XIAOYUAN_DATABASE_URL", db_url)
    monkeypatch.setenv("XIAOYUAN_DATA_DIR", str(tmp_path / "var"))
    _load_command_modules()
    result = CliRunner().invoke(cli, ["health"])
    assert result.exit_code == 1
    body = json.loads(result.output)
    assert body["status"] == "failing" and body["problems"]["worker"] == "no worker holds the lease"
