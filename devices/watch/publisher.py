"""The gateway's MQTT side: one paho client that publishes on the watches' band topics as a trusted publisher.

Telemetry goes at QoS 0, events at QoS 1 and are awaited (the watch is answered `AL` only once the broker
has the alarm, so a lost one is resent by the watch), availability as retained `online` / `offline`.
The client uses the gateway's own broker account, whose ACL allows band topics only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt

from core.settings import Settings
from devices.commands import parse_command
from devices.listener import Connection

log = logging.getLogger(__name__)


def gateway_connection(settings: Settings) -> Connection:
    """The broker the gateway publishes to: the one in `mqtt.url` (with the gateway's own account), else the
    embedded one."""
    from devices.broker import gateway_account

    username, password = gateway_account(settings)
    if settings.mqtt.url:
        parts = urlsplit(settings.mqtt.url)
        tls = parts.scheme in ("mqtts", "ssl")
        return Connection(host=parts.hostname or "127.0.0.1", port=parts.port or (8883 if tls else 1883),
                          username=username, password=password, protocol=4, tls=tls)
    return Connection(host="127.0.0.1", port=settings.broker.port, username=username, password=password,
                      protocol=4, embedded=True)


class MqttPublisher:
    """Publishes band messages for the gateway; thread-safe, never raises from a paho callback."""

    def __init__(self, connection: Connection, *, root: str, client_id: str, keepalive: int = 30,
                 on_command: Callable[[str, str, dict[str, Any]], None] | None = None) -> None:
        self.connection = connection
        self.on_command = on_command  # (site, device id, parsed cmd payload), called on paho's thread
        self.root = root.rstrip("/")
        self.keepalive = keepalive
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # the broker acknowledged the cmd subscription
        self._lock = threading.RLock()
        self._waiting: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[bool]] | None] = {}
        self._done: set[int] = set()  # acknowledgements that arrived before their publish registered
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                             clean_session=False)
        if connection.username:
            client.username_pw_set(connection.username, connection.password)
        if connection.tls:
            client.tls_set()
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_inflight_messages_set(1000)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self.client = client

    def topic(self, site: str, device_id: str, kind: str) -> str:
        """A band topic of the contract."""
        return f"{self.root}/{site}/band/{device_id}/{kind}"

    # ---- paho callbacks
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        try:
            if reason_code.is_failure:
                log.error("MQTT broker refused the watch gateway: %s", reason_code)
                return
            log.info("watch gateway connected to MQTT")
            self.connected.set()
            if self.on_command is not None:  # the `cmd` downlink of every band; the gateway keeps its watches'
                client.subscribe(f"{self.root}/+/band/+/cmd", qos=1)
        except Exception:
            log.exception("on_connect failed")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        try:
            self.connected.clear()
            self.subscribed.clear()
            log.warning("watch gateway disconnected from MQTT (%s); paho reconnects", reason_code)
        except Exception:
            log.exception("on_disconnect failed")

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        try:
            with self._lock:
                if mid not in self._waiting:
                    self._done.add(mid)  # sooner than `_publish` could register it: it finds it here
                    return
                waiter = self._waiting.pop(mid)
            if waiter is not None:
                loop, future = waiter
                loop.call_soon_threadsafe(_resolve, future)
        except Exception:
            log.exception("on_publish failed")

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        try:
            if any(rc.is_failure for rc in reason_codes):
                log.error("MQTT broker refused the gateway's cmd subscription: %s", reason_codes)
            else:
                self.subscribed.set()
        except Exception:
            log.exception("on_subscribe failed")

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        try:
            parts = message.topic[len(self.root) + 1:].split("/")
            if not message.topic.startswith(self.root + "/") or len(parts) != 4 or parts[1] != "band":
                return
            command = parse_command(bytes(message.payload))
            if command is None:
                log.warning("ignored a malformed band command")
                return
            if self.on_command is not None:
                self.on_command(parts[0], parts[2], command)
        except Exception:
            log.exception("on_message failed")

    # ---- publishing
    def _publish(self, topic: str, payload: str, qos: int, retain: bool = False,
                 waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[bool]] | None = None) -> tuple[bool, int]:
        """Publish and register for its acknowledgement; (already acknowledged, its mid).

        paho is never called with our lock held: its network thread holds its own lock while it calls
        `on_publish`, which takes ours. Every publish registers (also without a waiter), so an early
        acknowledgement in `_done` is always claimed by the publish it belongs to."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos == 0 and info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False, info.mid  # not sent and never acknowledged: nothing to register
        with self._lock:
            if info.mid in self._done:
                self._done.discard(info.mid)
                return True, info.mid
            self._waiting[info.mid] = waiter
        return False, info.mid

    def publish_json(self, site: str, device_id: str, kind: str, payload: dict[str, Any]) -> None:
        """Telemetry (QoS 0): fire and forget."""
        self._publish(self.topic(site, device_id, kind), json.dumps(payload, separators=(",", ":")), 0)

    def publish_status(self, site: str, device_id: str, online: bool) -> None:
        """The retained availability of a watch (its connection stands in for an MQTT Last Will)."""
        self._publish(self.topic(site, device_id, "status"), "online" if online else "offline", 1, retain=True)

    async def publish_event(self, site: str, device_id: str, payload: dict[str, Any], timeout: float) -> bool:
        """An event at QoS 1; True once the broker acknowledged it within `timeout` seconds."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        taken, mid = self._publish(self.topic(site, device_id, "event"), json.dumps(payload, separators=(",", ":")),
                                   1, waiter=(loop, future))
        if taken:
            return True
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            with self._lock:  # keep the registration (a late acknowledgement still claims it), drop the future
                if mid in self._waiting:
                    self._waiting[mid] = None
            return False  # paho keeps retrying it; the watch resends too, and the seq makes both one event

    # ---- lifecycle
    def start(self) -> None:
        """Connect in the background (paho retries with backoff)."""
        self.client.connect_async(self.connection.host, self.connection.port, keepalive=self.keepalive)
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def _resolve(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(True)
