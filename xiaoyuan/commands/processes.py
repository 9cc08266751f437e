"""Process commands: run (everything), web, worker, listener, gateway (watches), phone (the SIP endpoint)."""

from __future__ import annotations

import click

from xiaoyuan.cli import CliContext, cli, echo_json, fail, pass_ctx, with_services


def _serve(ctx: CliContext, role: str) -> None:
    from devices.broker import BrokerError
    from xiaoyuan.processes import PortInUse, serve_role

    try:
        serve_role(role, ctx.role_services(role))
    except (PortInUse, BrokerError) as exc:
        fail(exc)
    finally:
        ctx.close()


@cli.command()
@pass_ctx
def run(ctx: CliContext) -> None:
    """Everything for a village: web, MQTT listener (+ private Mosquitto), scheduler, outbox dispatcher, SIP, and
    the watch gateway when `[watch] enabled`."""
    _serve(ctx, "run")


@cli.command()
@pass_ctx
def web(ctx: CliContext) -> None:
    """Web only (waitress). For gunicorn: gunicorn 'xiaoyuan.wsgi:create_app()'."""
    _serve(ctx, "web")


@cli.command()
@pass_ctx
def worker(ctx: CliContext) -> None:
    """Scheduler + outbox dispatcher; a database lease keeps exactly one active."""
    _serve(ctx, "worker")


@cli.command()
@pass_ctx
def listener(ctx: CliContext) -> None:
    """MQTT listener for wristbands (starts the private Mosquitto when no XIAOYUAN_MQTT_URL is set)."""
    _serve(ctx, "listener")


@cli.command()
@pass_ctx
def gateway(ctx: CliContext) -> None:
    """The TCP gateway for elder watches speaking the 3G* protocol (XIAOYUAN_WATCH_PORT) → MQTT."""
    _serve(ctx, "gateway")


@cli.command()
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="UDP port instead of XIAOYUAN_SIP_PORT (one process per 4 channels, each on its own port).")
@pass_ctx
def phone(ctx: CliContext, port: int | None) -> None:
    """The SIP endpoint (PJSUA2) for a gateway or trunk, with streaming speech recognition."""
    from xiaoyuan.processes import run_phone_process

    if port is not None:
        from core.settings import SettingsError, load_settings

        try:
            ctx._settings = load_settings(overrides={"sip": {"port": port}})
        except SettingsError as exc:
            fail(exc)
    try:
        run_phone_process(ctx.role_services("phone"))
    except RuntimeError as exc:
        fail(exc)
    finally:
        ctx.close()


@cli.command()
@with_services
def health(services) -> None:
    """What /healthz answers, from any machine with database access (JSON; exit 1 when failing)."""
    from core.health import check_health

    verdict = check_health(services.session_factory, services.clock.now())
    echo_json(verdict.body())
    if not verdict.ok:
        raise SystemExit(1)
