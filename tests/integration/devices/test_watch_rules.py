"""Watches get the band rules unchanged: what the gateway publishes for a watch goes through the listener's
ingest (real database, fake clock), so silent-watch, low-battery and SOS alerts behave as for MQTT bands."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import sqlalchemy as sa

from core.bands.registry import add_band
from core.clock import UTC
from core.db import transaction
from devices.ingest import Inbound, Ingestor
from devices.monitor import check_bands
from devices.watch.frames import encode_frame
from devices.watch.gateway import WatchBand, WatchConfig, WatchGateway
from tests.factories import build_world
from tests.integration.devices.helpers import alerts

WATCH = "8800000015"


class IngestingPublisher:
    """Hands what the gateway publishes straight to the listener's Ingestor (the broker in between is
    covered by test_watch_gateway)."""

    def __init__(self, ingestor: Ingestor, root: str = "xiaoyuan/v1") -> None:
        self.ingestor, self.root = ingestor, root

    def _put(self, site, device_id, kind, payload, qos) -> None:
        raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.ingestor.process([Inbound(f"{self.root}/{site}/band/{device_id}/{kind}", raw, qos)])

    def publish_json(self, site, device_id, kind, payload):
        self._put(site, device_id, kind, payload, 0)

    def publish_status(self, site, device_id, online):
        self._put(site, device_id, "status", "online" if online else "offline", 1)

    async def publish_event(self, site, device_id, payload, timeout):
        self._put(site, device_id, "event", payload, 1)
        return True


def seed_watch(services) -> None:
    with transaction(services.session_factory) as s:
        world = build_world(s, services.clock.now())
        add_band(s, now=services.clock.now(), device_id=WATCH, site="hut1", resident_id=world.residents[0].id,
                 protocol="watch")


def send(services, *contents: str) -> None:
    """One connection of the watch: send the frames and a keep-alive, read the replies (the last one, to the
    keep-alive, says every frame was handled), hang up."""
    gateway = WatchGateway(WatchConfig(host="127.0.0.1", port=0), lookup={WATCH: WatchBand(WATCH, "hut1")}.get,
                           publisher=IngestingPublisher(Ingestor(services)), clock=services.clock)

    async def talk() -> None:
        await gateway.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        for content in (*contents, "LK"):
            writer.write(encode_frame("3G", WATCH, None, content))
            if content.startswith(("LK", "AL")):
                assert (await reader.readuntil(b"]")).endswith(b"]")
        writer.close()
        await gateway.close()

    asyncio.run(talk())


def position(kind: str, when: dt.datetime, *, battery: int, status: str = "00000000") -> str:
    return (f"{kind},{when:%d%m%y},{when:%H%M%S},A,29.563010,N,106.551556,E,0.00,95.7,0.0,9,100,{battery},1200,0,"
            f"{status},0,0")


def test_a_watch_that_goes_quiet_is_a_silent_alert_and_its_keepalive_clears_it(services, clock):
    clock.set(dt.datetime(2026, 11, 26, 6, 0, tzinfo=UTC))  # 14:00 local
    seed_watch(services)
    send(services, position("UD", clock.now(), battery=80))
    clock.advance(minutes=14)
    check_bands(services)
    assert [a for a in alerts(services) if a.type == "silent"] == []  # quiet, but not yet for 15 minutes
    clock.advance(minutes=1)
    check_bands(services)
    (silent,) = [a for a in alerts(services) if a.type == "silent"]
    assert silent.severity == "warning"
    clock.advance(minutes=5)
    send(services)  # a bare keep-alive proves the watch alive, like any band message
    (silent,) = [a for a in alerts(services) if a.type == "silent"]
    assert silent.status == "auto_cleared"


def test_a_watch_low_on_battery_alerts_once_like_a_band(services, clock):
    clock.set(dt.datetime(2026, 11, 26, 2, 0, tzinfo=UTC))
    seed_watch(services)
    send(services, position("UD", clock.now(), battery=40), "LK,1300,0,12")
    clock.advance(minutes=5)
    send(services, position("UD", clock.now(), battery=11))
    assert [(a.type, a.status) for a in alerts(services)] == [("battery_low", "notified")]


def test_an_sos_alarm_from_a_watch_escalates_like_a_band_sos(services, clock):
    seed_watch(services)
    send(services, position("AL", clock.now(), battery=64, status="00010000"))
    (alert,) = alerts(services)
    assert (alert.type, alert.severity, alert.status, alert.device_id) == ("sos", "critical", "notified", WATCH)


def test_the_registry_knows_watches_only_and_forgets_a_retired_one_on_reload(services, clock):
    from core.models.devices import Band
    from devices.watch.gateway import WatchRegistry

    seed_watch(services)
    with transaction(services.session_factory) as s:
        add_band(s, now=clock.now(), device_id="864001", site="hut1")  # an MQTT band
    registry = WatchRegistry(services.session_factory)
    assert registry.preload() == 1
    assert registry.lookup(WATCH) == WatchBand(WATCH, "hut1") and registry.lookup("864001") is None
    with transaction(services.session_factory) as s:
        s.execute(sa.update(Band).where(Band.device_id == WATCH).values(active=False))
    assert registry.lookup(WATCH) is not None  # cached until the next reload
    registry.RELOAD_AFTER_S = -1
    assert registry.lookup(WATCH) is None


def test_a_command_for_an_absent_watch_survives_a_gateway_restart_until_acknowledged(services, clock):
    from core.models.devices import WatchCommand
    from devices.watch.gateway import _command_store

    seed_watch(services)
    keep, forget, load = _command_store(services)

    def gateway() -> WatchGateway:
        made = WatchGateway(WatchConfig(host="127.0.0.1", port=0), lookup={WATCH: WatchBand(WATCH, "hut1")}.get,
                            publisher=IngestingPublisher(Ingestor(services)), clock=services.clock,
                            keep_command=keep, forget_command=forget)
        made.pending = load()
        return made

    async def before_restart() -> None:
        first = gateway()
        await first.start()
        first.submit_command("hut1", WATCH, {"cmd": "set_interval", "id": "c1", "ts": 1, "interval_s": 600})
        while not first.pending.get(WATCH):
            await asyncio.sleep(0.005)
        await first.close()

    async def after_restart() -> None:
        second = gateway()
        assert second.pending == {WATCH: {"UPLOAD": "UPLOAD,600"}}
        await second.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", second.port)
        writer.write(encode_frame("3G", WATCH, None, "LK"))
        assert await reader.readuntil(b"]") == b"[3G*8800000015*000A*UPLOAD,600]"
        writer.write(encode_frame("3G", WATCH, None, "UPLOAD"))
        for _ in range(500):  # the acknowledgement is stored from an executor thread
            if not second.pending.get(WATCH) and not load():
                break
            await asyncio.sleep(0.01)
        writer.close()
        await second.close()

    asyncio.run(before_restart())
    with services.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(WatchCommand)) == 1
    asyncio.run(after_restart())
    assert load() == {}
