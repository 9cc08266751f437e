"""A band simulator with a real paho client: realistic telemetry and events for demos, tests and benchmarks.

Scenarios: normal, sos, fall, tachycardia (HR ~135), hypoxia (SpO2 ~86 %), removed (worn=false),
offline (the bands go quiet; with a Last Will the broker announces them offline).
Each band subscribes to its own `cmd` topic and honours `measure_now` (one reading at once) and
`set_interval` (from then on that band reports at most once per interval).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from core.bands.registry import band_username
from devices.commands import QOS as CMD_QOS
from devices.commands import parse_command

log = logging.getLogger(__name__)
SCENARIOS = ("normal", "sos", "fall", "tachycardia", "hypoxia", "removed", "offline")


@dataclass(frozen=True)
class SimBand:
    """One simulated band and its MQTT credentials."""

    device_id: str
    secret: str
    site: str = "default"


def raise_open_files_limit(needed: int) -> int:
    """Raise this process's soft limit of open files towards `needed` (each simulated band holds about three:
    its socket and paho's wake-up pair), at most to the hard limit; return the soft limit now in force."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return needed
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def reading(scenario: str, step: int, rng: random.Random, now: float) -> dict:
    """One telemetry payload for a scenario (pure apart from the random generator)."""
    hr = rng.randint(62, 88)
    spo2 = rng.randint(95, 99)
    if scenario == "tachycardia":
        hr = rng.randint(128, 142)
    if scenario == "hypoxia":
        spo2 = rng.randint(84, 88)
    return {
        "ts": round(now, 3), "hr": hr, "spo2": spo2, "temp_c": round(rng.uniform(36.2, 37.1), 1),
        "steps": step * rng.randint(0, 12), "battery": max(5, 90 - step // 60),
        "worn": scenario != "removed",
    }


class Simulator:
    """Publishes for several bands at an overall rate over one connection per band."""

    def __init__(self, host: str, port: int, bands: Sequence[SimBand], *, root: str = "xiaoyuan/v1",
                 protocol: int = 4, seed: int = 1) -> None:
        self.host, self.port, self.root = host, port, root.rstrip("/")
        self.bands = list(bands)
        self.rng = random.Random(seed)
        self.protocol = protocol
        self.clients: list[mqtt.Client] = []
        self.seq = {b.device_id: int(time.time() * 1000) % 10**9 for b in self.bands}
        self.intervals: dict[str, int] = {}  # device id → interval set by a `set_interval` command
        self.last_sent: dict[str, float] = {}  # device id → monotonic time of its last telemetry
        self.commands: list[tuple[str, dict]] = []  # (device id, payload) of every command honoured
        self._lock = threading.Lock()  # the random generator is shared with the network threads
        self.scenario = "normal"  # what measure_now reports (the running scenario)
        self.listening: set[str] = set()  # device ids whose cmd subscription the broker acknowledged
        self.connected: set[str] = set()  # device ids the broker accepted (CONNACK success)
        self.refused: dict[str, str] = {}  # device id → why the broker refused it (or why it could not connect)
        self.answered = threading.Condition()
        self.events_sent = self.events_acknowledged = 0

    def topic(self, band: SimBand, kind: str) -> str:
        """The contract topic of a band."""
        return f"{self.root}/{band.site}/band/{band.device_id}/{kind}"

    def connect(self, timeout: float = 20.0) -> tuple[int, int]:
        """Connect every band with a Last Will (offline), announce online, and wait up to `timeout` for the
        broker's answer to each; return (accepted, refused). A refused band stops retrying."""
        for band in self.bands:
            proto = mqtt.MQTTv5 if self.protocol == 5 else mqtt.MQTTv311
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sim-{band.device_id}", protocol=proto)
            client.username_pw_set(band_username(band.device_id), band.secret)
            client.will_set(self.topic(band, "status"), "offline", qos=1, retain=True)
            client.max_inflight_messages_set(1000)
            index = len(self.clients)
            client.on_connect = self._on_connect_for(band)
            client.on_message = self._on_command_for(index)
            client.on_subscribe = self._on_subscribe_for(band)
            self.clients.append(client)
            try:
                client.connect(self.host, self.port, keepalive=15)
            except OSError as exc:  # e.g. out of file descriptors, or the broker is not there
                self._answer(band.device_id, refused=str(exc))
                continue
            client.loop_start()
            client.publish(self.topic(band, "status"), "online", qos=1, retain=True)
        deadline = time.monotonic() + timeout
        with self.answered:
            while len(self.connected) + len(self.refused) < len(self.bands) and time.monotonic() < deadline:
                self.answered.wait(max(0.0, min(0.5, deadline - time.monotonic())))
        for band in self.bands:
            if band.device_id not in self.connected and band.device_id not in self.refused:
                self._answer(band.device_id, refused="no answer from the broker")
        return len(self.connected), len(self.refused)

    def _answer(self, device_id: str, *, refused: str | None = None) -> None:
        with self.answered:
            if refused is None:
                self.connected.add(device_id)
                self.refused.pop(device_id, None)
            elif device_id not in self.connected:
                self.refused[device_id] = refused
            self.answered.notify_all()

    def _on_connect_for(self, band: SimBand):
        def on_connect(client, userdata, flags, reason_code, properties) -> None:
            try:
                if reason_code.is_failure:
                    self._answer(band.device_id, refused=str(reason_code))
                    client.disconnect()  # a refused band does not knock on the door every second
                    return
                self._answer(band.device_id)
                client.subscribe(self.topic(band, "cmd"), qos=CMD_QOS)  # resubscribes after a reconnect
            except Exception:
                log.exception("simulator on_connect failed")
        return on_connect

    def report(self, telemetry_sent: int) -> dict:
        """What the broker actually took: bands accepted and refused (with the first reason), events it
        acknowledged (QoS 1 PUBACK), telemetry written on accepted connections (QoS 0: no acknowledgement)."""
        reasons = sorted(set(self.refused.values()))
        return {"bands": len(self.bands), "connected": len(self.connected), "refused": len(self.refused),
                "refused_reason": reasons[0] if reasons else None, "events_sent": self.events_sent,
                "events_acknowledged": self.events_acknowledged, "telemetry_sent": telemetry_sent}

    def _on_subscribe_for(self, band: SimBand):
        def on_subscribe(client, userdata, mid, reason_codes, properties) -> None:
            if not any(rc.is_failure for rc in reason_codes):
                self.listening.add(band.device_id)
        return on_subscribe

    def wait_listening(self, timeout: float = 10.0) -> bool:
        """Wait until every band's cmd subscription is acknowledged (commands sent earlier may be missed)."""
        deadline = time.monotonic() + timeout
        while len(self.listening) < len(self.bands) and time.monotonic() < deadline:
            time.sleep(0.02)
        return len(self.listening) >= len(self.bands)

    def _on_command_for(self, index: int):
        def on_message(client, userdata, message) -> None:
            try:
                self.handle_command(index, bytes(message.payload))
            except Exception:
                log.exception("simulator could not handle a command")
        return on_message

    def handle_command(self, index: int, raw: bytes) -> dict | None:
        """Honour one `cmd` payload for band `index`: measure_now publishes a reading, set_interval paces it."""
        command = parse_command(raw)
        band = self.bands[index]
        if command is None:
            log.warning("simulated band %s ignored a malformed command", band.device_id)
            return None
        if command["cmd"] == "set_interval":
            self.intervals[band.device_id] = command["interval_s"]
        elif command["cmd"] == "measure_now":
            self.telemetry(index, self.scenario, 0)
        self.commands.append((band.device_id, command))
        log.info("simulated band %s: %s", band.device_id, command["cmd"])
        return command

    def _due(self, device_id: str) -> bool:
        interval = self.intervals.get(device_id)
        last = self.last_sent.get(device_id)
        return interval is None or last is None or time.monotonic() - last >= interval

    def event(self, index: int, kind: str) -> mqtt.MQTTMessageInfo:
        """Publish one event (QoS 1) for band `index`."""
        band = self.bands[index]
        self.seq[band.device_id] += 1
        payload = {"ts": round(time.time(), 3), "seq": self.seq[band.device_id], "type": kind,
                   "lat": 29.35, "lon": 106.45}
        return self.clients[index].publish(self.topic(band, "event"), json.dumps(payload), qos=1)

    def telemetry(self, index: int, scenario: str, step: int) -> mqtt.MQTTMessageInfo:
        """Publish one telemetry reading (QoS 0) for band `index`."""
        band = self.bands[index]
        with self._lock:
            payload = reading(scenario, step, self.rng, time.time())
        self.last_sent[band.device_id] = time.monotonic()
        return self.clients[index].publish(self.topic(band, "telemetry"), json.dumps(payload), qos=0)

    def run(self, *, scenario: str, rate: float, duration: float | None = None, count: int | None = None,
            stop: threading.Event | None = None) -> int:
        """Publish at `rate` messages/s until duration, count or stop; return how many were sent."""
        stop = stop or threading.Event()
        self.scenario = scenario
        live = [i for i, band in enumerate(self.bands) if band.device_id in self.connected]
        if not live:
            return 0
        if scenario in ("sos", "fall"):
            infos = [self.event(i, scenario) for i in live]
            self.events_sent += len(infos)
            deadline = time.monotonic() + 10
            for info in infos:
                with contextlib.suppress(RuntimeError, ValueError):  # not published: not counted
                    info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            self.events_acknowledged += sum(1 for info in infos if info.is_published())
        if scenario == "offline":
            for client in self.clients:  # drop the connections without DISCONNECT: the Last Will fires
                sock = client.socket()
                if sock is not None:
                    sock.close()
            return 0
        sent, step, start = 0, 0, time.monotonic()
        while not stop.is_set():
            published = False
            for i in live:
                if not self._due(self.bands[i].device_id):
                    continue  # this band was told a longer interval
                published = True
                if self.telemetry(i, scenario, step).rc == mqtt.MQTT_ERR_SUCCESS:
                    sent += 1
                if count is not None and sent >= count:
                    return sent
                due = start + sent / rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            step += 1
            if not published:
                stop.wait(0.05)  # every band is waiting for its interval
            if duration is not None and time.monotonic() - start >= duration:
                break
        return sent

    def close(self) -> None:
        """Disconnect every band cleanly."""
        for client in self.clients:
            client.disconnect()
            client.loop_stop()
        self.clients.clear()


# paho waits on its sockets with select(), which cannot watch a descriptor numbered 1,024 or more, and each
# band holds about three: one process simulates at most this many bands, more are spread over processes.
BANDS_PER_PROCESS = 300


def simulate_bands(host: str, port: int, bands: Sequence[SimBand], *, root: str, protocol: int, scenario: str,
                   rate: float, duration: float | None) -> dict:
    """Connect `bands`, run the scenario and return the broker's answer as `Simulator.report` (in this process)."""
    raise_open_files_limit(3 * len(bands) + 64)
    sim = Simulator(host, port, bands, root=root, protocol=protocol)
    try:
        sim.connect()
        sent = sim.run(scenario=scenario, rate=rate, duration=duration)
    finally:
        sim.close()
    return sim.report(sent)


def simulate(host: str, port: int, bands: Sequence[SimBand], *, root: str, protocol: int, scenario: str,
             rate: float, duration: float | None) -> dict:
    """`simulate_bands`, spread over processes of at most BANDS_PER_PROCESS bands (the rate shared among
    them); the reports added up."""
    bands = list(bands)
    chunks = [bands[i:i + BANDS_PER_PROCESS] for i in range(0, len(bands), BANDS_PER_PROCESS)] or [[]]
    kwargs: dict[str, Any] = {"root": root, "protocol": protocol, "scenario": scenario, "duration": duration}
    if len(chunks) == 1:
        return simulate_bands(host, port, bands, rate=rate, **kwargs)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=len(chunks), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(simulate_bands, host, port, chunk, rate=rate * len(chunk) / len(bands), **kwargs)
                   for chunk in chunks]
        reports = [future.result() for future in futures]
    total = {key: sum(r[key] for r in reports) for key in ("bands", "connected", "refused", "events_sent",
                                                            "events_acknowledged", "telemetry_sent")}
    total["refused_reason"] = next((r["refused_reason"] for r in reports if r["refused_reason"]), None)
    return total
