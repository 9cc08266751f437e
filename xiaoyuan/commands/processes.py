"""Process commands: run (everything), web, worker, listener, phone (the SIP endpoint)."""

from __future__ import annotations

import click

from xiaoyuan.cli import CliContext, cli, fail, pass_ctx


def _serve(ctx: CliContext, **parts: bool) -> None:
    from xiaoyuan.processes import PortInUse, serve

    services = ctx.services(tts=parts.get("web", True), asr=parts.get("web", True))
    try:
        serve(services, **parts)
    except PortInUse as exc:
        fail(exc)
    except Exception as exc:
        if type(exc).__name__ == "BrokerError":
            fail(exc)
        raise
    finally:
        ctx.close()


@cli.command()
@pass_ctx
def run(ctx: CliContext) -> None:
    """Everything for a village: web, MQTT listener (+ embedded broker), scheduler, outbox dispatcher, SIP endpoint."""
    _serve(ctx, web=True, listener=True, worker=True, phone=True)


@cli.command()
@pass_ctx
def web(ctx: CliContext) -> None:
    """Web only (waitress). For gunicorn: gunicorn 'xiaoyuan.wsgi:create_app()'."""
    _serve(ctx, web=True, listener=False, worker=False)


@cli.command()
@pass_ctx
def worker(ctx: CliContext) -> None:
    """Scheduler + outbox dispatcher; a database lease keeps exactly one active."""
    _serve(ctx, web=False, listener=False, worker=True)


@cli.command()
@pass_ctx
def listener(ctx: CliContext) -> None:
    """MQTT listener for wristbands (starts the embedded broker when no XIAOYUAN_MQTT_URL is set)."""
    _serve(ctx, web=False, listener=True, worker=False)


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
        run_phone_process(ctx.services(tts=True, asr=True))
    except RuntimeError as exc:
        fail(exc)
    finally:
        ctx.close()
