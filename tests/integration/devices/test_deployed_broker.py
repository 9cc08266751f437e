"""A deployed Mosquitto as README describes it: it drops to the `mosquitto` user, reads the files
`xiaoyuan broker export` wrote, and learns a new band from one `xiaoyuan band add` (files updated,
broker reloaded, the reload verified)."""

from __future__ import annotations

import grp
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from core.clock import SystemClock
from core.container import Services
from core.db import make_engine, make_session_factory, transaction
from core.models.devices import DeviceEvent
from core.settings import ROOT, load_settings
from devices.broker import service_password
from devices.listener import Connection, Listener
from tests.factories import build_world
from tests.integration.devices.brokers import MOSQUITTO, device_client
from tests.processes import free_port, listening, wait_until
from xiaoyuan.cli import _load_command_modules, cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="Mosquitto drops to the mosquitto user only when started as root"),
]


def _has_mosquitto_user() -> bool:
    try:
        grp.getgrnam("mosquitto")
        return True
    except KeyError:
        return False


class DeployedMosquitto:
    """config/mosquitto.conf as a district runs it: started as root, running as `mosquitto`, files in etc/."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="xiaoyuan-deployed-", dir="/tmp"))
        self.root.chmod(0o755)  # the mosquitto user must reach its files (pytest's tmp dirs are root-only)
        self.etc, self.lib, self.run = self.root / "etc", self.root / "lib", self.root / "run"
        for d in (self.etc, self.lib, self.run):
            d.mkdir()
            d.chmod(0o755)
        for d in (self.lib, self.run):
            shutil.chown(d, "mosquitto", "mosquitto")
        self.port = free_port()
        self.pid_file = self.run / "mosquitto.pid"
        self.log = self.lib / "mosquitto.log"
        text = (ROOT / "config" / "mosquitto.conf").read_text()
        text = re.sub(r"^listener 1883 127.0.0.1$", f"listener {self.port} 127.0.0.1", text, flags=re.M)
        text = text.replace("/etc/mosquitto/xiaoyuan/", f"{self.etc}/").replace("/var/lib/mosquitto/", f"{self.lib}/")
        self.conf = self.root / "mosquitto.conf"
        self.conf.write_text(text + f"user mosquitto\npid_file {self.pid_file}\nlog_dest file {self.log}\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> DeployedMosquitto:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        assert wait_until(lambda: self.pid_file.exists() and listening(self.port), 10), self._log()
        return self

    def _log(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def district(db_url, tmp_path):
    """The CLI environment of a district host: the database, a data dir, the files' directory and pid file."""
    if not _has_mosquitto_user():
        pytest.skip("no mosquitto user on this machine")
    broker = DeployedMosquitto()
    env = {"XIAOYUAN_DATA_DIR": str(tmp_path / "var"), "XIAOYUAN_CONFIG": "", "XIAOYUAN_DATABASE_URL": db_url}
    engine = make_engine(db_url)
    services = Services(settings=load_settings(environ=env), session_factory=make_session_factory(engine),
                        clock=SystemClock())
    with transaction(services.session_factory) as s:
        services.extras["world"] = build_world(s, services.clock.now())
    services.extras.update(env=env, broker=broker)
    _load_command_modules()
    yield services
    broker.stop()
    engine.dispose()


def xiaoyuan(env: dict, *args: str):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_readme_steps_export_start_listen_and_add_a_band_to_the_running_broker(district):
    broker: DeployedMosquitto = district.extras["broker"]
    env = district.extras["env"]
    exported = xiaoyuan(env, "broker", "export", "--out", str(broker.etc), "--port", str(broker.port))
    assert exported.exit_code == 0, exported.output
    for name in ("passwd", "acl"):
        info = (broker.etc / name).stat()
        assert grp.getgrgid(info.st_gid).gr_name == "mosquitto" and stat.S_IMODE(info.st_mode) == 0o640
    urls = re.findall(r"^XIAOYUAN_MQTT_URL=(\S+)$", exported.output, flags=re.M)
    assert [urlsplit(u).username for u in urls[:2]] == ["xiaoyuan-listener-1", "xiaoyuan-listener-2"]
    broker.start()  # reads the files as the mosquitto user

    url = urlsplit(urls[0])
    listener = Listener(district, connection=Connection(url.hostname, url.port, url.username,
                                                        unquote(url.password), 5))
    band = None
    try:
        listener.start()
        assert listener.subscribed.wait(10), broker._log()  # the printed URL is accepted as it stands

        deployed = {**env, "XIAOYUAN_MQTT_URL": urls[0], "XIAOYUAN_BROKER_EXPORT_DIR": str(broker.etc),
                    "XIAOYUAN_BROKER_PID_FILE": str(broker.pid_file)}
        resident = district.extras["world"].residents[0].id
        added = xiaoyuan(deployed, "band", "add", "--device-id", "865001", "--site", "hut1", "--resident",
                         str(resident), "--json")
        assert added.exit_code == 0, added.output
        assert "登录验证通过" in added.output
        secret = json.JSONDecoder().raw_decode(added.output, added.output.index("{"))[0]["mqtt_password"]
        assert stat.S_IMODE((broker.etc / "passwd").stat().st_mode) == 0o640  # still readable by the broker
        band = device_client(broker.port, "865001", secret)
        band.publish("xiaoyuan/v1/hut1/band/865001/event", json.dumps({"ts": time.time(), "seq": 1, "type": "sos"}),
                     qos=1).wait_for_publish(5)
        assert wait_until(lambda: _events(district) == 1, 10)
    finally:
        if band is not None:
            band.loop_stop()
        listener.stop()


def test_a_reload_the_broker_cannot_read_is_reported_not_silent(district):
    broker: DeployedMosquitto = district.extras["broker"]
    env = district.extras["env"]
    assert xiaoyuan(env, "broker", "export", "--out", str(broker.etc)).exit_code == 0
    broker.start()
    for name in ("passwd", "acl"):  # what the old export left behind: root-only files
        os.chown(broker.etc / name, 0, 0)
        (broker.etc / name).chmod(0o600)
    result = xiaoyuan({**env, "XIAOYUAN_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}",
                       "XIAOYUAN_BROKER_EXPORT_DIR": str(broker.etc), "XIAOYUAN_BROKER_PID_FILE": str(broker.pid_file)},
                      "broker", "reload")
    assert result.exit_code == 1
    assert "拒绝" in result.output and "refused" in result.output


def test_re_export_keeps_the_owner_group_and_mode_a_deployment_gave_the_files(district, tmp_path):
    out = tmp_path / "etc"
    env = district.extras["env"]
    assert xiaoyuan(env, "broker", "export", "--out", str(out), "--group", "mosquitto", "--mode", "0640").exit_code == 0
    os.chown(out / "passwd", 0, grp.getgrnam("mosquitto").gr_gid)
    (out / "passwd").chmod(0o644)
    assert xiaoyuan(env, "broker", "export", "--out", str(out)).exit_code == 0
    info = (out / "passwd").stat()
    assert (grp.getgrgid(info.st_gid).gr_name, stat.S_IMODE(info.st_mode)) == ("mosquitto", 0o644)
    assert sorted(p.name for p in out.iterdir()) == ["acl", "passwd"]  # no temporary file left behind


def _report(output: str) -> dict:
    return json.loads(next(line for line in output.splitlines() if line.startswith("{")))


def _events(services) -> int:
    with services.session_factory() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(DeviceEvent))


def test_simulate_against_the_deployment_reuses_its_keys_and_reports_what_the_broker_accepted(district):
    broker: DeployedMosquitto = district.extras["broker"]
    env = district.extras["env"]
    assert xiaoyuan(env, "broker", "export", "--out", str(broker.etc)).exit_code == 0
    broker.start()
    secret = service_password(load_settings(environ=env))
    deployed = {**env, "XIAOYUAN_MQTT_URL": f"mqtt://xiaoyuan-listener-1:{secret}@127.0.0.1:{broker.port}"}
    args = ("band", "simulate", "--count", "3", "--scenario", "sos", "--rate", "50", "--duration", "0.2")

    started = time.monotonic()
    unknown = xiaoyuan(deployed, *args)  # the deployed broker was never told about SIM0001…
    assert unknown.exit_code == 1
    report = _report(unknown.output)
    assert (report["connected"], report["refused"], report["events_acknowledged"]) == (0, 3, 0)
    assert "拒绝了 3 个" in unknown.output and time.monotonic() - started < 30

    told = {**deployed, "XIAOYUAN_BROKER_EXPORT_DIR": str(broker.etc),
            "XIAOYUAN_BROKER_PID_FILE": str(broker.pid_file)}
    assert xiaoyuan(told, "broker", "reload").exit_code == 0  # the kept keys, now on the broker
    again = xiaoyuan(deployed, *args)  # same keys as the first run: nothing to re-export
    assert again.exit_code == 0, again.output
    report = _report(again.output)
    assert (report["connected"], report["refused"], report["events_acknowledged"]) == (3, 0, 3)
