"""Wristband benchmark (prints JSON): ingest rate vs raw paho, SOS latency under load, listener memory.

Starts its own Mosquitto (config/mosquitto.conf, free port) and a SQLite file database unless
--database-url is given. Run: .venv/bin/python bench/devices.py [--messages 30000]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.bands.alerts import resolve_alert  # noqa: E402
from core.bands.registry import add_band, band_username  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.container import Services  # noqa: E402
from core.db import make_engine, make_session_factory, transaction  # noqa: E402
from core.models import Base  # noqa: E402
from core.models.alerts import Alert  # noqa: E402
from core.models.devices import TelemetryReading  # noqa: E402
from core.models.outbox import OutboxMessage  # noqa: E402
from core.models.places import CaregiverLink  # noqa: E402
from core.settings import load_settings  # noqa: E402
from devices.broker import (  # noqa: E402
    BandCredential,
    listener_usernames,
    service_password,
)
from devices.listener import Connection, Listener  # noqa: E402
from tests.integration.devices.brokers import Mosquitto  # noqa: E402


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def client(port: int, user: str, password: str, cid: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password)
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def raw_rate(port: int, bands, n: int) -> float:
    """paho publish → paho subscribe through the same Mosquitto, QoS 0, no processing."""
    got = threading.Event()
    count = [0]
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-raw-sub", protocol=mqtt.MQTTv5)
    sub.username_pw_set(*bands["service"])

    def on_message(c, u, m):
        json.loads(m.payload)
        count[0] += 1
        if count[0] >= n:
            got.set()

    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.subscribe("xiaoyuan/v1/+/band/+/telemetry", 0)
    sub.loop_start()
    time.sleep(0.5)
    pubs = [client(port, band_username(d), s, f"raw-{d}") for d, s in bands["bands"]]
    start = time.perf_counter()
    publish_all(pubs, bands["bands"], n)
    got.wait(120)
    elapsed = time.perf_counter() - start
    sub.loop_stop()
    sub.disconnect()
    for p in pubs:
        p.loop_stop()
        p.disconnect()
    return count[0] / elapsed


def publish_all(pubs, bands, n: int, rate: float | None = None, stop: threading.Event | None = None) -> int:
    start = time.perf_counter()
    now = time.time()
    for i in range(n):
        if stop is not None and stop.is_set():
            return i
        k = i % len(pubs)
        payload = json.dumps({"ts": round(now, 3), "hr": 60 + i % 30, "spo2": 97, "temp_c": 36.5,
                              "steps": i, "battery": 80, "worn": True})
        pubs[k].publish(f"xiaoyuan/v1/bench/band/{bands[k][0]}/telemetry", payload, qos=0)
        if rate:
            delay = start + (i + 1) / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
    return n


def main() -> None:
    """Run the benchmark and print JSON figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=30000)
    parser.add_argument("--bands", type=int, default=20)
    parser.add_argument("--sos", type=int, default=60)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="xiaoyuan-bench-"))
    db_url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    settings = load_settings(environ={}, overrides={"data": {"dir": str(tmp)}, "database": {"url": db_url}})
    engine = make_engine(db_url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    services = Services(settings=settings, session_factory=make_session_factory(engine), clock=SystemClock())
    from tests.factories import build_world

    creds, residents = [], []
    with transaction(services.session_factory) as s:
        world = build_world(s, services.clock.now())
        for r in world.residents:
            s.add(CaregiverLink(resident_id=r.id, position=9, kind="family", name="家属", phone="+8613800009999",
                                channels=["dryrun"]))
        for i in range(args.bands):
            resident = world.residents[i] if i < len(world.residents) else None
            band, secret = add_band(s, now=services.clock.now(), device_id=f"B{i:05d}", site="bench",
                                    resident_id=resident.id if resident else None)
            creds.append((band.device_id, secret, band.mqtt_password_hash))
            if resident:
                residents.append((band.device_id, secret, resident.id))
    broker = Mosquitto(tmp, settings, [BandCredential(d, "bench", h) for d, _, h in creds]).start()
    port = broker.port
    service = (listener_usernames(settings)[0], service_password(settings))
    bands = {"service": (listener_usernames(settings)[1], service[1]),  # the raw subscriber: its own account
             "bands": [(d, s) for d, s, _ in creds]}
    figures: dict = {"database": db_url.split(":")[0], "messages": args.messages, "bands": args.bands}
    try:
        figures["raw_paho_msg_per_s"] = round(raw_rate(port, bands, args.messages))
        rss_before = rss_mb()
        listener = Listener(services, connection=Connection("127.0.0.1", port, *service, 5),
                            client_id="bench-listener")
        listener.start()
        listener.subscribed.wait(10)
        pubs = [client(port, band_username(d), s, f"ing-{d}") for d, s in bands["bands"]]
        start = time.perf_counter()
        publish_all(pubs, bands["bands"], args.messages)
        stored = 0
        while time.perf_counter() - start < 300:
            with services.session_factory() as s:
                stored = s.scalar(sa.select(sa.func.count()).select_from(TelemetryReading))
            if stored >= args.messages:
                break
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
        figures["ingest_stored"] = stored
        figures["ingest_msg_per_s"] = round(stored / elapsed)
        figures["ingest_vs_raw"] = round(figures["ingest_msg_per_s"] / figures["raw_paho_msg_per_s"], 2)
        # SOS latency under 1,000 msg/s of background telemetry.
        stop = threading.Event()
        background = threading.Thread(target=publish_all, args=(pubs, bands["bands"], 10**9, 1000.0, stop))
        background.start()
        # One connection per band (the broker makes its client id its username): SOS go over the same client.
        by_device = dict(zip((d for d, _ in bands["bands"]), pubs, strict=True))
        sos_clients = {d: by_device[d] for d, _, _ in residents}
        latencies = []
        for n in range(args.sos):
            device, _, resident_id = residents[n % len(residents)]
            t0 = time.perf_counter()
            sos_clients[device].publish(f"xiaoyuan/v1/bench/band/{device}/event",
                                        json.dumps({"ts": time.time(), "seq": n + 1, "type": "sos"}), qos=1)
            alert_id = None
            while time.perf_counter() - t0 < 5:
                with services.session_factory() as s:
                    alert_id = s.scalar(sa.select(Alert.id).join(
                        OutboxMessage, sa.and_(OutboxMessage.subject_type == "alert",
                                               OutboxMessage.subject_id == Alert.id))
                        .where(Alert.resident_id == resident_id, Alert.open_key.is_not(None)).limit(1))
                if alert_id:
                    break
                time.sleep(0.001)
            latencies.append((time.perf_counter() - t0) * 1000)
            if alert_id:
                with transaction(services.session_factory) as s:
                    resolve_alert(s, now=services.clock.now(), alert_id=alert_id, note="bench", by="bench")
            time.sleep(0.05)
        stop.set()
        background.join()
        latencies.sort()
        figures["sos_samples"] = len(latencies)
        figures["sos_to_alert_and_outbox_ms_p50"] = round(statistics.median(latencies), 1)
        figures["sos_to_alert_and_outbox_ms_p99"] = round(latencies[int(len(latencies) * 0.99) - 1], 1)
        figures["listener_dropped"] = listener.counters.total("dropped")
        figures["process_rss_mb"] = round(rss_mb(), 1)
        figures["process_rss_growth_mb"] = round(rss_mb() - rss_before, 1)
        figures["process_max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        listener.stop()
        for c in [*pubs, *sos_clients.values()]:
            c.loop_stop()
            c.disconnect()
    finally:
        broker.stop()
        engine.dispose()
    print(json.dumps(figures, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
