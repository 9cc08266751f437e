"""The gateway's TCP side over loopback with a fake MQTT publisher: replies, what is published, refusals, junk."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

from core.clock import UTC, FakeClock
from devices.watch.frames import encode_frame
from devices.watch.gateway import WatchBand, WatchConfig, WatchCounters, WatchGateway

NOW = dt.datetime(2026, 11, 30, 5, 0, 0, tzinfo=UTC)
ID = "8800000015"
SOS = ("AL,301126,045930,A,29.563010,N,106.551556,E,0.00,95.7,0.0,9,100,88,1200,0,00010000,"
       "4,1,460,0,9346,13191,160")


class FakePublisher:
    def __init__(self, accept_events: bool = True) -> None:
        self.sent: list[tuple[str, str, str, object]] = []
        self.accept_events = accept_events

    def publish_json(self, site, device_id, kind, payload):
        self.sent.append((site, device_id, kind, payload))

    def publish_status(self, site, device_id, online):
        self.sent.append((site, device_id, "status", "online" if online else "offline"))

    async def publish_event(self, site, device_id, payload, timeout):
        self.sent.append((site, device_id, "event", payload))
        return self.accept_events

    def kinds(self):
        return [kind for _, _, kind, _ in self.sent]


def run(scenario: Callable[[WatchGateway, FakePublisher], Awaitable[None]], *, accept_events: bool = True,
        settings_due=None, record_ack=None, **config) -> tuple[FakePublisher, WatchCounters]:
    publisher = FakePublisher(accept_events)
    known = {ID: WatchBand(ID, "hut1")}
    gateway = WatchGateway(WatchConfig(host="127.0.0.1", port=0, **config), lookup=known.get, publisher=publisher,
                           clock=FakeClock(NOW), settings_due=settings_due, record_ack=record_ack)

    async def main():
        await gateway.start()
        try:
            await asyncio.wait_for(scenario(gateway, publisher), 10)
        finally:
            await gateway.close()

    asyncio.run(main())
    return publisher, gateway.counters


async def connect(gateway):
    return await asyncio.open_connection("127.0.0.1", gateway.port)


async def expect(reader, data: bytes) -> None:
    assert await reader.readexactly(len(data)) == data


async def closed(reader) -> bool:
    return await reader.read(100) == b""


async def until(predicate) -> None:
    """Poll the gateway's state between loop turns (the scenario's 10 s limit bounds it)."""
    while not predicate():
        await asyncio.sleep(0.005)


def test_link_is_answered_and_the_watch_announced_online_then_offline():
    async def scenario(gateway, publisher):
        reader, writer = await connect(gateway)
        writer.write(encode_frame("3G", ID, None, "LK,100,0,77"))
        await expect(reader, b"[3G*8800000015*0002*LK]")
        writer.close()
        await until(lambda: publisher.kinds()[-1:] == ["status"] and len(publisher.kinds()) >= 3)

    publisher, counters = run(scenario)
    assert publisher.sent == [("hut1", ID, "status", "online"),
                              ("hut1", ID, "telemetry", {"ts": NOW.timestamp(), "steps": 100, "battery": 77}),
                              ("hut1", ID, "status", "offline")]
    assert counters.frames == {"LK": 1} and counters.open == 0


def test_split_coalesced_indexed_frames_get_their_replies_in_order():
    async def scenario(gateway, publisher):
        reader, writer = await connect(gateway)
        stream = (encode_frame("SG", ID, "0001", "INIT,13800138000,1,1") + encode_frame("SG", ID, "0002", "TKQ")
                  + encode_frame("SG", ID, "0003", SOS))
        for cut in (5, 31, 47, len(stream)):  # pieces cut across frame boundaries
            writer.write(stream[:cut])
            stream = stream[cut:]
            await writer.drain()
            if not stream:
                break
        await expect(reader, b"[SG*8800000015*0001*0006*INIT,1][SG*8800000015*0002*0003*TKQ]"
                             b"[SG*8800000015*0003*0002*AL]")
        writer.close()

    publisher, counters = run(scenario)
    events = [payload for _, _, kind, payload in publisher.sent if kind == "event"]
    assert [e["type"] for e in events] == ["sos"] and events[0]["lat"] == 29.56301
    assert counters.frames == {"INIT": 1, "TKQ": 1, "AL": 1}


def test_an_alarm_the_broker_did_not_take_is_not_answered_so_the_watch_resends_it():
    async def scenario(gateway, publisher):
        reader, writer = await connect(gateway)
        writer.write(encode_frame("3G", ID, None, SOS) + encode_frame("3G", ID, None, "LK"))
        await expect(reader, b"[3G*8800000015*0002*LK]")  # the LK answer comes; no AL before it
        writer.close()

    _, counters = run(scenario, accept_events=False)
    assert counters.published["event_timeout"] == 1


def test_an_unregistered_id_is_refused_and_counted():
    async def scenario(gateway, publisher):
        reader, writer = await connect(gateway)
        writer.write(encode_frame("3G", "9999999999", None, "LK"))
        assert await closed(reader)
        writer.close()

    publisher, counters = run(scenario)
    assert publisher.sent == [] and counters.snapshot()["xiaoyuan_watch_unknown_ids"][1] == {"all": 1}


def test_a_connection_of_only_junk_is_closed_and_malformed_frames_are_counted():
    async def scenario(gateway, publisher):
        reader, writer = await connect(gateway)
        writer.write(b"[3G*8800000015*0009*LK]")
        await writer.drain()
        for _ in range(3):
            writer.write(b"\x16\x03\x01junk[")
            await writer.drain()
        writer.write(b"]]]")
        assert await closed(reader)
        writer.close()

    publisher, counters = run(scenario, max_malformed=3)
    assert publisher.sent == [] and counters.connections["closed_garbage"] == 1
    assert counters.malformed["bad_length"] == 1


def test_junk_between_good_frames_does_not_cost_the_connection():
    async def scenario(gateway, publisher):
        reader, writer = await connect(gateway)
        for _ in range(10):
            writer.write(b"\r\n" + encode_frame("3G", ID, None, "LK"))
        await expect(reader, b"[3G*8800000015*0002*LK]" * 10)
        writer.close()

    _, counters = run(scenario, max_malformed=2)
    assert counters.frames["LK"] == 10 and counters.malformed["garbage"] == 10


def test_unknown_types_are_counted_and_the_connection_goes_on():
    async def scenario(gateway, publisher):
        reader, writer = await connect(gateway)
        writer.write(encode_frame("3G", ID, None, "PHOTO,abc") + encode_frame("3G", ID, None, "heart,71")
                     + encode_frame("3G", ID, None, "LK"))
        await expect(reader, b"[3G*8800000015*0002*LK]")
        writer.close()

    publisher, counters = run(scenario)
    assert counters.frames == {"other": 1, "heart": 1, "LK": 1}
    assert ("hut1", ID, "telemetry", {"ts": NOW.timestamp(), "hr": 71}) in publisher.sent


def test_a_reconnect_replaces_the_old_connection_without_announcing_offline():
    async def scenario(gateway, publisher):
        old_reader, old_writer = await connect(gateway)
        old_writer.write(encode_frame("3G", ID, None, "LK"))
        await expect(old_reader, b"[3G*8800000015*0002*LK]")
        reader, writer = await connect(gateway)
        writer.write(encode_frame("3G", ID, None, "LK"))
        await expect(reader, b"[3G*8800000015*0002*LK]")
        assert await closed(old_reader)
        old_writer.close()
        writer.close()
        await until(lambda: publisher.sent[-1][2:] == ("status", "offline"))

    publisher, counters = run(scenario)
    statuses = [payload for _, _, kind, payload in publisher.sent if kind == "status"]
    assert statuses == ["online", "online", "offline"] and counters.connections["replaced"] == 1


def test_an_idle_connection_is_closed():
    async def scenario(gateway, publisher):
        reader, writer = await connect(gateway)
        writer.write(encode_frame("3G", ID, None, "LK"))
        await expect(reader, b"[3G*8800000015*0002*LK]")
        assert await closed(reader)
        writer.close()

    _, counters = run(scenario, idle_timeout_s=0.05)
    assert counters.connections["idle"] == 1


def test_a_connection_that_never_says_who_it_is_is_closed_sooner_than_an_idle_watch():
    async def scenario(gateway, publisher):
        reader, writer = await connect(gateway)
        assert await closed(reader)
        writer.close()

    _, counters = run(scenario, idle_timeout_s=600, login_timeout_s=0.05)
    assert counters.connections == {"opened": 1, "login_timeout": 1}


def test_a_command_waits_for_the_watch_and_is_resent_until_acknowledged():
    async def scenario(gateway, publisher):
        gateway.submit_command("hut1", ID, {"cmd": "measure_now", "id": "c1", "ts": 1})
        gateway.submit_command("hut1", ID, {"cmd": "set_interval", "id": "c2", "ts": 1, "interval_s": 300})
        gateway.submit_command("other-site", ID, {"cmd": "measure_now", "id": "c3", "ts": 1})
        gateway.submit_command("hut1", "864001", {"cmd": "measure_now", "id": "c4", "ts": 1})  # not a watch
        await until(lambda: len(gateway.pending.get(ID, {})) == 2)
        reader, writer = await connect(gateway)
        writer.write(encode_frame("3G", ID, None, "LK"))
        await expect(reader, b"[3G*8800000015*0002*CR][3G*8800000015*000A*UPLOAD,300][3G*8800000015*0002*LK]")
        writer.write(encode_frame("3G", ID, None, "CR"))  # the watch confirms one, then drops the line
        await until(lambda: list(gateway.pending[ID]) == ["UPLOAD"])
        writer.close()
        reader, writer = await connect(gateway)
        writer.write(encode_frame("3G", ID, "0001", "LK"))
        await expect(reader, b"[3G*8800000015*0001*000A*UPLOAD,300][3G*8800000015*0001*0002*LK]")
        writer.write(encode_frame("3G", ID, "0001", "UPLOAD"))
        await until(lambda: gateway.pending[ID] == {})
        gateway.submit_command("hut1", ID, {"cmd": "measure_now", "id": "c5", "ts": 1})  # connected: at once
        await expect(reader, b"[3G*8800000015*0002*0002*CR]")
        writer.close()

    _, counters = run(scenario)
    assert counters.commands == {"queued": 3, "sent": 4, "acknowledged": 2}


def test_sos_numbers_the_chain_wants_are_sent_on_connect_and_confirmed_by_the_watch():
    acks = []

    async def scenario(gateway, publisher):
        reader, writer = await connect(gateway)
        writer.write(encode_frame("3G", ID, None, "LK"))
        await expect(reader, b"[3G*8800000015*0002*LK][3G*8800000015*0010*SOS1,13800001111]")
        writer.write(encode_frame("3G", ID, None, "SOS1"))
        await until(lambda: acks)
        writer.close()

    run(scenario, settings_due=lambda device_id: ["SOS1,13800001111"],
        record_ack=lambda device_id, content: acks.append((device_id, content)))
    assert acks == [(ID, "SOS1,13800001111")]
