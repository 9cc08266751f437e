"""A watch end to end: real TCP on loopback → the gateway → a real Mosquitto → the real listener → one alert,
also when the watch reconnects and resends its alarm (S12)."""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading

import pytest
import sqlalchemy as sa

from core.bands.alerts import resolve_alert
from core.bands.registry import add_band
from core.clock import UTC, SystemClock
from core.container import Services
from core.db import make_engine, make_session_factory, transaction
from core.models.alerts import Alert
from core.models.devices import Band, DeviceEvent
from core.people.access import OPERATOR
from core.settings import load_settings
from devices.broker import service_password
from devices.listener import Connection, Listener
from devices.watch.frames import encode_frame
from devices.watch.gateway import run_gateway
from tests.factories import build_world
from tests.integration.devices.brokers import Mosquitto, band_credentials, free_port, wait_until

WATCH = "8800000015"


@pytest.fixture
def world(db_url, tmp_path):
    """Real time, the test world, one watch on 王奶奶 (site hut1) and one ordinary MQTT band."""
    env = {"XIAOYUAN_DATA_DIR": str(tmp_path / "var"), "XIAOYUAN_CONFIG": "", "XIAOYUAN_DATABASE_URL": db_url,
           "XIAOYUAN_WATCH_PORT": str(free_port()), "XIAOYUAN_WATCH_HOST": "127.0.0.1"}
    settings = load_settings(environ=env)
    engine = make_engine(db_url)
    services = Services(settings=settings, session_factory=make_session_factory(engine), clock=SystemClock())
    with transaction(services.session_factory) as s:
        w = build_world(s, services.clock.now())
        add_band(s, now=services.clock.now(), device_id=WATCH, site="hut1", resident_id=w.residents[0].id,
                 protocol="watch")
        add_band(s, now=services.clock.now(), device_id="864001", site="hut1", resident_id=w.residents[1].id)
    yield services
    engine.dispose()


@pytest.fixture
def running(world, tmp_path):
    """Mosquitto (with the gateway's account in its ACL), the listener and the gateway, as in `xiaoyuan run`."""
    broker = Mosquitto(tmp_path / "mosquitto", world.settings, band_credentials(world.session_factory)).start()
    env = {"XIAOYUAN_DATA_DIR": str(world.settings.data_dir), "XIAOYUAN_CONFIG": "",
           "XIAOYUAN_DATABASE_URL": world.settings.database_url,
           "XIAOYUAN_WATCH_PORT": str(world.settings.watch.port), "XIAOYUAN_WATCH_SYNC_INTERVAL_S": "0.2",
           "XIAOYUAN_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}"}
    settings = load_settings(environ=env)
    services = Services(settings=settings, session_factory=world.session_factory, clock=world.clock)
    listener = Listener(services, connection=Connection("127.0.0.1", broker.port, settings.broker.username,
                                                        service_password(settings), 5),
                        client_id="xiaoyuan-listener-watch-test")
    stop = threading.Event()
    gateway = threading.Thread(target=run_gateway, args=(services, stop), daemon=True)
    try:
        listener.start()
        assert listener.subscribed.wait(10)
        gateway.start()
        assert wait_until(lambda: "watch:gateway" in services.extras and services.extras["watch:gateway"].port, 10)
        assert wait_until(services.extras["watch:gateway"].publisher.subscribed.is_set, 10)
        services.extras["env"] = {**env, "XIAOYUAN_MQTT_URL": broker.url(settings.broker.username,
                                                                         service_password(settings))}
        yield services, listener
    finally:
        stop.set()
        gateway.join(10)
        listener.stop()
        broker.stop()


class Watch:
    """A simulated watch: a plain TCP socket sending real frames."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def next_frame(self) -> bytes:
        """The next frame the server sent."""
        while b"]" not in self.buffer:
            chunk = self.sock.recv(4096)
            assert chunk, f"closed with {self.buffer!r} left"
            self.buffer += chunk
        frame, self.buffer = self.buffer.split(b"]", 1)
        return frame + b"]"

    def expect(self, data: bytes) -> None:
        """The next reply is `data` (settings commands the gateway sends meanwhile are passed over)."""
        frame = self.next_frame()
        while frame.split(b"*")[-1].startswith((b"SOS", b"PHB")):
            frame = self.next_frame()
        assert frame == data

    def contents(self, count: int) -> list[str]:
        """The contents of the next `count` frames (each addressed to this watch)."""
        out = []
        for _ in range(count):
            frame = self.next_frame()
            assert frame.startswith(b"[3G*8800000015*")
            out.append(frame[1:-1].decode().split("*", 3)[3])
        return out

    def closed(self) -> bool:
        return self.sock.recv(100) == b""

    def close(self) -> None:
        self.sock.close()


def sos_frame(when: dt.datetime, index: str) -> bytes:
    stamp = when.astimezone(UTC)
    content = (f"AL,{stamp:%d%m%y},{stamp:%H%M%S},A,29.563010,N,106.551556,E,0.00,95.7,0.0,9,100,64,1200,0,"
               "00010000,4,1,460,0,9346,13191,160")
    return encode_frame("3G", WATCH, index, content)


def alerts(services) -> list[Alert]:
    with services.session_factory() as s:
        return list(s.scalars(sa.select(Alert).order_by(Alert.id)))


def events(services) -> int:
    with services.session_factory() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(DeviceEvent))


def watch_state(services) -> tuple:
    with services.session_factory() as s:
        band = s.scalar(sa.select(Band).where(Band.device_id == WATCH))
        return band.online, band.battery, (band.last_reading or {}).get("steps")


@pytest.mark.slow
def test_an_sos_from_a_watch_is_one_alert_across_reconnect_and_resend(running):
    services, listener = running
    port = services.extras["watch:gateway"].port
    pressed = services.clock.now().replace(microsecond=0)

    watch = Watch(port)
    watch.send(encode_frame("3G", WATCH, "0001", "LK,1200,0,64"))
    watch.expect(b"[3G*8800000015*0001*0002*LK]")
    frame = sos_frame(pressed, "0002")
    watch.send(frame[:20])  # the alarm arrives in two reads
    watch.send(frame[20:])
    watch.expect(b"[3G*8800000015*0002*0002*AL]")  # answered only once the broker has it
    assert wait_until(lambda: len(alerts(services)) == 1, 15)
    (alert,) = alerts(services)
    assert (alert.type, alert.severity, alert.device_id, alert.lat) == ("sos", "critical", WATCH, 29.56301)
    with transaction(services.session_factory) as s:  # the 院长 handles it before the watch resends
        resolve_alert(s, now=services.clock.now(), alert_id=alert.id, note="已上门", by="院长", via="cli",
                      actor=OPERATOR)
    watch.close()

    again = Watch(port)  # the watch lost its connection without the AL answer and resends the same alarm
    again.send(sos_frame(pressed, "0009"))
    again.expect(b"[3G*8800000015*0009*0002*AL]")
    assert wait_until(lambda: listener.counters.dropped.get("duplicate_event") == 1, 15)
    assert len(alerts(services)) == 1 and events(services) == 1
    again.send(encode_frame("3G", WATCH, "000A", "LK,1300,0,63"))
    again.expect(b"[3G*8800000015*000A*0002*LK]")
    assert wait_until(lambda: watch_state(services) == (True, 63, 1300), 15)
    again.close()


@pytest.mark.slow
def test_an_unregistered_or_mqtt_band_id_is_refused(running):
    services, listener = running
    port = services.extras["watch:gateway"].port
    for device_id in ("9999999999", "864001"):  # unknown, and an MQTT band that is not a watch
        watch = Watch(port)
        watch.send(encode_frame("3G", device_id, None, "LK"))
        assert watch.closed()
        watch.close()
    counters = services.extras["counters:watch"]
    assert counters.connections["refused_unknown"] == 2
    from xiaoyuan.app import create_app

    body = create_app(services).test_client().get("/metrics").get_data(as_text=True)
    assert re.search(r'xiaoyuan_watch_unknown_ids_total\{[^}]*kind="all"[^}]*\} 2\.0', body)
    assert re.search(r'xiaoyuan_watch_connections_total\{[^}]*kind="refused_unknown"[^}]*\} 2\.0', body)


def test_band_add_registers_a_watch_without_mqtt_account_and_the_broker_knows_the_gateway(world):
    from click.testing import CliRunner

    from xiaoyuan.cli import _load_command_modules, cli

    _load_command_modules()
    env = {"XIAOYUAN_DATA_DIR": str(world.settings.data_dir), "XIAOYUAN_CONFIG": "",
           "XIAOYUAN_DATABASE_URL": world.settings.database_url, "XIAOYUAN_WATCH_PORT": "5093"}
    result = CliRunner().invoke(cli, ["band", "add", "--device-id", "8800000016", "--site", "hut1",
                                      "--protocol", "watch"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "5093" in result.output and "密码" not in result.output
    with world.session_factory() as s:
        band = s.scalar(sa.select(Band).where(Band.device_id == "8800000016"))
        assert (band.protocol, band.mqtt_password_hash) == ("watch", "")
    from devices.broker import export_broker_files

    passwd, acl = export_broker_files(world.settings, world.settings.data_dir / "broker-test")
    users = [line.split(":", 1)[0] for line in passwd.read_text().splitlines()]
    assert "xiaoyuan-gateway" in users and f"band-{WATCH}" not in users and "band-864001" in users
    assert "user xiaoyuan-gateway\ntopic write xiaoyuan/v1/+/band/+/telemetry" in acl.read_text()
    assert "topic read xiaoyuan/v1/#" not in acl.read_text().split("user xiaoyuan-gateway", 1)[1]


@pytest.mark.slow
def test_band_cmd_reaches_a_watch_that_connects_later_and_the_sos_numbers_follow_the_chain(running):
    from click.testing import CliRunner

    from core.models.places import CaregiverLink, Resident
    from core.people.caregivers import move_caregiver
    from xiaoyuan.cli import _load_command_modules, cli

    services, listener = running
    gateway = services.extras["watch:gateway"]
    _load_command_modules()
    result = CliRunner().invoke(cli, ["band", "cmd", WATCH, "measure-now"], env=services.extras["env"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert wait_until(lambda: "CR" in gateway.pending.get(WATCH, {}), 10)  # the watch is not connected yet

    watch = Watch(gateway.port)
    watch.send(encode_frame("3G", WATCH, None, "LK"))
    first = watch.contents(6)
    assert first[:2] == ["CR", "LK"]
    chain = ["+8613800001111", "+8613900000000", "+8613900000020"]
    assert first[2:5] == [f"SOS{n},{phone}" for n, phone in enumerate(chain, 1)]
    assert first[5].startswith("PHB,+8613800001111,738B5C0F660E,")
    for kind in ("CR", "SOS1", "SOS2", "SOS3", "PHB"):
        watch.send(encode_frame("3G", WATCH, None, kind))
    assert wait_until(lambda: held(services).get("sos") == chain and "phb" in held(services), 10)
    assert wait_until(lambda: gateway.pending.get(WATCH) == {}, 10)
    assert gateway.counters.commands["sent"] == 5  # each once: nothing resent while the acknowledgements were stored

    with transaction(services.session_factory) as s:  # the 院长 moves the doctor before the 院长 in the chain
        resident = s.scalar(sa.select(Resident).where(Resident.name == "王奶奶"))
        doctor = s.scalar(sa.select(CaregiverLink.id).where(CaregiverLink.resident_id == resident.id,
                                                            CaregiverLink.position == 3))
        move_caregiver(s, now=services.clock.now(), actor=OPERATOR, resident_id=resident.id, link_id=doctor,
                       direction="up")
    update = watch.contents(3)
    assert update[:2] == ["SOS2,+8613900000020", "SOS3,+8613900000000"] and update[2].startswith("PHB,")
    assert held(services)["sos"] == chain  # not held until the watch says so
    for kind in ("SOS2", "SOS3", "PHB"):
        watch.send(encode_frame("3G", WATCH, None, kind))
    assert wait_until(lambda: held(services).get("sos") == [chain[0], chain[2], chain[1]], 10)
    watch.close()


def held(services) -> dict:
    with services.session_factory() as s:
        return dict(s.scalar(sa.select(Band.device_settings).where(Band.device_id == WATCH)) or {})
