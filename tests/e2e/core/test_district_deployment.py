"""README's district deployment, command by command, on PostgreSQL: the shipped Mosquitto config with the
files `xiaoyuan broker export` wrote, 2 listeners, 2 workers, gunicorn -w 2 and a fake Twilio; an SOS is
called exactly once, a band added to the running deployment is alerted, /healthz is 200."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.db import make_engine
from devices.broker import render_mosquitto_conf
from tests.conftest import scratch_pg_database
from tests.integration.devices.brokers import MOSQUITTO, device_client
from tests.integration.voice.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer
from tests.processes import free_port, healthz, stop_processes, wait_until

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text()
pytestmark = pytest.mark.slow
# Seven Python processes start at once; on the shared 2-core machine (load average 10+) one takes up to a
# minute to import, on an idle one a few seconds.
START_S = 180.0

ROSTER = (
    "村,小院,户号,姓名,电话,出生年,独居,照护人1,照护人1电话,照护人1关系,照护人2,照护人2电话,照护人2关系,"
    "照护人3,照护人3电话,照护人3关系\n"
    "测试村,一号院,1,王奶奶,13800000001,1940,是,王小明,13900000001,儿子,,,,,,\n"
    "测试村,一号院,2,李爷爷,13800000002,1938,是,李小红,13900000002,女儿,,,,,,\n"
)


def readme_command(pattern: str) -> list[str]:
    """The first README code span matching `pattern`, split as a shell would: the test runs what README says."""
    spans = [s for line in README.splitlines() for s in re.findall(r"`([^`]+)`", line) if re.fullmatch(pattern, s)]
    assert spans, f"README no longer documents a command matching {pattern!r}"
    return shlex.split(spans[0])


@pytest.fixture
def fresh_pg_url():
    """An empty PostgreSQL database of its own (`xiaoyuan db upgrade` creates the schema), dropped afterwards."""
    with scratch_pg_database("xiaoyuan_district") as url:
        yield url


class Deployment:
    """The processes of one district host, started as README says, with their logs."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp, self.env = tmp, env
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}

    def xiaoyuan(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """One CLI step; it must succeed as documented (no hand fix)."""
        done = subprocess.run([sys.executable, "-m", "xiaoyuan", *args], cwd=ROOT, env={**self.env, **(env or {})},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        self.logs[name] = self.tmp / f"{name}.log"
        with self.logs[name].open("w") as log:
            self.procs[name] = subprocess.Popen(argv, cwd=ROOT, env={**self.env, **(env or {})}, stdout=log,
                                                stderr=subprocess.STDOUT)
        return self.procs[name]

    def tell(self) -> str:
        return "\n".join(f"--- {n}\n{p.read_text()[-2500:]}" for n, p in self.logs.items() if p.exists())

    def stop(self) -> None:
        stop_processes(reversed(list(self.procs.values())))


def test_readme_district_deployment_calls_an_sos_once_and_learns_a_band_added_while_running(fresh_pg_url, tmp_path):
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed")
    with FakeTwilioServer() as twilio:
        env = {k: v for k, v in os.environ.items() if not k.startswith("XIAOYUAN_")}
        etc = tmp_path / "etc"  # README: /etc/mosquitto/xiaoyuan
        pid_file = tmp_path / "mosquitto.pid"
        env.update({
            "PYTHONUNBUFFERED": "1", "XIAOYUAN_DATABASE_URL": fresh_pg_url, "XIAOYUAN_DATA_DIR": str(tmp_path / "var"),
            "XIAOYUAN_WEB_SECRET_KEY": "district-e2e-" + "k" * 32,
            "XIAOYUAN_PUBLIC_BASE_URL": "https://xiaoyuan.example.org",
            "XIAOYUAN_TELEPHONY_PROVIDER": "twilio", "XIAOYUAN_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "XIAOYUAN_TWILIO_AUTH_TOKEN": AUTH_TOKEN, "XIAOYUAN_TWILIO_FROM_NUMBER": "+15005550006",
            "XIAOYUAN_TWILIO_API_BASE": twilio.url,
            "XIAOYUAN_BROKER_EXPORT_DIR": str(etc), "XIAOYUAN_BROKER_PID_FILE": str(pid_file),
        })
        district = Deployment(tmp_path, env)
        try:
            _run(district, twilio, etc, pid_file, fresh_pg_url)
        finally:
            district.stop()


def _run(district: Deployment, twilio, etc: Path, pid_file: Path, db_url: str) -> None:
    tmp = district.tmp
    deployment_variables = ("XIAOYUAN_DATABASE_URL", "XIAOYUAN_MQTT_URL", "XIAOYUAN_MQTT_SHARED_GROUP",
                            "XIAOYUAN_BROKER_EXPORT_DIR", "XIAOYUAN_BROKER_PID_FILE", "XIAOYUAN_WORKER_ID",
                            "XIAOYUAN_WEB_SECRET_KEY", "XIAOYUAN_PUBLIC_BASE_URL")
    assert [v for v in deployment_variables if v not in README] == []  # every variable used here is documented
    # Database: schema by `xiaoyuan db upgrade`; a small world from a roster (README "Roster import").
    district.xiaoyuan(*readme_command(r"xiaoyuan db upgrade")[1:])
    roster = tmp / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    district.xiaoyuan("import", "roster", str(roster), "--town", "测试镇")
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            residents = dict(conn.execute(sa.text("SELECT name, id FROM resident")).all())
        assert set(residents) == {"王奶奶", "李爷爷"}

        # Broker: `xiaoyuan broker export --out DIR` (on this host's free port), then Mosquitto with the shipped
        # config pointed at the files, run as the current user (README's config drops to `mosquitto` as root).
        export = readme_command(r"xiaoyuan broker export --out \S+.*")
        port = free_port()
        args = [str(etc) if a == "/etc/mosquitto/xiaoyuan" else "127.0.0.1" if a == "BROKER_HOST" else a
                for a in export[1:]]
        exported = district.xiaoyuan(*args, "--port", str(port)).stdout
        urls = re.findall(r"^XIAOYUAN_MQTT_URL=(\S+)$", exported, flags=re.M)
        assert len(urls) >= 2, exported
        # The host's environment names the broker (the tools use its address and secret with their own account);
        # each listener overrides it with its own URL below.
        district.env["XIAOYUAN_MQTT_URL"] = urls[0]
        (tmp / "mosquitto").mkdir()
        conf = render_mosquitto_conf((ROOT / "config" / "mosquitto.conf").read_text(), port=port,
                                     passwd=etc / "passwd", acl=etc / "acl", data_dir=tmp / "mosquitto")
        (tmp / "mosquitto.conf").write_text(conf + f"pid_file {pid_file}\n")
        district.start("mosquitto", [MOSQUITTO, "-c", str(tmp / "mosquitto.conf")])
        assert wait_until(lambda: pid_file.exists(), 10), district.tell()

        # The first band: the one documented command updates the files and reloads the running broker.
        first = _add_band(district, "865000000000001", residents["王奶奶"])

        # Two listeners (own accounts, one shared group), two workers, gunicorn -w 2.
        for n in (1, 2):
            district.start(f"listener{n}", [sys.executable, "-m", "xiaoyuan", "listener"],
                           env={"XIAOYUAN_MQTT_URL": urls[n - 1], "XIAOYUAN_MQTT_SHARED_GROUP": "listeners"})
            district.start(f"worker{n}", [sys.executable, "-m", "xiaoyuan", "worker"],
                           env={"XIAOYUAN_WORKER_ID": f"worker-{n}"})
        web_port = free_port()
        gunicorn = readme_command(r"gunicorn -w 2 .*")
        gunicorn = [str(Path(sys.executable).with_name("gunicorn"))] + [
            f"127.0.0.1:{web_port}" if a == "127.0.0.1:8000" else a for a in gunicorn[1:]]
        district.start("gunicorn", gunicorn)
        assert wait_until(lambda: healthz(web_port)[0] == 200, START_S, every=0.2), (healthz(web_port), district.tell())
        health = healthz(web_port)[1]
        roles = Counter(p["role"] for p in health.get("processes", []))
        assert roles["listener"] == 2 and roles["worker"] == 2, health

        # An SOS from a band: one call at the fake Twilio, to the first caregiver.
        _sos(district, port, first, seq=1)
        assert wait_until(lambda: len(twilio.calls) >= 1, 30, every=0.1), district.tell()
        assert twilio.calls[0]["To"] == "+8613900000001"
        _settled(engine, district)
        assert [c["To"] for c in twilio.calls] == ["+8613900000001"], twilio.calls

        # A band added to the running deployment publishes an SOS that is alerted and called.
        second = _add_band(district, "865000000000002", residents["李爷爷"])
        _sos(district, port, second, seq=1)
        assert wait_until(lambda: len(twilio.calls) >= 2, 30, every=0.1), district.tell()
        _settled(engine, district)
        assert [c["To"] for c in twilio.calls] == ["+8613900000001", "+8613900000002"], twilio.calls
        with engine.connect() as conn:
            alerts = conn.execute(sa.text("SELECT device_id, type FROM alert ORDER BY id")).all()
        assert [tuple(a) for a in alerts] == [(first[0], "sos"), (second[0], "sos")]
        assert healthz(web_port)[0] == 200, healthz(web_port)
    finally:
        engine.dispose()


def _add_band(district: Deployment, device_id: str, resident_id: int) -> tuple[str, str]:
    """`xiaoyuan band add` with the deployed broker's directory set: files updated, broker reloaded, verified."""
    added = district.xiaoyuan("band", "add", "--device-id", device_id, "--site", "hut1", "--resident",
                              str(resident_id), "--json")
    start = added.stdout.index("{")
    band, end = json.JSONDecoder().raw_decode(added.stdout, start)
    assert "登录验证通过" in added.stdout[end:], added.stdout  # reloaded the deployed broker and verified the logins
    return device_id, band["mqtt_password"]


def _sos(district: Deployment, port: int, band: tuple[str, str], *, seq: int) -> None:
    client = device_client(port, *band)
    try:
        info = client.publish(f"xiaoyuan/v1/hut1/band/{band[0]}/event",
                              json.dumps({"ts": time.time(), "seq": seq, "type": "sos"}), qos=1)
        info.wait_for_publish(10)
        assert info.is_published(), district.tell()
    finally:
        client.loop_stop()
        client.disconnect()


def _settled(engine, district: Deployment) -> None:
    """Wait until no voice call is left to place (so a duplicate would already be at the fake Twilio)."""
    def settled() -> bool:
        with engine.connect() as conn:
            return not conn.execute(sa.text(
                "SELECT count(*) FROM outbox_message WHERE channel = 'voice_call' AND status IN ('pending', 'sending')"
            )).scalar()
    assert wait_until(settled, 30, every=0.1), district.tell()
