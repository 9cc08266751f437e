"""The watch gateway: an asyncio TCP server that answers watches and republishes them on the MQTT contract.

Each connection is bound to the watch id of its first good frame; an id that is not registered as a
watch (`xiaoyuan band add --protocol watch`) is refused (connection closed, counted). Malformed frames
are dropped and counted; a connection that sends nothing but junk is closed. Nothing a watch sends can
end the server: every failure stays inside its own connection.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from core.clock import Clock
from core.settings import Settings
from devices.watch.decoder import COMMAND_ACKS, HEALTH_TYPES, Decoded, decode_frame
from devices.watch.frames import Frame, FrameReader, Malformed, encode_frame, reply_to

log = logging.getLogger(__name__)
READ_SIZE = 4096
# Frame types counted under their own name in /metrics; anything else is "other" (labels stay few).
COUNTED_TYPES = frozenset({"LK", "INIT", "TKQ", "TKQ2", "UD", "UD2", "UD_LTE", "UD_WCDMA", "AL", "AL_LTE", "WT",
                           *HEALTH_TYPES, *COMMAND_ACKS})


@dataclass(frozen=True)
class WatchConfig:
    """The `[watch]` section."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 5093
    utc_offset_min: int = 0
    idle_timeout_s: float = 900
    login_timeout_s: float = 60  # a connection must send a good frame this soon (no free slots for silence)
    max_malformed: int = 5
    max_connections: int = 10000
    publish_timeout_s: float = 10
    sync_interval_s: float = 300

    @classmethod
    def from_settings(cls, settings: Settings) -> WatchConfig:
        """The gateway's part of `[watch]` (the broker account is devices.broker's)."""
        w = settings.watch
        return cls(enabled=w.enabled, host=w.host, port=w.port, utc_offset_min=w.utc_offset_min,
                   idle_timeout_s=w.idle_timeout_s, login_timeout_s=w.login_timeout_s, max_malformed=w.max_malformed,
                   max_connections=w.max_connections, publish_timeout_s=w.publish_timeout_s,
                   sync_interval_s=w.sync_interval_s)


class Publisher(Protocol):
    """What the gateway needs from its MQTT side (MqttPublisher; a fake in unit tests)."""

    def publish_json(self, site: str, device_id: str, kind: str, payload: dict[str, Any]) -> None: ...

    def publish_status(self, site: str, device_id: str, online: bool) -> None: ...

    def publish_event(self, site: str, device_id: str, payload: dict[str, Any], timeout: float
                      ) -> Awaitable[bool]: ...


class WatchCounters:
    """Thread-safe counters for /metrics (services.extras["counters:watch"])."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.connections: dict[str, int] = defaultdict(int)
        self.frames: dict[str, int] = defaultdict(int)
        self.malformed: dict[str, int] = defaultdict(int)
        self.published: dict[str, int] = defaultdict(int)
        self.commands: dict[str, int] = defaultdict(int)
        self.open = 0

    def count(self, table: str, kind: str, n: int = 1) -> None:
        """Add n to one labelled counter."""
        with self._lock:
            getattr(self, table)[kind] += n

    def opened(self, delta: int) -> None:
        """One connection more (+1) or fewer (-1)."""
        with self._lock:
            self.open += delta
            if delta > 0:
                self.connections["opened"] += 1

    def snapshot(self) -> dict[str, tuple[str, dict[str, float]]]:
        """Metric name → (help, {label: value}), the shape xiaoyuan.metrics exports."""
        with self._lock:
            return {
                "xiaoyuan_watch_connections": ("Watch connections: opened, refused_unknown, refused_full, "
                                               "closed_garbage, login_timeout, idle, replaced",
                                               dict(self.connections)),
                "xiaoyuan_watch_open_connections": ("Watch connections open now", {"all": self.open}),
                "xiaoyuan_watch_frames": ("Watch frames received, by type", dict(self.frames)),
                "xiaoyuan_watch_malformed": ("Watch frames or bytes dropped, by reason", dict(self.malformed)),
                "xiaoyuan_watch_unknown_ids": ("Connections refused for an unregistered watch id",
                                               {"all": self.connections.get("refused_unknown", 0)}),
                "xiaoyuan_watch_published": ("Messages the gateway published on MQTT, by kind",
                                             dict(self.published)),
                "xiaoyuan_watch_commands": ("Commands to watches: queued, sent, acknowledged", dict(self.commands)),
            }


@dataclass(frozen=True)
class WatchBand:
    """A registered watch: where its topics are."""

    device_id: str
    site: str


class WatchRegistry:
    """Looks registered watches up in the database, caching hits and (briefly) misses."""

    NEGATIVE_TTL_S = 30.0
    RELOAD_AFTER_S = 300.0  # a retired watch is refused within this long

    def __init__(self, session_factory) -> None:
        self.session_factory = session_factory
        self._known: dict[str, WatchBand] = {}
        self._unknown: dict[str, float] = {}
        self._loaded_at: float | None = None

    def lookup(self, device_id: str) -> WatchBand | None:
        """The watch's band, or None (blocking: run it in an executor)."""
        from core.bands.registry import find_watch

        if self._loaded_at is not None and time.monotonic() - self._loaded_at > self.RELOAD_AFTER_S:
            self.preload()
        hit = self._known.get(device_id)
        if hit is not None:
            return hit
        missed = self._unknown.get(device_id)
        if missed is not None and time.monotonic() - missed < self.NEGATIVE_TTL_S:
            return None
        with self.session_factory() as session:
            band = find_watch(session, device_id)
            found = WatchBand(band.device_id, band.site) if band is not None else None
        if found is None:
            if len(self._unknown) > 10000:
                self._unknown.clear()
            self._unknown[device_id] = time.monotonic()
            return None
        self._known[device_id] = found
        return found

    def preload(self) -> int:
        """Load every registered watch in one query (a reconnect storm then needs no query per watch); new
        registrations are still found by `lookup`. Returns how many were loaded."""
        from core.bands.registry import list_watches

        with self.session_factory() as session:
            self._known = {device_id: WatchBand(device_id, site) for device_id, site in list_watches(session)}
        self._loaded_at = time.monotonic()
        return len(self._known)

    def forget(self, device_id: str | None = None) -> None:
        """Drop cached lookups (after registering or retiring a watch)."""
        if device_id is None:
            self._known.clear()
            self._unknown.clear()
        else:
            self._known.pop(device_id, None)
            self._unknown.pop(device_id, None)


class _Session:
    """One open connection of a registered watch."""

    def __init__(self, band: WatchBand, writer: asyncio.StreamWriter, frame: Frame) -> None:
        self.band = band
        self.writer = writer
        self.manufacturer = frame.manufacturer
        self.indexed = frame.index is not None
        self.sent_index = 0

    def send(self, content: str) -> None:
        """Write one command to the watch, in its vendor prefix and (when it uses one) with an index."""
        index = None
        if self.indexed:
            self.sent_index = self.sent_index % 0xFFFF + 1
            index = f"{self.sent_index:04X}"
        self.writer.write(encode_frame(self.manufacturer, self.band.device_id, index, content))


def command_content(command: dict[str, Any]) -> str | None:
    """The watch command for a contract `cmd` payload: measure_now → `CR` (locate now), set_interval →
    `UPLOAD,<seconds>`; None for anything else."""
    if command.get("cmd") == "measure_now":
        return "CR"
    if command.get("cmd") == "set_interval" and isinstance(command.get("interval_s"), int):
        return f"UPLOAD,{command['interval_s']}"
    return None


class WatchGateway:
    """The TCP server. `lookup` maps a watch id to its band (blocking; run in an executor)."""

    def __init__(self, config: WatchConfig, *, lookup: Callable[[str], WatchBand | None], publisher: Publisher,
                 clock: Clock, counters: WatchCounters | None = None,
                 settings_due: Callable[[str], list[str]] | None = None,
                 record_ack: Callable[[str, str], None] | None = None,
                 keep_command: Callable[[str, str], None] | None = None,
                 forget_command: Callable[[str, str], None] | None = None) -> None:
        self.config = config
        self.lookup = lookup
        # Blocking database calls (run in an executor): the settings commands a watch needs, and noting
        # that it acknowledged one.
        self.settings_due = settings_due
        self.record_ack = record_ack
        # Blocking too: keep a downlink command (CR, UPLOAD) in the database until the watch acknowledges it,
        # so a gateway restart loses none; forget it when it does.
        self.keep_command = keep_command
        self.forget_command = forget_command
        # Commands waiting for the watch's acknowledgement, per device id, by command type (CR, UPLOAD,
        # SOS1, …: a newer one of the same type replaces an older). Sent on every (re)connect until acknowledged.
        self.pending: dict[str, dict[str, str]] = {}
        # What each watch last acknowledged, by command type: a settings check that read the database just
        # before an acknowledgement was recorded must not send the same setting again.
        self.confirmed: dict[str, dict[str, str]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._sync_task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()  # background work kept referenced until it is done
        self.publisher = publisher
        self.clock = clock
        self.counters = counters or WatchCounters()
        self.utc_offset = dt.timedelta(minutes=config.utc_offset_min)
        self.sessions: dict[str, _Session] = {}  # device id → its current connection
        self.server: asyncio.Server | None = None
        self.port: int | None = None

    def health_state(self) -> dict[str, object]:
        """What /healthz and the process status row show about the gateway (JSON-ready)."""
        connected = getattr(self.publisher, "connected", None)
        return {"listening": self.server is not None and self.server.is_serving(), "port": self.port,
                "mqtt_connected": bool(connected.is_set()) if connected is not None else None,
                "watches_connected": len(self.sessions)}

    async def start(self) -> None:
        """Listen on the configured host and port (port 0: a free one, read back into `self.port`)."""
        self.server = await asyncio.start_server(self._serve, self.config.host, self.config.port,
                                                 reuse_address=True, limit=READ_SIZE)
        self.port = self.server.sockets[0].getsockname()[1]
        self.loop = asyncio.get_running_loop()
        if self.settings_due is not None and self.config.sync_interval_s > 0:
            self._sync_task = self._spawn(self._sync_forever())
        log.info("watch gateway on %s:%s", self.config.host, self.port)

    async def close(self) -> None:
        """Stop accepting and close every connection."""
        if self._sync_task is not None:
            self._sync_task.cancel()
        if self.server is not None:
            self.server.close()
        for session in list(self.sessions.values()):
            session.writer.close()
        if self.server is not None:
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counters.opened(+1)
        session: _Session | None = None
        try:
            if self.counters.open > self.config.max_connections:
                self.counters.count("connections", "refused_full")
                return
            session = await self._converse(reader, writer)
        except (ConnectionError, OSError):
            pass  # the watch went away; it reconnects and resends what was not answered
        except asyncio.CancelledError:
            pass  # the gateway is stopping
        except Exception:
            self.counters.count("connections", "error")
            log.exception("watch connection failed")
        finally:
            self.counters.opened(-1)
            if session is not None and self.sessions.get(session.band.device_id) is session:
                del self.sessions[session.band.device_id]
                self._status(session.band, online=False)
            writer.close()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> _Session | None:
        frames = FrameReader()
        session: _Session | None = None
        bad_run = 0
        while True:
            timeout = self.config.idle_timeout_s if session is not None else min(self.config.idle_timeout_s,
                                                                                   self.config.login_timeout_s)
            try:
                data = await asyncio.wait_for(reader.read(READ_SIZE), timeout)
            except TimeoutError:
                self.counters.count("connections", "idle" if session is not None else "login_timeout")
                return session
            if not data:
                return session
            for item in frames.feed(data):
                if isinstance(item, Malformed):
                    self.counters.count("malformed", item.reason)
                    bad_run += 1
                    if bad_run >= self.config.max_malformed:
                        self.counters.count("connections", "closed_garbage")
                        log.info("closing a watch connection that sends only junk")
                        return session
                    continue
                bad_run = 0
                if session is None:
                    session = await self._bind(item, writer)
                    if session is None:
                        return None
                elif item.device_id != session.band.device_id:
                    self.counters.count("malformed", "other_id")  # one connection speaks for one watch
                    continue
                await self._answer(session, item)

    async def _bind(self, frame: Frame, writer: asyncio.StreamWriter) -> _Session | None:
        band = await asyncio.get_running_loop().run_in_executor(None, self.lookup, frame.device_id)
        if band is None:
            self.counters.count("connections", "refused_unknown")
            log.info("refused a watch with an unregistered id")
            return None
        session = _Session(band, writer, frame)
        previous = self.sessions.get(band.device_id)
        self.sessions[band.device_id] = session
        if previous is not None:  # the watch reconnected before its old connection timed out
            self.counters.count("connections", "replaced")
            previous.writer.close()
        self._status(band, online=True)
        for content in self.pending.get(band.device_id, {}).values():  # queued while it was away
            session.send(content)
            self.counters.count("commands", "sent")
        if self.settings_due is not None:
            self._spawn(self.sync_settings(band.device_id))
        return session

    def _spawn(self, work) -> asyncio.Task:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- downlink
    def queue_command(self, device_id: str, content: str) -> None:
        """Send a command to a watch now if it is connected, and keep it until the watch acknowledges it."""
        kind = content.split(",", 1)[0]
        pending = self.pending.setdefault(device_id, {})
        if pending.get(kind) == content:
            return  # already on its way
        pending.pop(kind, None)
        pending[kind] = content
        self.counters.count("commands", "queued")
        session = self.sessions.get(device_id)
        if session is not None:
            session.send(content)
            self.counters.count("commands", "sent")

    def submit_command(self, site: str, device_id: str, command: dict[str, Any]) -> None:
        """A contract `cmd` from MQTT (called on paho's thread): handed to the event loop."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(lambda: self._spawn(self._command(site, device_id, command)))

    async def _command(self, site: str, device_id: str, command: dict[str, Any]) -> None:
        try:
            band = await asyncio.get_running_loop().run_in_executor(None, self.lookup, device_id)
            content = command_content(command)
            if band is None or band.site != site or content is None:
                return  # an MQTT band's command (it reads its own), or another site's
            if self.keep_command is not None:  # stored before it is sent: an acknowledgement always finds it
                try:
                    await asyncio.get_running_loop().run_in_executor(None, self.keep_command, device_id, content)
                except Exception:
                    log.exception("could not store a watch command; it is kept in memory only")
            self.queue_command(device_id, content)
        except Exception:
            log.exception("could not queue a watch command")

    async def sync_settings(self, device_id: str) -> None:
        """Queue the SOS-number and phonebook commands that bring the watch in step with the caregiver chain."""
        if self.settings_due is None:
            return
        try:
            due = await asyncio.get_running_loop().run_in_executor(None, self.settings_due, device_id)
        except Exception:
            log.exception("could not read the settings a watch should hold")
            return
        confirmed = self.confirmed.get(device_id, {})
        for content in due:
            if confirmed.get(content.split(",", 1)[0]) != content:
                self.queue_command(device_id, content)

    async def _sync_forever(self) -> None:
        """Check the connected watches against their caregiver chains now and then (the chain may change)."""
        while True:
            await asyncio.sleep(self.config.sync_interval_s)
            for device_id in list(self.sessions):
                await self.sync_settings(device_id)

    async def _acknowledged(self, device_id: str, kind: str) -> None:
        content = self.pending.get(device_id, {}).pop(kind, None)
        if content is None:
            return
        self.confirmed.setdefault(device_id, {})[kind] = content
        self.counters.count("commands", "acknowledged")
        settings = kind == "PHB" or kind.startswith("SOS")
        store = self.record_ack if settings else self.forget_command
        if store is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(None, store, device_id,
                                                                 content if settings else kind)
            except Exception:
                log.exception("could not record a watch's acknowledgement")

    async def _answer(self, session: _Session, frame: Frame) -> None:
        decoded = decode_frame(frame, received_at=self.clock.now(), utc_offset=self.utc_offset)
        self.counters.count("frames", decoded.type if decoded.type in COUNTED_TYPES else "other")
        if decoded.malformed:
            self.counters.count("malformed", "bad_values")
        if not decoded.known:
            log.debug("watch frame of unknown type %.12s", decoded.type)
        if decoded.ack:
            await self._acknowledged(session.band.device_id, decoded.type)
            return
        answered = await self._publish(session.band, decoded)
        if decoded.reply is not None and answered:
            session.writer.write(reply_to(frame, decoded.reply))
            await session.writer.drain()

    async def _publish(self, band: WatchBand, decoded: Decoded) -> bool:
        """Events first (awaited), then telemetry; False when an event was not taken by the broker in time."""
        taken = True
        for event in decoded.events:
            ok = await self.publisher.publish_event(band.site, band.device_id, event.payload(),
                                                    self.config.publish_timeout_s)
            self.counters.count("published", "event" if ok else "event_timeout")
            taken = taken and ok
        telemetry = decoded.telemetry
        if telemetry is None and decoded.type == "LK":
            telemetry = {"ts": self.clock.now().timestamp()}  # a keep-alive proves the watch is alive
        if telemetry is not None:
            self.publisher.publish_json(band.site, band.device_id, "telemetry", telemetry)
            self.counters.count("published", "telemetry")
        return taken

    def _status(self, band: WatchBand, *, online: bool) -> None:
        try:
            self.publisher.publish_status(band.site, band.device_id, online)
            self.counters.count("published", "status")
        except Exception:
            log.exception("could not publish a watch's status")


def run_gateway(services, stop_event: threading.Event) -> None:
    """Entry for `xiaoyuan gateway` / `xiaoyuan run`: serve watches until stop_event is set."""
    from devices.watch.publisher import MqttPublisher, gateway_connection

    settings = services.settings
    config = WatchConfig.from_settings(settings)
    counters = services.extras.setdefault("counters:watch", WatchCounters())
    connection = gateway_connection(settings)
    registry = WatchRegistry(services.session_factory)
    try:
        log.info("watch gateway knows %d registered watches", registry.preload())
    except Exception:
        log.exception("could not preload the registered watches; looking each up as it connects")
    gateway_ref: list[WatchGateway] = []
    publisher = MqttPublisher(connection, root=settings.mqtt.topic_root, client_id=connection.username or "gateway",
                              on_command=lambda site, device, cmd: gateway_ref[0].submit_command(site, device, cmd))
    keep, forget, load = _command_store(services)
    gateway = WatchGateway(config, lookup=registry.lookup, publisher=publisher, clock=services.clock,
                           counters=counters, settings_due=_settings_due(services),
                           record_ack=_record_ack(services), keep_command=keep, forget_command=forget)
    try:
        gateway.pending = load()  # commands the watches had not acknowledged when the gateway last stopped
    except Exception:
        log.exception("could not load the watches' unacknowledged commands")
    gateway_ref.append(gateway)
    services.extras["watch:gateway"] = gateway
    publisher.start()

    async def serve() -> None:
        await gateway.start()
        try:
            await asyncio.to_thread(stop_event.wait)
        finally:
            await gateway.close()

    try:
        asyncio.run(serve())
    finally:
        publisher.stop()


def _settings_due(services) -> Callable[[str], list[str]]:
    from core.bands.watches import watch_commands_due

    def due(device_id: str) -> list[str]:
        with services.session_factory() as session:
            return watch_commands_due(session, device_id)
    return due


def _record_ack(services) -> Callable[[str, str], None]:
    from core.bands.watches import record_watch_ack
    from core.db import transaction

    def record(device_id: str, content: str) -> None:
        with transaction(services.session_factory) as session:
            record_watch_ack(session, device_id=device_id, command=content, now=services.clock.now())
    return record


def _command_store(services) -> tuple[Callable[[str, str], None], Callable[[str, str], None],
                                      Callable[[], dict[str, dict[str, str]]]]:
    from core.bands.watches import drop_watch_command, pending_watch_commands, save_watch_command
    from core.db import transaction

    def keep(device_id: str, content: str) -> None:
        with transaction(services.session_factory) as session:
            save_watch_command(session, device_id=device_id, content=content, now=services.clock.now())

    def forget(device_id: str, kind: str) -> None:
        with transaction(services.session_factory) as session:
            drop_watch_command(session, device_id=device_id, kind=kind)

    def load() -> dict[str, dict[str, str]]:
        with services.session_factory() as session:
            return pending_watch_commands(session)
    return keep, forget, load
