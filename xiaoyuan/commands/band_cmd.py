"""`xiaoyuan band cmd DEVICE_ID measure-now|set-interval --seconds N`: the MQTT `cmd` downlink to one band."""

from __future__ import annotations

import threading

import click

from core.db import transaction
from core.errors import ServiceError
from core.i18n import N_, bilingual
from xiaoyuan.cli import fail, say, with_services
from xiaoyuan.commands.devices import band

ACTIONS = {"measure-now": "measure_now", "set-interval": "set_interval"}
TIMEOUT_S = 10.0


def publish_once(conn, topic: str, payload: bytes, *, qos: int, timeout: float = TIMEOUT_S) -> None:
    """Connect a short-lived paho client, publish one message (not retained), wait for the PUBACK, disconnect.

    Raises OSError when the broker cannot be reached, refuses us or does not acknowledge in time."""
    import paho.mqtt.client as mqtt

    from devices.listener import unique_client_id

    proto = mqtt.MQTTv5 if conn.protocol == 5 else mqtt.MQTTv311
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=unique_client_id("xiaoyuan-cmd"),
                         protocol=proto)
    if conn.username:
        client.username_pw_set(conn.username, conn.password)
    if conn.tls:
        client.tls_set()
    answered, refused = threading.Event(), []

    def on_connect(client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            refused.append(str(reason_code))
        answered.set()

    client.on_connect = on_connect
    client.connect(conn.host, conn.port, keepalive=15)
    client.loop_start()
    try:
        if not answered.wait(timeout):
            raise OSError("no CONNACK")
        if refused:
            raise OSError(f"connection refused: {refused[0]}")
        info = client.publish(topic, payload, qos=qos, retain=False)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise OSError("the broker did not acknowledge the command")
    finally:
        client.disconnect()
        client.loop_stop()


@band.command("cmd")
@click.argument("device_id")
@click.argument("action", type=click.Choice(sorted(ACTIONS)))
@click.option("--seconds", type=int, default=None, help="new reporting interval for set-interval (30–3600 s)")
@with_services
def band_cmd(services, device_id, action, seconds) -> None:
    """Send a command to a band over MQTT (QoS 1); set-interval also records the interval for silent-band checks."""
    from core.bands.registry import check_command_interval, get_band, set_band_interval
    from devices.commands import QOS, build_command, new_command_id
    from devices.listener import resolve_tool_connection

    cmd = ACTIONS[action]
    if cmd == "set_interval" and seconds is None:
        raise click.UsageError(bilingual(N_("set-interval 需要 --seconds")))
    if cmd == "measure_now" and seconds is not None:
        raise click.UsageError(bilingual(N_("measure-now 不带 --seconds")))
    settings = services.settings
    try:
        if seconds is not None:
            check_command_interval(seconds)
        with services.session_factory() as s:
            target = get_band(s, device_id)
            site, device = target.site, target.device_id
        command = build_command(root=settings.mqtt.topic_root, site=site, device_id=device, cmd=cmd,
                                now=services.clock.now(), command_id=new_command_id(), interval_s=seconds)
    except ServiceError as exc:
        fail(exc)
    conn = resolve_tool_connection(settings)
    try:
        # Publish first: the database records the new interval only once the broker has the command.
        publish_once(conn, command.topic, command.encode(), qos=QOS)
    except OSError as exc:
        fail(N_("无法把指令发给 MQTT 服务器 %(host)s:%(port)s，手环设置未改：%(error)s"), host=conn.host,
             port=conn.port, error=exc)
    if seconds is not None:
        try:
            with transaction(services.session_factory) as s:
                set_band_interval(s, device, seconds)
        except ServiceError as exc:
            fail(exc)
        say(N_("已发送：%(device)s 每 %(seconds)s 秒上报一次（编号 %(id)s）"), device=device, seconds=seconds,
            id=command.payload["id"])
    else:
        say(N_("已发送：%(device)s 立即测量（编号 %(id)s）"), device=device, id=command.payload["id"])
