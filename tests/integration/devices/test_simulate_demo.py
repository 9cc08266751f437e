"""The demo path: `xiaoyuan band simulate --scenario sos` against the private broker, with a listener
running, raises an alert that reaches the outbox and the caregiver board."""

from __future__ import annotations

import re
import time

import pytest
from click.testing import CliRunner

from core.clock import SystemClock
from core.container import Services
from core.db import make_engine, make_session_factory, transaction
from core.settings import load_settings
from devices.broker import start_private_broker
from devices.listener import Listener
from tests.factories import PASSWORD, build_world
from tests.integration.console.conftest import csrf_token
from tests.integration.devices.brokers import free_port, wait_until
from tests.integration.devices.helpers import alerts, outbox
from xiaoyuan.cli import _load_command_modules, cli

pytestmark = pytest.mark.slow


def test_simulated_sos_through_the_embedded_broker_reaches_the_outbox_and_the_board(db_url, tmp_path):
    env = {"XIAOYUAN_DATA_DIR": str(tmp_path / "var"), "XIAOYUAN_CONFIG": "", "XIAOYUAN_DATABASE_URL": db_url,
           "XIAOYUAN_BROKER_PORT": str(free_port())}
    settings = load_settings(environ=env)
    engine = make_engine(db_url)
    services = Services(settings=settings, session_factory=make_session_factory(engine), clock=SystemClock())
    with transaction(services.session_factory) as s:
        world = build_world(s, services.clock.now())
    broker = start_private_broker(settings)  # what `xiaoyuan run` starts: the private Mosquitto
    listener = Listener(services, client_id="demo-listener")
    try:
        listener.start()
        assert listener.subscribed.wait(15)
        _load_command_modules()
        started = time.monotonic()
        result = CliRunner().invoke(cli, ["band", "simulate", "--scenario", "sos", "--count", "1", "--rate", "2",
                                          "--duration", "0.5"], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert '"scenario": "sos"' in result.output
        assert wait_until(lambda: any(a.type == "sos" for a in alerts(services)), 15)
        elapsed = time.monotonic() - started
        (alert,) = alerts(services)
        # SIM0001 is registered on the first resident, 王奶奶, whose son is called first.
        assert (alert.resident_id, alert.severity, alert.device_id) == (world.residents[0].id, "critical", "SIM0001")
        assert alert.lat == 29.35 and alert.lon == 106.45
        assert {m.recipient_name for m in outbox(services, subject_id=alert.id)} == {"王小明"}

        from xiaoyuan.app import create_app

        web = create_app(services).test_client()
        token = csrf_token(web, "/console/login")
        web.post("/console/login", data={"username": "carer_a", "password": PASSWORD, "csrf_token": token})
        board = web.get("/console/alerts").get_data(as_text=True)
        assert re.findall(r'data-alert-id="(\d+)"', board) == [str(alert.id)]
        assert elapsed < 15
    finally:
        listener.stop()
        broker.stop()
        engine.dispose()
