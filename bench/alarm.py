"""Alarm-to-ring benchmark (prints JSON): SOS published on MQTT → first caregiver call request at the provider.

Starts its own Mosquitto (config/mosquitto.conf, free port), the real listener, the worker's outbox
dispatcher (as `xiaoyuan run` wires it: a committed SOS wakes it) and a fake Twilio REST API on loopback,
with a SQLite file database unless --database-url is given. Light background telemetry keeps the listener
busy. Each SOS is resolved once its call was requested, so the next one is a new alert.
Run: .venv/bin/python bench/alarm.py [--sos 200] [--mode wake|poll]

`--mode poll` leaves the wake hook out, as when the listener runs in another process than the worker
(district deployment): the dispatcher then finds the SOS by its short look for due urgent rows.
"""

from __future__ import annotations

import argparse
import json
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
from core.models.places import CaregiverLink  # noqa: E402
from core.notify.dispatcher import Dispatcher  # noqa: E402
from core.phone.telephony.twilio_provider import TwilioTelephony  # noqa: E402
from core.settings import load_settings  # noqa: E402
from devices.broker import (  # noqa: E402
    BandCredential,
    listener_usernames,
    service_password,
)
from devices.listener import Connection, Listener  # noqa: E402
from tests.integration.devices.brokers import Mosquitto  # noqa: E402
from tests.integration.voice.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilioServer  # noqa: E402
from xiaoyuan.scheduler import make_dispatcher  # noqa: E402

LINE = "+15005550006"


class TimedCalls(list):
    """The fake provider's list of placed calls, noting when each arrived and waking whoever waits."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: list[float] = []
        self.changed = threading.Condition()

    def append(self, item) -> None:  # called by the fake API's request thread
        """Record a placed call and the moment it was requested."""
        with self.changed:
            self.arrived.append(time.perf_counter())
            super().append(item)
            self.changed.notify_all()

    def wait_beyond(self, count: int, timeout: float) -> float | None:
        """The arrival time of call number `count` + 1, or None if it does not come in time."""
        deadline = time.perf_counter() + timeout
        with self.changed:
            while len(self.arrived) <= count:
                left = deadline - time.perf_counter()
                if left <= 0:
                    return None
                self.changed.wait(left)
            return self.arrived[count]


def band_client(port: int, user: str, password: str, cid: str) -> mqtt.Client:
    """A connected band (MQTT 5, its own credentials)."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def background_telemetry(clients: list[tuple[str, mqtt.Client]], rate: float, stop: threading.Event) -> None:
    """Readings from every band at `rate` msg/s in total until stopped."""
    start, i = time.perf_counter(), 0
    while not stop.is_set():
        device, c = clients[i % len(clients)]
        c.publish(f"xiaoyuan/v1/bench/band/{device}/telemetry",
                  json.dumps({"ts": round(time.time(), 3), "hr": 70 + i % 10, "battery": 80, "worn": True}), qos=0)
        i += 1
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            stop.wait(delay)


def percentile(sorted_values: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted values."""
    rank = max(1, int(round(share * len(sorted_values) + 0.5 - 1e-9)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def main() -> None:
    """Run the benchmark and print JSON figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sos", type=int, default=200)
    parser.add_argument("--telemetry-rate", type=float, default=100.0, help="background readings per second")
    parser.add_argument("--mode", choices=("wake", "poll"), default="wake")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="xiaoyuan-bench-alarm-"))
    db_url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    calls = TimedCalls()
    with FakeTwilioServer() as twilio:
        twilio.calls = calls
        settings = load_settings(environ={}, overrides={
            "data": {"dir": str(tmp)}, "database": {"url": db_url},
            "public": {"base_url": "http://127.0.0.1:9"},
            "telephony": {"provider": "twilio"},
            "twilio": {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": LINE,
                       "api_base": twilio.url},
        })
        engine = make_engine(db_url)
        Base.metadata.drop_all(engine)
        Base.metadata.create_all(engine)
        services = Services(settings=settings, session_factory=make_session_factory(engine), clock=SystemClock(),
                            telephony=TwilioTelephony(ACCOUNT_SID, AUTH_TOKEN, LINE, twilio.url))
        run(services, settings, tmp, calls, args, db_url)
        engine.dispose()


def run(services: Services, settings, tmp: Path, calls: TimedCalls, args, db_url: str) -> None:
    """Seed, start broker, listener and dispatcher, publish the SOS one after another, print the figures."""
    from tests.factories import build_world

    creds, residents = [], []
    with transaction(services.session_factory) as s:
        world = build_world(s, services.clock.now())
        for i, resident in enumerate(world.residents):
            s.query(CaregiverLink).filter(CaregiverLink.resident_id == resident.id).delete()
            s.add(CaregiverLink(resident_id=resident.id, position=1, kind="family", name=f"家属{i}",
                                phone=f"+86138000099{i:02d}", channels=["dryrun"]))
            band, secret = add_band(s, now=services.clock.now(), device_id=f"A{i:05d}", site="bench",
                                    resident_id=resident.id)
            creds.append((band.device_id, secret, band.mqtt_password_hash))
            residents.append((band.device_id, secret, resident.id))
    broker = Mosquitto(tmp, settings, [BandCredential(d, "bench", h) for d, _, h in creds]).start()
    port = broker.port
    stop_dispatch = threading.Event()
    stop_telemetry = threading.Event()
    figures: dict = {"database": db_url.split(":")[0], "mode": args.mode, "sos": args.sos,
                     "background_telemetry_msg_per_s": args.telemetry_rate,
                     "worker_tick_s": settings.worker.tick_seconds, "urgent_poll_s": settings.notify.urgent_poll_s}
    clients: dict[str, mqtt.Client] = {}
    listener = None
    try:
        service = (listener_usernames(settings)[0], service_password(settings))
        listener = Listener(services, connection=Connection("127.0.0.1", port, *service, 5),
                            client_id="bench-alarm-listener")
        listener.start()
        if not listener.subscribed.wait(15):
            raise SystemExit("the listener did not subscribe")
        # As `xiaoyuan run` wires it (the wake hook), or as a worker in another process would see it (poll).
        dispatcher = make_dispatcher(services) if args.mode == "wake" else Dispatcher(
            services, concurrency=settings.notify.concurrency)
        loop = threading.Thread(target=dispatcher.run_forever, args=(stop_dispatch,), daemon=True)
        loop.start()
        clients = {d: band_client(port, band_username(d), s, f"bench-{d}") for d, s, _ in residents}
        noise = threading.Thread(target=background_telemetry,
                                 args=(list(clients.items()), args.telemetry_rate, stop_telemetry), daemon=True)
        noise.start()
        time.sleep(1.0)
        latencies: list[float] = []
        missed = 0
        for n in range(args.sos):
            device, _, resident_id = residents[n % len(residents)]
            before = len(calls)
            t0 = time.perf_counter()
            clients[device].publish(f"xiaoyuan/v1/bench/band/{device}/event",
                                    json.dumps({"ts": time.time(), "seq": n + 1, "type": "sos"}), qos=1)
            arrived = calls.wait_beyond(before, timeout=30)
            if arrived is None:
                missed += 1
            else:
                latencies.append((arrived - t0) * 1000)
            with transaction(services.session_factory) as s:
                alert_id = s.scalar(sa.select(Alert.id).where(Alert.resident_id == resident_id,
                                                              Alert.open_key.is_not(None)))
                if alert_id is not None:
                    resolve_alert(s, now=services.clock.now(), alert_id=alert_id, note="bench", by="bench")
            # Let the all-clear and hang-up rows go out before the next SOS, as between real alarms.
            time.sleep(0.05)
        latencies.sort()
        figures["sos_called"] = len(latencies)
        figures["sos_missed"] = missed
        if latencies:
            figures["sos_to_call_request_ms_p50"] = round(statistics.median(latencies), 1)
            figures["sos_to_call_request_ms_p99"] = round(percentile(latencies, 0.99), 1)
            figures["sos_to_call_request_ms_max"] = round(latencies[-1], 1)
            figures["goal_p99_ms"] = 1000
            figures["goal_met"] = figures["sos_to_call_request_ms_p99"] <= 1000 and missed == 0
        figures["listener_dropped"] = listener.counters.total("dropped")
    finally:
        stop_telemetry.set()
        stop_dispatch.set()
        for c in clients.values():
            c.loop_stop()
            c.disconnect()
        if listener is not None:
            listener.stop()
        broker.stop()
    print(json.dumps(figures, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
