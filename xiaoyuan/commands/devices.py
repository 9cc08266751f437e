"""Wristband commands: band add|assign|list|simulate, broker export, alert list|ack|resolve."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import sqlalchemy as sa

from core.bands.visibility import alert_query
from core.db import transaction
from core.errors import ServiceError
from core.i18n import N_
from core.models.alerts import Alert
from core.people.access import OPERATOR, Operator
from core.private_files import write_private
from xiaoyuan.cli import CliContext, cli, echo_json, fail, pass_ctx, say, with_services


def _refresh_embedded_files(settings, band: tuple[str, str] | None = None) -> None:
    """Keep the broker's password file and ACL in step with the registry: the private broker's (a running
    private Mosquitto is reloaded; amqtt re-reads the files by itself), or a deployed Mosquitto's when
    XIAOYUAN_BROKER_EXPORT_DIR says where it reads them (files updated, broker reloaded, login verified)."""
    from devices.broker import BrokerError, export_broker_files
    from devices.mosquitto import reload_private_mosquitto, update_deployed_broker

    try:
        if settings.broker.export_dir:  # a deployed broker, whether or not this shell names its URL
            directory, pid = update_deployed_broker(settings, band=band)
            say(N_("已更新 %(dir)s 并重新加载 Mosquitto（进程 %(pid)s），登录验证通过"), dir=directory, pid=pid)
        elif not settings.mqtt.url:
            export_broker_files(settings)
            reload_private_mosquitto(settings)
        else:
            say(N_("部署的 Mosquitto 还不认识这个手环：运行 xiaoyuan broker export --out 目录 并重新加载，"
                   "或设置 XIAOYUAN_BROKER_EXPORT_DIR 让这一步自动完成"))
    except BrokerError as exc:
        fail(exc)


@cli.group()
def band() -> None:
    """Wristbands (手环)."""


@band.command("add")
@click.option("--device-id", required=True, help="IMEI or vendor id (the MQTT username is band-{id})")
@click.option("--site", default="default", show_default=True)
@click.option("--model", default="")
@click.option("--interval", "interval_s", type=int, default=60, show_default=True, help="reporting interval (s)")
@click.option("--resident", "resident_id", type=int, default=None)
@click.option("--protocol", type=click.Choice(["mqtt", "watch"]), default="mqtt", show_default=True,
              help="mqtt: the band's own MQTT client; watch: a 3G* TCP watch served by `xiaoyuan gateway`")
@click.option("--json", "as_json", is_flag=True)
@with_services
def band_add(services, device_id, site, model, interval_s, resident_id, protocol, as_json) -> None:
    """Register a band or watch; for an MQTT band prints its secret once (only a hash is stored)."""
    from core.bands.registry import band_row, band_username, register_band

    try:
        with transaction(services.session_factory) as s:
            created = register_band(s, now=services.clock.now(), device_id=device_id, site=site, model=model,
                                    interval_s=interval_s, resident_id=resident_id, actor=OPERATOR, protocol=protocol)
            row, secret, notice = band_row(created.band), created.secret, created.notice
    except ServiceError as exc:
        fail(exc)
    if protocol == "watch":
        if as_json:
            echo_json(row)
        else:
            say(N_("#%(id)s 手表 %(device)s 已登记：请把手表的服务器设为本机的 %(port)s 端口。"), id=row["id"],
                device=device_id, port=services.settings.watch.port)
            if notice:
                say(notice[0], **notice[1])
        return
    # The secret first: the band is registered now, so a broker that cannot be updated must not swallow it.
    if as_json:
        echo_json({**row, "mqtt_username": band_username(device_id), "mqtt_password": secret})
    else:
        say(N_("#%(id)s %(device)s  MQTT 用户名：%(username)s  密码：%(secret)s"), id=row["id"], device=device_id,
            username=band_username(device_id), secret=secret)
        say(N_("请把密码写入手环或网关；它不会再次显示。"))
    if notice:
        say(notice[0], **notice[1])
    _refresh_embedded_files(services.settings, band=(device_id, secret))


@band.command("assign")
@click.argument("band_ref")
@click.option("--resident", "resident_id", type=int, default=None)
@click.option("--unassign", is_flag=True)
@click.option("--threshold", "thresholds", multiple=True, help="override, e.g. hr_high=130 (repeatable)")
@click.option("--interval", "interval_s", type=int, default=None)
@with_services
def band_assign(services, band_ref, resident_id, unassign, thresholds, interval_s) -> None:
    """Give a band (id or device id) to a resident, with optional threshold overrides."""
    from core.bands.registry import assign_band

    if resident_id is None and not unassign:
        raise click.UsageError("--resident or --unassign")
    overrides = None
    if thresholds:
        overrides = {}
        for item in thresholds:
            key, _, value = item.partition("=")
            try:
                overrides[key.strip()] = float(value) if "." in value else int(value)
            except ValueError as exc:
                raise click.BadParameter(f"{item}: expected key=number") from exc
    try:
        with transaction(services.session_factory) as s:
            assigned = assign_band(s, now=services.clock.now(), band_ref=band_ref,
                                   resident_id=None if unassign else resident_id, thresholds=overrides,
                                   interval_s=interval_s, actor=OPERATOR)
            click.echo(f"#{assigned.id} {assigned.device_id} → {assigned.resident_id}")
    except ServiceError as exc:
        fail(exc)


@band.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_services
def band_list(services, as_json) -> None:
    """List bands (JSON objects with id, device_id, resident_id, site, …)."""
    from core.bands.registry import band_row, list_bands

    with services.session_factory() as s:
        rows = [band_row(b) for b in list_bands(s)]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        state = "在线" if row["online"] else "离线"
        click.echo(f"#{row['id']}\t{row['device_id']}\t{row['site']}\t居民 {row['resident_id']}\t{state}\t"
                   f"电量 {row['battery'] if row['battery'] is not None else '-'}")


@band.command("simulate")
@click.option("--count", type=int, default=5, show_default=True, help="number of simulated bands")
@click.option("--rate", type=float, default=5.0, show_default=True, help="messages per second (all bands)")
@click.option("--scenario", type=click.Choice(["normal", "sos", "fall", "tachycardia", "hypoxia", "removed",
                                               "offline"]), default="normal", show_default=True)
@click.option("--duration", type=float, default=30.0, show_default=True, help="seconds")
@click.option("--site", default="demo", show_default=True)
@with_services
def band_simulate(services, count, rate, scenario, duration, site) -> None:
    """Publish realistic telemetry/events from simulated bands SIM0001… and print what the broker accepted.

    Their secrets are kept in {data dir}/broker/simulator.secrets and reused, so a deployed broker keeps
    knowing them; a band is (re-)keyed only when it is new or its kept secret no longer matches, and the
    broker's files are then updated (and a deployed Mosquitto reloaded when XIAOYUAN_BROKER_EXPORT_DIR is set)."""
    from devices.listener import resolve_connection
    from devices.simulator import SimBand, simulate

    sims, changed = _simulated_bands(services, count, site)
    if changed:
        _refresh_embedded_files(services.settings)
    conn = resolve_connection(services.settings)
    try:
        result = simulate(conn.host, conn.port, [SimBand(*band) for band in sims],
                          root=services.settings.mqtt.topic_root, protocol=conn.protocol, scenario=scenario,
                          rate=rate, duration=duration)
    except OSError as exc:
        fail(N_("无法连接 MQTT 服务器 %(host)s:%(port)s：%(error)s"), host=conn.host, port=conn.port, error=exc)
    report = {**result, "scenario": scenario}
    click.echo(json.dumps(report))
    if report["refused"]:
        fail(N_("MQTT 服务器 %(host)s:%(port)s 拒绝了 %(refused)s 个（共 %(count)s 个）模拟手环：%(reason)s"),
             host=conn.host, port=conn.port, refused=report["refused"], count=count, reason=report["refused_reason"])


def _simulated_bands(services, count: int, site: str) -> tuple[list[tuple[str, str, str]], bool]:
    """SIM0001… as (device id, secret, site): registered when new, re-keyed only when the kept secret no
    longer opens them; whether the broker's files must change."""
    from core.bands.registry import add_band, get_band, rotate_secret, verify_secret
    from core.models.places import Resident

    path = services.settings.data_dir / "broker" / "simulator.secrets"
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError):
        kept = {}
    sims, changed = [], False
    with transaction(services.session_factory) as s:
        residents = list(s.scalars(sa.select(Resident.id).where(Resident.erased.is_(False)).order_by(Resident.id)))
        for i in range(count):
            device_id = f"SIM{i + 1:04d}"
            try:
                existing = get_band(s, device_id)
            except ServiceError:
                resident = residents[i] if i < len(residents) else None
                _, secret = add_band(s, now=services.clock.now(), device_id=device_id, site=site, model="simulator",
                                     resident_id=resident)
                sims.append((device_id, secret, site))
                changed = True
                continue
            secret = kept.get(device_id, "")
            if not secret or not verify_secret(secret, existing.mqtt_password_hash):
                secret = rotate_secret(s, existing.id)
                changed = True
            sims.append((device_id, secret, existing.site))
    kept.update({device_id: secret for device_id, secret, _ in sims})
    write_private(path, json.dumps(kept).encode())
    return sims, changed


@cli.group()
def broker() -> None:
    """MQTT broker files."""


@broker.command("export")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="directory for passwd and acl (default: XIAOYUAN_BROKER_EXPORT_DIR, else {data dir}/broker)")
@click.option("--owner", default=None, help="owner of the files (default: kept, else the current user)")
@click.option("--group", default=None,
              help="group of the files, the one Mosquitto runs as (default: kept, else mosquitto when run as root)")
@click.option("--mode", default=None, help="octal file mode (default: kept, else 0640 outside the data dir)")
@click.option("--host", default="127.0.0.1", show_default=True, help="the broker's address, for the printed URLs")
@click.option("--port", type=int, default=1883, show_default=True, help="the broker's port, for the printed URLs")
@pass_ctx
def broker_export(ctx: CliContext, out_dir: Path | None, owner, group, mode, host, port) -> None:
    """Write the Mosquitto password file and ACL atomically, readable by Mosquitto; print each listener's URL."""
    from urllib.parse import quote

    from devices.broker import (
        BrokerError,
        default_broker_group,
        export_broker_files,
        listener_usernames,
        resolve_ownership,
        service_password,
    )

    settings = ctx.settings
    out_dir = out_dir or (Path(settings.broker.export_dir) if settings.broker.export_dir else None)
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    try:
        passwd, acl = export_broker_files(settings, out_dir, ownership=resolve_ownership(owner, group, mode))
    except BrokerError as exc:
        fail(exc)
    for path in (passwd, acl):
        info = path.stat()
        click.echo(f"{path}  {_owner_name(info.st_uid)}:{_group_name(info.st_gid)} {info.st_mode & 0o777:04o}")
    if out_dir is not None and not root and default_broker_group():
        say(N_("Mosquitto 以 mosquitto 账号运行；请让它能读这两个文件："))
        click.echo(f"sudo chown root:mosquitto {passwd} {acl} && sudo chmod 0640 {passwd} {acl}")
    say(N_("在 mosquitto.conf 里设置 password_file 和 acl_file，然后重新加载 (kill -HUP)。"))
    where = "XIAOYUAN_BROKER_PASSWORD" if settings.broker.password else settings.data_dir / "broker" / "service.secret"
    say(N_("每个监听进程用自己的账号（密码相同，来自 %(path)s）："), path=where)
    secret = quote(service_password(settings), safe="")
    for user in listener_usernames(settings):
        click.echo(f"XIAOYUAN_MQTT_URL=mqtt://{user}:{secret}@{host}:{port}")


@broker.command("reload")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="the directory Mosquitto reads passwd and acl from (default: XIAOYUAN_BROKER_EXPORT_DIR)")
@pass_ctx
def broker_reload(ctx: CliContext, out_dir: Path | None) -> None:
    """Re-export the files into a deployed Mosquitto's directory, reload it (SIGHUP) and verify a login."""
    from devices.broker import BrokerError
    from devices.mosquitto import update_deployed_broker

    try:
        directory, pid = update_deployed_broker(ctx.settings, out_dir=out_dir)
    except BrokerError as exc:
        fail(exc)
    say(N_("已更新 %(dir)s 并重新加载 Mosquitto（进程 %(pid)s），登录验证通过"), dir=directory, pid=pid)


def _owner_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _alert_row(a: Alert) -> dict:
    return {
        "id": a.id, "type": a.type, "severity": a.severity, "status": a.status, "resident_id": a.resident_id,
        "device_id": a.device_id, "band_id": a.band_id, "household_id": a.household_id,
        "courtyard_id": a.courtyard_id, "village_id": a.village_id, "summary": a.summary,
        "raised_at": a.raised_at.isoformat(), "level": a.level, "round": a.round,
        "next_escalation_at": a.next_escalation_at.isoformat() if a.next_escalation_at else None,
        "acknowledged_by": a.acknowledged_by, "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
    }


@cli.group("alert")
def alert_group() -> None:
    """Wristband alerts."""


@alert_group.command("list")
@click.option("--status", default=None, help="open, notified, acknowledged, resolved, auto_cleared, or active")
@click.option("--json", "as_json", is_flag=True)
@with_services
def alert_list(services, status, as_json) -> None:
    """List alerts, newest first."""
    with services.session_factory() as s:
        rows = [_alert_row(a) for a in s.scalars(alert_query(OPERATOR, status=status).order_by(Alert.id.desc()))]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"#{row['id']}\t{row['severity']}\t{row['status']}\t{row['summary']}")


@alert_group.command("ack")
@click.argument("alert_id", type=int)
@click.option("--by", required=True)
@with_services
def alert_ack(services, alert_id, by) -> None:
    """Acknowledge an alert (stops the escalation); audited as done by `--by` through the CLI."""
    from core.bands.alerts import acknowledge_alert

    try:
        with transaction(services.session_factory) as s:
            acknowledge_alert(s, now=services.clock.now(), alert_id=alert_id, by=by, via="cli",
                              actor=Operator(username=by))
    except ServiceError as exc:
        fail(exc)
    say(N_("已确认"))


@alert_group.command("resolve")
@click.argument("alert_id", type=int)
@click.option("--by", required=True)
@click.option("--note", required=True)
@with_services
def alert_resolve(services, alert_id, by, note) -> None:
    """Resolve an alert with a note; audited as done by `--by` through the CLI."""
    from core.bands.alerts import resolve_alert

    try:
        with transaction(services.session_factory) as s:
            resolve_alert(s, now=services.clock.now(), alert_id=alert_id, note=note, by=by, via="cli",
                          actor=Operator(username=by))
    except ServiceError as exc:
        fail(exc)
    say(N_("已处理"))
