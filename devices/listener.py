"""The MQTT listener: a paho-mqtt 2 client with a persistent session and two workers that commit.

The network thread does nothing but queue messages (no callback ever raises or blocks on the
database). Events (SOS, fall, …) go to their own queue and worker, which commits them at once in a
short transaction, so an alarm never waits behind telemetry; telemetry and status go to a second
worker that collects and stores batches. Each worker acknowledges the QoS 1 messages of a batch only
after its commit (`manual_ack`), so an event the broker handed over is either committed or
redelivered. Events are idempotent on (band, seq).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.exc import InterfaceError, OperationalError

from core.container import Services
from core.health import iso
from core.settings import Settings
from devices.commands import QOS as CMD_QOS
from devices.commands import Command, build_command, new_command_id
from devices.ingest import Counters, Inbound, Ingestor

log = logging.getLogger(__name__)

SESSION_TAKEN_OVER = 142  # MQTT 5 DISCONNECT reason: another client connected with our client id
# Errors that say "the database is not reachable right now": retry, never drop.
TRANSIENT = (OperationalError, InterfaceError)
# The listener publishes a heartbeat to itself through the broker this often: /healthz wants one back
# within 30 s, which proves the whole path (connection, subscription, broker routing), not just a socket.
HEARTBEAT_EVERY_S = 10.0


@dataclass(frozen=True)
class Connection:
    """Where and how the listener connects."""

    host: str
    port: int
    username: str | None
    password: str | None
    protocol: int  # 5 or 4 (3.1.1)
    tls: bool = False
    embedded: bool = False


def resolve_connection(settings: Settings) -> Connection:
    """The broker the listener uses: `mqtt.url` (mqtt://user:pass@host:port, mqtts:// for TLS), else the
    embedded one. Without a username in the URL the listener is the first listener account."""
    from devices.broker import listener_usernames, private_broker_kind, service_password

    if settings.mqtt.url:
        parts = urlsplit(settings.mqtt.url)
        tls = parts.scheme in ("mqtts", "ssl")
        protocol = 5 if settings.devices.protocol == 5 else 4
        return Connection(
            host=parts.hostname or "127.0.0.1", port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else listener_usernames(settings)[0],
            password=unquote(parts.password) if parts.password else settings.broker.password or None,
            protocol=protocol, tls=tls,
        )
    protocol = 5 if private_broker_kind(settings) == "mosquitto" else 4  # amqtt speaks 3.1.1 only
    return Connection(host="127.0.0.1", port=settings.broker.port, username=listener_usernames(settings)[0],
                      password=service_password(settings), protocol=protocol, embedded=True)


def resolve_tool_connection(settings: Settings) -> Connection:
    """The broker as a short-lived tool (`band cmd`, `check`) reaches it: the listener's broker and password,
    but the tools account, so a tool never takes over (and wipes) a listener's session."""
    conn = resolve_connection(settings)
    return replace(conn, username=settings.broker.username)


def subscriptions(root: str, shared_group: str = "", *, telemetry: bool = True) -> list[tuple[str, int]]:
    """Topic filters and QoS. With a shared group, telemetry is spread over the members; events and
    status still reach every listener (each keeps a durable session and (band, seq) makes the
    duplicates harmless), so a departed member never holds alarms hostage. `telemetry=False`: the durable
    session's filters when a second, short session takes the telemetry share (MQTT 5)."""
    base = root.rstrip("/")
    filters = [(f"{base}/+/band/+/event", 1), (f"{base}/+/band/+/status", 1)]
    if telemetry:
        filters.insert(0, (share_filter(root, shared_group), 0))
    return filters


def share_filter(root: str, shared_group: str = "") -> str:
    """The telemetry filter, as a shared subscription when there is a group."""
    telemetry = f"{root.rstrip('/')}/+/band/+/telemetry"
    return f"$share/{shared_group}/{telemetry}" if shared_group else telemetry


class Listener:
    """One listener process's MQTT client and ingest worker."""

    def __init__(
        self, services: Services, *, connection: Connection | None = None, counters: Counters | None = None,
        client_id: str | None = None,
    ) -> None:
        self.services = services
        settings = services.settings
        section = settings.devices
        self.connection = connection or resolve_connection(settings)
        self.counters = counters or Counters()
        self.ingestor = Ingestor(services, self.counters)
        self.root = settings.mqtt.topic_root
        # The broker makes the id the username anyway (use_username_as_clientid); saying so keeps logs,
        # the status topic and the session key the same thing.
        self.client_id = client_id or settings.mqtt.client_id or self.connection.username or unique_client_id()
        self.shared_group = settings.mqtt.shared_group
        self.batch_size = section.batch_size
        self.batch_wait = section.batch_wait_ms / 1000
        self.session_expiry = section.session_expiry_s
        self.keepalive = section.keepalive_s
        self.queue: queue.Queue[Inbound] = queue.Queue(maxsize=section.queue_max)
        self.events: queue.Queue[Inbound] = queue.Queue(maxsize=section.queue_max)
        self.stop_event = threading.Event()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.taken_over = threading.Event()  # another process logged in with our account (see _on_disconnect)
        self._worker: threading.Thread | None = None
        self._event_worker: threading.Thread | None = None
        self.status_topic = f"{self.root.rstrip('/')}/_service/{self.client_id}/status"
        self.heartbeat_topic = f"{self.root.rstrip('/')}/_service/{self.client_id}/heartbeat"
        # Who holds this account: "{start time in ms} {random}", retained (see _on_claim).
        self.claim_topic = f"{self.root.rstrip('/')}/_service/{self.client_id}/claim"
        self.instance = f"{int(time.time() * 1000)} {uuid.uuid4().hex[:8]}"
        self._connects = 0
        self.last_message_at: dt.datetime | None = None  # a band's message (not our own heartbeat)
        self.last_heartbeat_at: dt.datetime | None = None  # our heartbeat came back through the broker
        self._heartbeat: threading.Thread | None = None
        self.client = self._make_client()
        # With a shared group on MQTT 5, telemetry comes over a second session that expires soon after this
        # process goes (devices.share_expiry_s), so a departed member stops holding its share of readings;
        # events and status stay on the durable session above.
        self.share_expiry = settings.devices.share_expiry_s
        self.share_subscribed = threading.Event()
        self.share_client = self._make_share_client() if self.shared_group and self.connection.protocol == 5 else None

    # ---- paho client and callbacks (never raise, never block on slow work)
    def _make_client(self) -> mqtt.Client:
        conn = self.connection
        if conn.protocol == 5:
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                 protocol=mqtt.MQTTv5, manual_ack=True)
        else:
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                 protocol=mqtt.MQTTv311, clean_session=False, manual_ack=True)
        if conn.username:
            client.username_pw_set(conn.username, conn.password)
        if conn.tls:
            client.tls_set()
        client.will_set(self.status_topic, "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _make_share_client(self) -> mqtt.Client:
        from devices.broker import share_username

        conn = self.connection
        user = share_username(conn.username or self.client_id)
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
        client.username_pw_set(user, conn.password)
        if conn.tls:
            client.tls_set()
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_share_connect
        client.on_subscribe = lambda c, u, mid, codes, p: (
            self.share_subscribed.set() if not any(rc.is_failure for rc in codes) else
            log.error("MQTT broker refused the telemetry share subscription: %s", codes))
        client.on_disconnect = lambda c, u, f, rc, p: self.share_subscribed.clear()
        client.on_message = self._on_message
        return client

    def _on_share_connect(self, client, userdata, flags, reason_code, properties) -> None:
        try:
            if reason_code.is_failure:
                self.counters.count("errors", "connect_refused")
                log.error("MQTT broker refused the listener's telemetry share session: %s", reason_code)
                return
            client.subscribe(share_filter(self.root, self.shared_group), qos=0)
        except Exception:
            log.exception("on_connect (share) failed")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        try:
            if reason_code.is_failure:
                self.counters.count("errors", "connect_refused")
                log.error("MQTT broker refused the listener: %s", reason_code)
                return
            log.info("MQTT listener connected (session present: %s)", getattr(flags, "session_present", None))
            self.connected.set()
            self._connects += 1
            client.subscribe([*subscriptions(self.root, self.shared_group, telemetry=self.share_client is None),
                              (self.heartbeat_topic, 0),
                              (self.claim_topic, 0)])  # QoS 0: nothing to acknowledge by hand
            client.publish(self.claim_topic, self.instance, qos=1, retain=True)
            client.publish(self.status_topic, "online", qos=1, retain=True)
        except Exception:
            log.exception("on_connect failed")

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        try:
            if any(rc.is_failure for rc in reason_codes):
                self.counters.count("errors", "subscribe_refused")
                log.error("MQTT broker refused a subscription: %s", reason_codes)
                return  # not subscribed: /healthz must say so
            self.subscribed.set()
            self.publish_heartbeat()
        except Exception:
            log.exception("on_subscribe failed")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        try:
            self.connected.clear()
            self.subscribed.clear()
            if reason_code == SESSION_TAKEN_OVER and not self.stop_event.is_set():
                self._give_way("the broker reported that another client took over this session")
                return
            if not self.stop_event.is_set() and not self.taken_over.is_set():
                self.counters.count("errors", "disconnect")
                log.warning("MQTT listener disconnected (%s); paho reconnects with backoff", reason_code)
        except Exception:
            log.exception("on_disconnect failed")

    def _on_claim(self, payload: bytes) -> None:
        """Another listener with our account? Each connection claims the account with a retained message
        naming this instance; meeting someone else's claim on a *re*connect means that someone logged in
        with our account after us (and knocked us off). The later-started of the two gives way, so the
        pair settles after one round instead of knocking each other off every second. (A claim left by a
        dead instance is only ever met on a first connect, which never gives way.)"""
        theirs = payload.decode(errors="replace")
        if theirs == self.instance or self._connects < 2 or self.taken_over.is_set():
            return
        if _instance_order(theirs) < _instance_order(self.instance):
            self._give_way(f"another listener ({theirs}) started earlier with the same account")
        else:
            log.warning("a listener started later with this listener's account %s (%s); it will stop",
                        self.connection.username, theirs)

    def _give_way(self, why: str) -> None:
        """Stop reconnecting: another process uses our account, and two would knock each other off."""
        self.taken_over.set()
        self.counters.count("errors", "taken_over")
        log.error("%s: this listener (%s) stops. Give every listener process its own account: XIAOYUAN_MQTT_URL="
                  "mqtt://xiaoyuan-listener-N:SECRET@host:port (`xiaoyuan broker export` prints them)",
                  why, self.connection.username)
        self.client.disconnect()  # no automatic reconnect after this

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        try:
            if message.topic == self.claim_topic:
                if message.qos:
                    client.ack(message.mid, message.qos)  # manual_ack: an unacknowledged one blocks amqtt
                self._on_claim(bytes(message.payload))
                return
            if message.topic == self.heartbeat_topic:
                self.last_heartbeat_at = self.services.clock.now()
                return
            self.last_message_at = self.services.clock.now()
            self.handle(Inbound(message.topic, bytes(message.payload), message.qos, message.mid, bool(message.retain)))
        except Exception:
            self.counters.count("errors", "on_message")
            log.exception("on_message failed")

    def handle(self, inbound: Inbound) -> None:
        """Hand one message to its worker: events to the event queue, the rest to the telemetry queue
        (blocks only when that queue is full: back-pressure, not loss)."""
        target = self.events if inbound.topic.endswith("/event") else self.queue
        while True:
            try:
                target.put(inbound, timeout=1.0)
                return
            except queue.Full:
                self.counters.count("errors", "queue_full")
                if self.stop_event.is_set():
                    return

    # ---- health
    def publish_heartbeat(self) -> None:
        """Send our heartbeat (QoS 0: a lost one only means the next proves the path) to ourselves."""
        try:
            self.client.publish(self.heartbeat_topic, str(self.services.clock.now().timestamp()), qos=0)
        except Exception:
            log.debug("could not publish the listener heartbeat")

    def _beat(self) -> None:
        while not self.stop_event.wait(HEARTBEAT_EVERY_S):
            if self.subscribed.is_set():
                self.publish_heartbeat()

    def health_state(self) -> dict[str, object]:
        """What /healthz needs to know about this listener (JSON-ready)."""
        return {"client_id": self.client_id, "connected": self.connected.is_set(),
                "subscribed": self.subscribed.is_set(), "taken_over": self.taken_over.is_set(),
                "last_message_at": iso(self.last_message_at), "last_heartbeat_at": iso(self.last_heartbeat_at)}

    # ---- downlink
    def publish_command(
        self, site: str, device_id: str, cmd: str, *, interval_s: int | None = None, wait: float | None = None,
    ) -> tuple[Command, mqtt.MQTTMessageInfo]:
        """Send a `cmd` (measure_now / set_interval) to one band: QoS 1, not retained; with `wait`, block up
        to that many seconds for the broker's PUBACK. Raises InvalidInput for a bad command."""
        command = build_command(root=self.root, site=site, device_id=device_id, cmd=cmd,
                                now=self.services.clock.now(), command_id=new_command_id(), interval_s=interval_s)
        info = self.client.publish(command.topic, command.encode(), qos=CMD_QOS, retain=False)
        if wait is not None:
            info.wait_for_publish(wait)
        return command, info

    # ---- worker
    def _take_batch(self, source: queue.Queue[Inbound] | None = None, wait: float | None = None) -> list[Inbound]:
        """Up to batch_size messages: the first within 0.2 s, then whatever arrives within `wait`."""
        source = self.queue if source is None else source
        wait = self.batch_wait if wait is None else wait
        try:
            first = source.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + wait
        while len(batch) < self.batch_size:
            try:
                batch.append(source.get_nowait())
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(source.get(timeout=remaining))
                except queue.Empty:
                    break
        return batch

    def process_batch(self, batch: Sequence[Inbound], store: Callable[[Sequence[Inbound]], None] | None = None) -> None:
        """Store a batch (with `store`, default Ingestor.process) and then acknowledge its QoS 1 messages;
        retry while the database is unreachable."""
        store = store or self.ingestor.process
        delay = 0.5
        while True:
            try:
                self._process_splitting(list(batch), store)
                break
            except TRANSIENT as exc:
                self.counters.count("errors", "database")
                log.warning("database unavailable, keeping %d messages unacknowledged: %s", len(batch),
                            type(exc).__name__)
                if self.stop_event.wait(delay):
                    return  # stopping: the broker redelivers the unacknowledged messages later
                delay = min(delay * 2, 10)
        for msg in batch:
            if msg.qos > 0:
                self.client.ack(msg.mid, msg.qos)

    def _process_splitting(self, batch: list[Inbound], store: Callable[[Sequence[Inbound]], None]) -> None:
        try:
            store(batch)
        except TRANSIENT:
            raise
        except Exception:
            if len(batch) == 1:
                self.counters.count("dropped", "error")
                log.exception("dropping a message that cannot be processed")
                return
            middle = len(batch) // 2
            self._process_splitting(batch[:middle], store)
            self._process_splitting(batch[middle:], store)

    def _work(self) -> None:
        """Telemetry and status: collect a batch for up to batch_wait, store it, acknowledge it."""
        while not (self.stop_event.is_set() and self.queue.empty() and self.events.empty()):
            batch = self._take_batch()
            try:
                if batch:
                    self.process_batch(batch)
                else:
                    self.ingestor.flush_seen()  # bands that sent only events are marked seen too
            except Exception:
                self.counters.count("errors", "worker")
                log.exception("listener worker failed on a batch")
        self._flush_seen_on_exit()

    def _work_events(self) -> None:
        """Events: take whatever is queued right now (no collecting delay), commit it, acknowledge it."""
        while not (self.stop_event.is_set() and self.events.empty()):
            batch = self._take_batch(self.events, wait=0.0)
            if batch:
                try:
                    self.process_batch(batch, self.ingestor.process_events)
                except Exception:
                    self.counters.count("errors", "worker")
                    log.exception("listener event worker failed on a batch")

    def _flush_seen_on_exit(self) -> None:
        if self._event_worker is not None:
            self._event_worker.join(10)
        try:
            self.ingestor.flush_seen()
        except Exception:
            log.warning("could not mark the bands of the last events as seen while stopping")

    # ---- lifecycle
    def start(self) -> None:
        """Connect (retrying with backoff in the background) and start the worker."""
        conn = self.connection
        self._event_worker = threading.Thread(target=self._work_events, name="mqtt-events", daemon=True)
        self._event_worker.start()
        self._worker = threading.Thread(target=self._work, name="mqtt-ingest", daemon=True)
        self._worker.start()
        self._heartbeat = threading.Thread(target=self._beat, name="mqtt-heartbeat", daemon=True)
        self._heartbeat.start()
        if conn.protocol == 5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.session_expiry
            self.client.connect_async(conn.host, conn.port, keepalive=self.keepalive, clean_start=False,
                                      properties=props)
        else:
            self.client.connect_async(conn.host, conn.port, keepalive=self.keepalive)
        self.client.loop_start()
        if self.share_client is not None:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.share_expiry
            self.share_client.connect_async(conn.host, conn.port, keepalive=self.keepalive, clean_start=False,
                                            properties=props)
            self.share_client.loop_start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the queued work, acknowledge it, publish offline and disconnect."""
        self.stop_event.set()
        if self.share_client is not None:  # first: no more telemetry for workers that are finishing
            self.share_client.disconnect()
            self.share_client.loop_stop()
        for worker in (self._event_worker, self._worker):
            if worker is not None:
                worker.join(timeout)
        try:
            if self.connected.is_set():
                self.client.publish(self.status_topic, "offline", qos=1, retain=True).wait_for_publish(2)
        except Exception:
            log.debug("could not publish offline status")
        self.client.disconnect()
        self.client.loop_stop()


def run_listener(services: Services, stop_event: threading.Event) -> None:
    """Entry for `xiaoyuan listener` / `xiaoyuan run`: listen until stop_event is set."""
    counters = services.extras.setdefault("counters:devices", Counters())
    listener = Listener(services, counters=counters)
    services.extras["devices:listener"] = listener
    log.info("MQTT listener %s → %s:%s", listener.client_id, listener.connection.host, listener.connection.port)
    listener.start()
    try:
        stop_event.wait()
    finally:
        listener.stop()


def _instance_order(claim: str) -> tuple[int, str]:
    """A claim's (start time, random part); a malformed claim sorts last (never makes us give way)."""
    start, _, nonce = claim.partition(" ")
    return (int(start), nonce) if start.isdigit() else (2**63, claim)


def unique_client_id(prefix: str = "xiaoyuan") -> str:
    """A random client id (simulators, benchmarks; the listener's own id is its username)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}-{random.randint(0, 9999)}"
