"""District rehearsal (prints JSON): the deployed shape under band load while processes die.

PostgreSQL (a fresh database), Mosquitto with the shipped config and the files `xiaoyuan broker export`
wrote, 2 `xiaoyuan listener` (own accounts, one shared group), 2 `xiaoyuan worker`, `gunicorn -w 2` and a
fake Twilio on loopback. N bands (one MQTT connection each) send one reading a minute compressed in
time, a burst from every band now and then, and SOS from random bands (each band at most once, so every
SOS is a new alert; each alert is resolved once its call arrived, so escalation adds no calls). During the
run it kill -9s a listener, the lease-holding worker and a gunicorn worker (a supervisor restarts the first
two after `--restart-after` s; gunicorn's master replaces its own), and restarts the broker.

Prints: SOS published / alerted / called (equal when nothing is lost), duplicate calls (0), SOS → first call
p50 / p99 in steady state and for SOS published within `--window` s after each fault, recovery per fault.
Run: .venv/bin/python bench/district.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
     [--bands 1000] [--compress 10] [--duration 120]   (--bands 5000 is issue 10's full scale)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.alarm import TimedCalls, percentile  # noqa: E402
from core import lease  # noqa: E402
from core.bands.alerts import resolve_alert  # noqa: E402
from core.bands.registry import add_band, band_username  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.db import make_engine, make_session_factory, normalise_url, transaction  # noqa: E402
from core.health import WORKER_LEASE, listener_problem  # noqa: E402
from core.models.alerts import Alert  # noqa: E402
from devices.broker import render_mosquitto_conf  # noqa: E402
from devices.simulator import reading  # noqa: E402
from tests.integration.voice.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer  # noqa: E402
from tests.processes import free_port, healthz, stop_processes  # noqa: E402

MOSQUITTO = "/usr/sbin/mosquitto"
SITE = "district"
HEADER = ("村,小院,户号,姓名,电话,出生年,独居,照护人1,照护人1电话,照护人1关系,照护人2,照护人2电话,照护人2关系,"
          "照护人3,照护人3电话,照护人3关系\n")


def carer_number(i: int) -> str:
    return f"+86139{i:08d}"


# --- bands: a small MQTT 3.1.1 client on asyncio, so thousands of connections fit in one process ---------

def _string(value: str) -> bytes:
    data = value.encode()
    return struct.pack("!H", len(data)) + data


def _packet(kind: int, body: bytes) -> bytes:
    length, encoded = len(body), bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes([kind]) + bytes(encoded) + body


class Band:
    """One band's connection: telemetry at QoS 0, SOS at QoS 1 resent after a reconnect until acknowledged."""

    def __init__(self, device_id: str, secret: str, port: int) -> None:
        self.device_id, self.secret, self.port = device_id, secret, port
        self.writer: asyncio.StreamWriter | None = None
        self.acks: dict[int, asyncio.Future] = {}
        self.next_id = 0
        self.connected = asyncio.Event()
        self.step = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected (reconnect after the broker restarts) until stopped."""
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                flags = 0xC2  # username, password, clean session
                body = _string("MQTT") + bytes([4, flags]) + struct.pack("!H", 0) + _string(self.device_id) \
                    + _string(band_username(self.device_id)) + _string(self.secret)
                writer.write(_packet(0x10, body))
                head = await reader.readexactly(4)
                if head[3] != 0:
                    raise SystemExit(f"the broker refused band {self.device_id} (CONNACK {head[3]})")
                self.writer = writer
                self.connected.set()
                await self._read(reader)
            except (OSError, asyncio.IncompleteReadError):
                pass
            self.connected.clear()
            self.writer = None
            for fut in self.acks.values():
                if not fut.done():
                    fut.set_result(False)
            await asyncio.sleep(0.5 + random.random())

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            kind = (await reader.readexactly(1))[0]
            length, shift = 0, 0
            while True:
                byte = (await reader.readexactly(1))[0]
                length += (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            body = await reader.readexactly(length) if length else b""
            if kind >> 4 == 4:  # PUBACK
                fut = self.acks.pop(struct.unpack("!H", body[:2])[0], None)
                if fut is not None and not fut.done():
                    fut.set_result(True)

    def telemetry(self, rng: random.Random) -> None:
        if self.writer is None:
            return
        self.step += 1
        payload = json.dumps(reading("normal", self.step, rng, time.time()) | {"battery": 80}).encode()
        self.writer.write(_packet(0x30, _string(f"xiaoyuan/v1/{SITE}/band/{self.device_id}/telemetry") + payload))

    async def sos(self, seq: int) -> None:
        """Publish an SOS at QoS 1; resend (after reconnecting) until the broker acknowledges it."""
        payload = json.dumps({"ts": time.time(), "seq": seq, "type": "sos"}).encode()
        dup = 0
        while True:
            await self.connected.wait()
            if self.writer is None:
                continue
            self.next_id = self.next_id % 65535 + 1
            fut = asyncio.get_running_loop().create_future()
            self.acks[self.next_id] = fut
            topic = _string(f"xiaoyuan/v1/{SITE}/band/{self.device_id}/event")
            self.writer.write(_packet(0x32 | dup, topic + struct.pack("!H", self.next_id) + payload))
            try:
                if await asyncio.wait_for(fut, 10):
                    return
            except TimeoutError:
                pass
            dup = 0x08


# --- the deployment's processes ----------------------------------------------------------------------------

class District:
    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp, self.env = tmp, env
        self.procs: dict[str, subprocess.Popen] = {}
        self.argv: dict[str, tuple[list[str], dict[str, str]]] = {}

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "xiaoyuan", *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=300)
        if done.returncode:
            raise SystemExit(f"xiaoyuan {' '.join(args[:2])} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def start(self, name: str, argv: list[str] | None = None, env: dict[str, str] | None = None) -> subprocess.Popen:
        if argv is not None:
            self.argv[name] = (argv, env or {})
        argv, extra = self.argv[name]
        log = (self.tmp / f"{name}.log").open("a")
        self.procs[name] = subprocess.Popen(argv, cwd=ROOT, env={**self.env, **extra}, stdout=log,
                                            stderr=subprocess.STDOUT)
        log.close()
        return self.procs[name]

    def stop(self) -> None:
        stop_processes(self.procs.values())


def until(predicate, timeout: float, since: float | None = None) -> float | None:
    """Seconds (from `since`, else now) until predicate() held, polled every 0.1 s; None if not within timeout."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if predicate():
            return round(time.perf_counter() - (start if since is None else since), 2)
        time.sleep(0.1)
    return None


def children(pid: int) -> set[int]:
    """A process's children (Linux)."""
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def healthy_listeners(body: dict, but: int | None = None) -> int:
    """Listener processes reporting, connected, subscribed and hearing their heartbeat (by /healthz's process
    list), leaving out process `but` (a killed one whose row is not stale yet)."""
    now = SystemClock().now()
    return sum(1 for p in body.get("processes", []) if p.get("reporting") and "listener" in p
               and listener_problem(p["listener"], now) is None and not p["name"].endswith(f":{but}"))


# --- the run -------------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=os.environ.get("XIAOYUAN_TEST_DATABASE_URL", ""),
                        help="a PostgreSQL server; a fresh database is created on it and dropped afterwards")
    parser.add_argument("--bands", type=int, default=1000)
    parser.add_argument("--compress", type=float, default=10.0, help="one reading a minute, this many times faster")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load")
    parser.add_argument("--sos-every", type=float, default=1.5, help="seconds between SOS from random bands")
    parser.add_argument("--burst-every", type=float, default=30.0, help="seconds between bursts of every band")
    parser.add_argument("--window", type=float, default=15.0, help="SOS this soon after a fault count for it")
    parser.add_argument("--restart-after", type=float, default=2.0, help="supervisor's delay before a restart")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):  # `make bench` on a machine without PostgreSQL
        print(json.dumps({"skipped": "the district runs on PostgreSQL: --database-url postgresql://… "
                                     "or XIAOYUAN_TEST_DATABASE_URL"}))
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one descriptor per band, here and in Mosquitto
    admin = sa.create_engine(normalise_url(args.database_url), isolation_level="AUTOCOMMIT")
    name = f"xiaoyuan_bench_district_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    db_url = sa.engine.make_url(args.database_url).set(database=name).render_as_string(hide_password=False)
    tmp = Path(tempfile.mkdtemp(prefix="xiaoyuan-bench-district-"))
    try:
        print(json.dumps(run(args, db_url, tmp), ensure_ascii=False, indent=2))
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


def run(args, db_url: str, tmp: Path) -> dict:
    calls = TimedCalls()
    with FakeTwilioServer() as twilio:
        twilio.calls = calls
        env = {k: v for k, v in os.environ.items() if not k.startswith("XIAOYUAN_")}
        etc, pid_file = tmp / "etc", tmp / "mosquitto.pid"
        env.update({
            "PYTHONUNBUFFERED": "1", "XIAOYUAN_DATABASE_URL": db_url, "XIAOYUAN_DATA_DIR": str(tmp / "var"),
            "XIAOYUAN_WEB_SECRET_KEY": "bench-district-" + "k" * 32, "XIAOYUAN_PUBLIC_BASE_URL": "https://x.example.org",
            "XIAOYUAN_TELEPHONY_PROVIDER": "twilio", "XIAOYUAN_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "XIAOYUAN_TWILIO_AUTH_TOKEN": AUTH_TOKEN, "XIAOYUAN_TWILIO_FROM_NUMBER": "+15005550006",
            "XIAOYUAN_TWILIO_API_BASE": twilio.url, "XIAOYUAN_BROKER_EXPORT_DIR": str(etc),
            "XIAOYUAN_BROKER_PID_FILE": str(pid_file),
        })
        district = District(tmp, env)
        engine = make_engine(db_url)
        try:
            return _rehearse(args, district, engine, calls, etc, pid_file)
        finally:
            district.stop()
            engine.dispose()


def _rehearse(args, district: District, engine, calls: TimedCalls, etc: Path, pid_file: Path) -> dict:
    tmp, clock = district.tmp, SystemClock()
    factory = make_session_factory(engine)
    t0 = time.perf_counter()
    district.cli("db", "upgrade")
    roster = tmp / "roster.csv"
    rows = [f"演练村,{i // 50 + 1}号院,{i + 1},村民{i:05d},138{i:08d},1945,否,家属{i:05d},139{i:08d},子女,,,,,,\n"
            for i in range(args.bands)]
    roster.write_text(HEADER + "".join(rows), encoding="utf-8")
    district.cli("import", "roster", str(roster), "--town", "演练镇")
    bands: list[tuple[str, str]] = []
    with transaction(factory) as s:
        residents = dict(s.execute(sa.text("SELECT name, id FROM resident")).all())
        for i in range(args.bands):
            device_id = f"D{i:06d}"
            _, secret = add_band(s, now=clock.now(), device_id=device_id, site=SITE,
                                 resident_id=residents[f"村民{i:05d}"])
            bands.append((device_id, secret))
    port = free_port()
    exported = district.cli("broker", "export", "--out", str(etc), "--port", str(port))
    urls = re.findall(r"^XIAOYUAN_MQTT_URL=(\S+)$", exported, flags=re.M)
    district.env["XIAOYUAN_MQTT_URL"] = urls[0]
    (tmp / "mosquitto").mkdir()
    conf = render_mosquitto_conf((ROOT / "config" / "mosquitto.conf").read_text(), port=port, passwd=etc / "passwd",
                                 acl=etc / "acl", data_dir=tmp / "mosquitto")
    (tmp / "mosquitto.conf").write_text(conf + f"pid_file {pid_file}\n")
    district.start("mosquitto", [MOSQUITTO, "-c", str(tmp / "mosquitto.conf")])
    for n in (1, 2):
        district.start(f"listener{n}", [sys.executable, "-m", "xiaoyuan", "listener"],
                       {"XIAOYUAN_MQTT_URL": urls[n - 1], "XIAOYUAN_MQTT_SHARED_GROUP": "listeners"})
        district.start(f"worker{n}", [sys.executable, "-m", "xiaoyuan", "worker"],
                       {"XIAOYUAN_WORKER_ID": f"worker-{n}"})
    web = free_port()
    district.start("gunicorn", [str(Path(sys.executable).with_name("gunicorn")), "-c", "python:xiaoyuan.gunicorn_conf",
                                "-w", "2", "-b", f"127.0.0.1:{web}", "--error-logfile", "-",
                                "xiaoyuan.wsgi:create_app()"])
    if until(lambda: healthz(web)[0] == 200 and healthy_listeners(healthz(web)[1]) == 2, 300) is None:
        raise SystemExit(f"the deployment did not become healthy: {healthz(web)}")
    setup_s = round(time.perf_counter() - t0, 1)

    state = {"sos": {}, "faults": [], "resolved": 0}
    stop_resolver = threading.Event()
    resolver = threading.Thread(target=_resolve_called, args=(factory, calls, args.bands, state, stop_resolver),
                                daemon=True)
    resolver.start()
    faults = threading.Thread(target=_faults, args=(args, district, factory, web, state), daemon=True)
    state["loaded"] = threading.Event()
    faults.start()
    band_stats = asyncio.run(_load(args, bands, port, state))
    faults.join(timeout=120)
    # Every SOS has been acknowledged by the broker; wait for their calls.
    until(lambda: len({c["To"] for c in list(calls)}) >= len(state["sos"]), 60)
    stop_resolver.set()
    resolver.join(5)
    return _figures(args, state, calls, engine, setup_s, band_stats)


async def _load(args, bands: list[tuple[str, str]], port: int, state: dict) -> dict:
    rng = random.Random(args.seed)
    stop = asyncio.Event()
    clients = [Band(d, s, port) for d, s in bands]
    tasks = [asyncio.create_task(c.run(stop)) for c in clients]
    await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in clients)), 120)
    state["bands_connected"] = lambda: sum(c.connected.is_set() for c in clients)
    state["load_start"] = time.perf_counter()
    state["loaded"].set()
    order = list(range(len(clients)))
    rng.shuffle(order)
    interval = 60.0 / args.compress
    start = time.perf_counter()
    sent = {"telemetry": 0, "bursts": 0}
    next_sos, next_burst, tick = start + 2.0, start + args.burst_every, 0
    pending: list[asyncio.Task] = []

    async def one_sos(index: int) -> None:
        state["sos"][clients[index].device_id] = {"index": index, "at": time.perf_counter()}
        await clients[index].sos(1)
        state["sos"][clients[index].device_id]["acked"] = time.perf_counter()

    while time.perf_counter() - start < args.duration:
        now = time.perf_counter()
        # Spread each band's reading over the interval: a slice of the bands every 0.1 s.
        per_tick = max(1, round(len(clients) * 0.1 / interval))
        for k in range(per_tick):
            clients[(tick * per_tick + k) % len(clients)].telemetry(rng)
        sent["telemetry"] += per_tick
        tick += 1
        if now >= next_burst:
            for c in clients:
                c.telemetry(rng)
            sent["telemetry"] += len(clients)
            sent["bursts"] += 1
            next_burst += args.burst_every
        if now >= next_sos and order:
            pending.append(asyncio.create_task(one_sos(order.pop())))
            next_sos += rng.expovariate(1 / args.sos_every)
        await asyncio.sleep(max(0.0, start + tick * 0.1 - time.perf_counter()))
    await asyncio.wait_for(asyncio.gather(*pending), 120)
    stop.set()
    for c in clients:
        if c.writer is not None:
            c.writer.close()
    for t in tasks:
        t.cancel()
    return {"telemetry_sent": sent["telemetry"], "bursts": sent["bursts"],
            "telemetry_per_s": round(len(clients) / interval, 1)}


def _faults(args, district: District, factory, web: int, state: dict) -> None:
    """At fixed shares of the run: kill -9 a listener, the lease holder, a gunicorn worker; restart the broker."""
    plan = [(0.15, _kill_listener), (0.35, _kill_lease_holder), (0.55, _kill_gunicorn_worker), (0.75, _restart_broker)]
    state["loaded"].wait()
    for share, inject in plan:
        delay = state["load_start"] + share * args.duration - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        state["faults"].append(inject(args, district, factory, web, state))


def _kill_listener(args, district: District, factory, web: int, state: dict) -> dict:
    killed = district.procs["listener1"].pid
    district.procs["listener1"].send_signal(signal.SIGKILL)
    district.procs["listener1"].wait()
    fault = {"fault": "listener", "at": time.perf_counter()}
    time.sleep(args.restart_after)
    district.start("listener1")  # the supervisor's restart
    # Recovered: two listeners healthy again, the killed one's stale row not counted.
    fault["recovery_s"] = until(lambda: healthy_listeners(healthz(web)[1], but=killed) == 2, 120, since=fault["at"])
    return fault


def _kill_lease_holder(args, district: District, factory, web: int, state: dict) -> dict:
    now = SystemClock().now
    holder = lease.current_holder(factory, WORKER_LEASE, now()) or ""
    name = "worker1" if holder.startswith("worker-1@") else "worker2"
    district.procs[name].send_signal(signal.SIGKILL)
    district.procs[name].wait()
    fault = {"fault": "worker", "at": time.perf_counter(), "killed": holder.split(":")[0]}
    fault["recovery_s"] = until(lambda: (lease.current_holder(factory, WORKER_LEASE, now()) or holder) != holder, 60,
                                since=fault["at"])
    fault["taken_by"] = (lease.current_holder(factory, WORKER_LEASE, now()) or "").split(":")[0]
    district.start(name)  # the supervisor's restart: it stands by
    return fault


def _kill_gunicorn_worker(args, district: District, factory, web: int, state: dict) -> dict:
    master = district.procs["gunicorn"].pid
    victim = min(children(master))
    os.kill(victim, signal.SIGKILL)
    fault = {"fault": "gunicorn", "at": time.perf_counter()}
    fault["recovery_s"] = until(lambda: len(children(master) - {victim}) == 2
                                and healthz(web)[0] == 200, 60, since=fault["at"])
    return fault


def _restart_broker(args, district: District, factory, web: int, state: dict) -> dict:
    broker, connected = district.procs["mosquitto"], state["bands_connected"]
    broker.send_signal(signal.SIGTERM)
    broker.wait(30)
    fault = {"fault": "broker", "at": time.perf_counter()}
    until(lambda: connected() < args.bands, 10)  # the bands notice
    district.start("mosquitto")
    fault["bands_reconnected_s"] = until(lambda: connected() == args.bands, 120, since=fault["at"])
    fault["recovery_s"] = until(lambda: healthz(web)[0] == 200 and healthy_listeners(healthz(web)[1]) == 2, 120,
                                since=fault["at"])
    return fault


def _resolve_called(factory, calls: TimedCalls, bands: int, state: dict, stop: threading.Event) -> None:
    """Resolve each SOS alert once its call arrived (as a caregiver would), so escalation adds no calls."""
    seen = 0
    while not stop.is_set():
        if calls.wait_beyond(seen, timeout=0.5) is None:
            continue
        call = calls[seen]
        seen += 1
        match = re.fullmatch(r"\+86139(\d{8})", call.get("To", ""))
        if not match:
            continue
        device_id = f"D{int(match.group(1)):06d}"
        with transaction(factory) as s:
            for alert_id in s.scalars(sa.select(Alert.id).where(Alert.device_id == device_id,
                                                                Alert.resolved_at.is_(None))):
                try:
                    resolve_alert(s, now=SystemClock().now(), alert_id=alert_id, note="演练", by="bench")
                    state["resolved"] += 1
                except Exception:  # already closed by another path: nothing to do
                    pass


def _figures(args, state: dict, calls: TimedCalls, engine, setup_s: float, band_stats: dict) -> dict:
    first_call: dict[str, float] = {}
    per_number: dict[str, int] = {}
    for call, arrived in zip(list(calls), calls.arrived, strict=False):
        to = call.get("To", "")
        per_number[to] = per_number.get(to, 0) + 1
        first_call.setdefault(to, arrived)
    sos = state["sos"]
    with engine.connect() as conn:
        alerted = conn.execute(sa.text("SELECT count(DISTINCT device_id) FROM alert WHERE type = 'sos'")).scalar()
        alerts = conn.execute(sa.text("SELECT count(*) FROM alert WHERE type = 'sos'")).scalar()
    groups: dict[str, list[float]] = {"steady": []}
    faults = state["faults"]
    for fault in faults:
        groups[fault["fault"]] = []
    missing = 0
    for entry in sos.values():
        number = carer_number(entry["index"])
        if number not in first_call:
            missing += 1
            continue
        latency = (first_call[number] - entry["at"]) * 1000
        label = next((f["fault"] for f in faults if 0 <= entry["at"] - f["at"] < args.window), "steady")
        groups[label].append(latency)

    def summary(values: list[float]) -> dict:
        values = sorted(values)
        if not values:
            return {"sos": 0}
        return {"sos": len(values), "p50_ms": round(percentile(values, 0.5), 1),
                "p99_ms": round(percentile(values, 0.99), 1), "max_ms": round(values[-1], 1)}

    return {
        "database": "postgresql", "bands": args.bands, "compress": args.compress, "duration_s": args.duration,
        **band_stats, "setup_s": setup_s,
        "sos_published": len(sos), "sos_alerted": alerted, "sos_called": len(sos) - missing,
        "duplicate_calls": sum(n - 1 for n in per_number.values() if n > 1), "duplicate_alerts": alerts - alerted,
        "calls_total": len(calls), "latency": {k: summary(v) for k, v in groups.items()},
        "faults": [{k: v for k, v in f.items() if k != "at"} | {"at_s": round(f["at"] - state["load_start"], 1)}
                   for f in faults],
    }


if __name__ == "__main__":
    main()
