"""Process commands: run (everything), web, worker, listener."""

from __future__ import annotations

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
    """Everything in one process: web, MQTT listener (+ embedded broker), scheduler and outbox dispatcher."""
    _serve(ctx, web=True, listener=True, worker=True)


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
