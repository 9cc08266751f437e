"""Watch gateway benchmark (prints JSON): thousands of concurrent 3G* watches, frames/s, SOS frame → alert, memory.

Starts its own Mosquitto (config/mosquitto.conf, free port), the listener in this process, and
`xiaoyuan gateway` as a child process (so its memory is its own), on a SQLite file unless --database-url
is given. Simulated watches (asyncio, one TCP connection each) log in with LK, then send UD every
--interval seconds (10 s in the field; compress time with a smaller value) for --duration seconds while
bursts of AL (SOS) frames arrive; then every watch floods --flood UD frames to measure throughput.
Run: .venv/bin/python bench/watch.py [--watches 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.bands.registry import add_band  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.container import Services  # noqa: E402
from core.db import make_engine, make_session_factory, transaction  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models.devices import Band, DeviceEvent  # noqa: E402
from core.settings import load_settings  # noqa: E402
from devices.broker import BandCredential, service_password  # noqa: E402
from devices.listener import Connection, Listener  # noqa: E402
from devices.watch.frames import encode_frame  # noqa: E402
from tests.integration.devices.brokers import Mosquitto  # noqa: E402
from tests.processes import free_port, listening, wait_until  # noqa: E402


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def wait_port(port: int, timeout: float = 60) -> None:
    if not wait_until(lambda: listening(port), timeout, every=0.1):
        raise SystemExit(f"nothing listens on {port}")


def position(kind: str, when: float, status: str, battery: int = 80, steps: int = 1200) -> str:
    stamp = time.strftime("%d%m%y,%H%M%S", time.gmtime(when))
    return (f"{kind},{stamp},A,29.563010,N,106.551556,E,0.00,95.7,0.0,9,100,{battery},{steps},0,{status},"
            "4,1,460,0,9346,13191,160,9346,13192,150")


class SimWatch:
    """One simulated watch on its own TCP connection; counts the replies it gets."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self.replies = 0
        self.al_sent: dict[int, float] = {}  # AL number → perf_counter when sent
        self.al_answered: list[float] = []
        self.lk_waiters: list[asyncio.Future] = []
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.task = asyncio.ensure_future(self._read())
        await self.link()

    async def _read(self) -> None:
        buffer = b""
        while True:
            data = await self.reader.read(4096)
            if not data:
                return
            buffer += data
            while b"]" in buffer:
                frame, buffer = buffer.split(b"]", 1)
                self.replies += 1
                content = frame.rsplit(b"*", 1)[-1]
                if content == b"AL" and self.al_sent:
                    first = min(self.al_sent)
                    self.al_answered.append((time.perf_counter() - self.al_sent.pop(first)) * 1000)
                elif content == b"LK" and self.lk_waiters:
                    self.lk_waiters.pop(0).set_result(None)

    async def link(self) -> None:
        """LK and wait for its answer (every frame sent before it has then been handled)."""
        waiter = asyncio.get_running_loop().create_future()
        self.lk_waiters.append(waiter)
        self.send("LK,1200,0,80")
        await waiter

    def send(self, content: str) -> None:
        self.writer.write(encode_frame("3G", self.device_id, None, content))

    def alarm(self, number: int) -> tuple[int, float]:
        """An SOS AL frame; returns the seq the gateway derives for it and when it was sent."""
        when = time.time() + number  # a distinct watch time per alarm, hence a distinct seq
        self.al_sent[number] = time.perf_counter()
        self.send(position("AL", when, "00010000", battery=64))
        return int(when) * 16 + 1, self.al_sent[number]


class AlertWatcher(threading.Thread):
    """Polls the database for events that got their alert; records SOS frame → alert latency."""

    def __init__(self, session_factory) -> None:
        super().__init__(daemon=True)
        self.session_factory = session_factory
        self.expected: dict[tuple[int, int], float] = {}  # (band id, seq) → perf_counter when the AL was sent
        self.latencies: list[float] = []
        self.stop = threading.Event()
        self.last_id = 0
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stop.wait(0.005):
            with self.session_factory() as s:
                rows = s.execute(sa.select(DeviceEvent.id, DeviceEvent.band_id, DeviceEvent.seq)
                                 .where(DeviceEvent.id > self.last_id, DeviceEvent.alert_id.is_not(None))
                                 .order_by(DeviceEvent.id)).all()
            now = time.perf_counter()
            with self.lock:
                for event_id, band_id, seq in rows:
                    self.last_id = max(self.last_id, event_id)
                    sent = self.expected.pop((band_id, seq), None)
                    if sent is not None:
                        self.latencies.append((now - sent) * 1000)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))], 1) if ordered else float("nan")


async def drive(args, port: int, band_ids: dict[str, int], watcher: AlertWatcher, gateway_pid: int) -> dict:
    figures: dict = {}
    rss_before = rss_kb(gateway_pid)
    watches = [SimWatch(device_id) for device_id in band_ids]
    start = time.perf_counter()
    for first in range(0, len(watches), 200):  # connect in waves, as watches come back after an outage
        await asyncio.gather(*(w.connect(port) for w in watches[first:first + 200]))
    figures["connect_all_s"] = round(time.perf_counter() - start, 2)
    await asyncio.sleep(1)
    figures["gateway_rss_mb_idle"] = round(rss_before / 1024, 1)
    figures["gateway_rss_mb_connected"] = round(rss_kb(gateway_pid) / 1024, 1)

    # Steady state: UD every interval from each watch (spread evenly), AL bursts every burst_every seconds.
    rng = random.Random(7)
    sent = 0
    alarms = 0
    step = args.interval / len(watches)
    begin = time.perf_counter()
    next_burst = begin + args.burst_every
    i = 0
    while time.perf_counter() - begin < args.duration:
        watch = watches[i % len(watches)]
        watch.send(position("UD", time.time(), "00000010", steps=i))
        sent += 1
        i += 1
        if time.perf_counter() >= next_burst:
            for victim in rng.sample(watches, args.burst):
                alarms += 1
                seq, t0 = victim.alarm(alarms)
                with watcher.lock:
                    watcher.expected[(band_ids[victim.device_id], seq)] = t0
            sent += args.burst
            next_burst += args.burst_every
        delay = begin + i * step - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
    await asyncio.gather(*(w.link() for w in watches))
    steady = time.perf_counter() - begin
    figures["steady_frames"] = sent
    figures["steady_frames_per_s"] = round(sent / steady)
    figures["gateway_rss_mb_after_steady"] = round(rss_kb(gateway_pid) / 1024, 1)
    figures["gateway_kb_per_connection"] = round((rss_kb(gateway_pid) - rss_before) / len(watches), 1)
    deadline = time.perf_counter() + 30
    while watcher.expected and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    al_answers = [ms for w in watches for ms in w.al_answered]
    figures["sos_frames"] = alarms
    figures["sos_alerts_seen"] = len(watcher.latencies)
    figures["sos_frame_to_alert_ms_p50"] = percentile(watcher.latencies, 0.5)
    figures["sos_frame_to_alert_ms_p99"] = percentile(watcher.latencies, 0.99)
    figures["sos_frame_to_al_reply_ms_p99"] = percentile(al_answers, 0.99)

    # Throughput: every watch sends `flood` UD frames at once, then LK; all LK answers = all handled.
    start = time.perf_counter()
    for watch in watches:
        for n in range(args.flood):
            watch.send(position("UD", time.time(), "00000000", steps=n))
    await asyncio.gather(*(w.link() for w in watches))
    elapsed = time.perf_counter() - start
    figures["flood_frames"] = args.flood * len(watches) + len(watches)
    figures["flood_frames_per_s"] = round(figures["flood_frames"] / elapsed)
    for watch in watches:
        watch.writer.close()
        watch.task.cancel()
    return figures


def main() -> None:
    """Run the benchmark and print JSON figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--watches", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between UD frames of one watch")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of steady state")
    parser.add_argument("--burst", type=int, default=20, help="watches pressing SOS at the same moment")
    parser.add_argument("--burst-every", type=float, default=5.0)
    parser.add_argument("--flood", type=int, default=10, help="UD frames per watch in the throughput phase")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # alerts of watches nobody wears have nobody to tell: expected here
    tmp = Path(tempfile.mkdtemp(prefix="xiaoyuan-bench-watch-"))
    db_url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    engine = make_engine(db_url)
    upgrade(db_url)
    mqtt_port, watch_port = free_port(), free_port()
    env = {"XIAOYUAN_DATA_DIR": str(tmp), "XIAOYUAN_DATABASE_URL": db_url, "XIAOYUAN_CONFIG": "",
           "XIAOYUAN_MQTT_URL": f"mqtt://127.0.0.1:{mqtt_port}", "XIAOYUAN_WATCH_PORT": str(watch_port),
           "XIAOYUAN_WATCH_HOST": "127.0.0.1", "XIAOYUAN_WATCH_SYNC_INTERVAL_S": "0", "XIAOYUAN_LOG_LEVEL": "WARNING"}
    settings = load_settings(environ=env)
    services = Services(settings=settings, session_factory=make_session_factory(engine), clock=SystemClock())
    band_ids: dict[str, int] = {}
    with transaction(services.session_factory) as s:
        for i in range(args.watches):
            band, _ = add_band(s, now=services.clock.now(), device_id=f"88{i:08d}", site="bench", protocol="watch")
            band_ids[band.device_id] = band.id
    with services.session_factory() as s:
        creds = [BandCredential(*r) for r in s.execute(sa.select(Band.device_id, Band.site, Band.mqtt_password_hash))]
    broker = Mosquitto(tmp, settings, creds, port=mqtt_port)
    gateway = None
    listener = None
    watcher = AlertWatcher(services.session_factory)
    figures: dict = {"database": db_url.split(":")[0], "watches": args.watches, "interval_s": args.interval,
                     "duration_s": args.duration, "burst": args.burst, "burst_every_s": args.burst_every,
                     "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())}
    try:
        broker.start()
        service = (settings.broker.username, service_password(settings))
        listener = Listener(services, connection=Connection("127.0.0.1", mqtt_port, *service, 5),
                            client_id="bench-listener")
        listener.start()
        listener.subscribed.wait(10)
        gateway = subprocess.Popen([sys.executable, "-m", "xiaoyuan", "gateway"], cwd=ROOT,
                                   env={**os.environ, **env, "PYTHONPATH": str(ROOT)})
        wait_port(watch_port)
        time.sleep(1)  # the gateway's MQTT connection
        watcher.start()
        figures.update(asyncio.run(drive(args, watch_port, band_ids, watcher, gateway.pid)))
        figures["listener_dropped"] = listener.counters.total("dropped")
        figures["listener_events_stored"] = listener.counters.messages.get("event", 0)
    finally:
        watcher.stop.set()
        if gateway is not None:
            gateway.terminate()
            gateway.wait(30)
        if listener is not None:
            listener.stop()
        broker.stop()
        engine.dispose()
    figures["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    print(json.dumps(figures, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
