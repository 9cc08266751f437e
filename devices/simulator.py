"""A band simulator with a real paho client: realistic telemetry and events for demos, tests and benchmarks.

Scenarios: normal, sos, fall, tachycardia (HR ~135), hypoxia (SpO2 ~86 %), removed (worn=false),
offline (the bands go quiet; with a Last Will the broker announces them offline).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)
SCENARIOS = ("normal", "sos", "fall", "tachycardia", "hypoxia", "removed", "offline")


@dataclass(frozen=True)
class SimBand:
    """One simulated band and its MQTT credentials."""

    device_id: str
    secret: str
    site: str = "default"


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

    def topic(self, band: SimBand, kind: str) -> str:
        """The contract topic of a band."""
        return f"{self.root}/{band.site}/band/{band.device_id}/{kind}"

    def connect(self) -> None:
        """Connect every band with a Last Will (offline) and announce online."""
        for band in self.bands:
            proto = mqtt.MQTTv5 if self.protocol == 5 else mqtt.MQTTv311
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sim-{band.device_id}", protocol=proto)
            client.username_pw_set(band.device_id, band.secret)
            client.will_set(self.topic(band, "status"), "offline", qos=1, retain=True)
            client.max_inflight_messages_set(1000)
            client.connect(self.host, self.port, keepalive=15)
            client.loop_start()
            client.publish(self.topic(band, "status"), "online", qos=1, retain=True)
            self.clients.append(client)

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
        payload = reading(scenario, step, self.rng, time.time())
        return self.clients[index].publish(self.topic(band, "telemetry"), json.dumps(payload), qos=0)

    def run(self, *, scenario: str, rate: float, duration: float | None = None, count: int | None = None,
            stop: threading.Event | None = None) -> int:
        """Publish at `rate` messages/s until duration, count or stop; return how many were sent."""
        stop = stop or threading.Event()
        if scenario in ("sos", "fall"):
            for i in range(len(self.bands)):
                self.event(i, scenario).wait_for_publish(10)
        if scenario == "offline":
            for client in self.clients:  # drop the connections without DISCONNECT: the Last Will fires
                client.socket().close() if client.socket() else None
            return 0
        sent, step, start = 0, 0, time.monotonic()
        while not stop.is_set():
            for i in range(len(self.bands)):
                self.telemetry(i, scenario, step)
                sent += 1
                if count is not None and sent >= count:
                    return sent
                due = start + sent / rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            step += 1
            if duration is not None and time.monotonic() - start >= duration:
                break
        return sent

    def close(self) -> None:
        """Disconnect every band cleanly."""
        for client in self.clients:
            client.disconnect()
            client.loop_stop()
        self.clients.clear()
