"""The `xiaoyuan` command line: processes, database, demo, check, and each area's commands.

Every message for people comes from the Babel catalogue and is printed Chinese first, then English,
on one line ("中文 / English", see README "Languages"); tables and JSON for scripts are not translated.
"""

from __future__ import annotations

import functools
import importlib
import json
import pkgutil
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from core.container import Services
from core.errors import LocalisedError
from core.i18n import bilingual
from core.logsafe import configure_logging
from core.private_files import restrict_umask
from core.settings import Settings, SettingsError, load_settings


class CliContext:
    """Lazily built settings and services shared by the commands of one invocation."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._services: Services | None = None

    @property
    def settings(self) -> Settings:
        """The loaded settings (a plain error message instead of a traceback when invalid)."""
        if self._settings is None:
            try:
                self._settings = load_settings()
            except SettingsError as exc:
                raise click.ClickException(str(exc)) from exc
        return self._settings

    def services(self) -> Services:
        """The wired services of a one-shot command (no speech: it neither speaks nor listens)."""
        if self._services is None:
            from xiaoyuan.bootstrap import build_services

            self._services = build_services(self.settings, speech=False)
        return self._services

    def role_services(self, role: str) -> Services:
        """The services of a long-running process role (`xiaoyuan.bootstrap.build_role`)."""
        if self._services is None:
            from xiaoyuan.bootstrap import build_role

            self._services = build_role(role, self.settings)
        return self._services

    def close(self) -> None:
        """Release what services() built."""
        if self._services is not None:
            from xiaoyuan.bootstrap import close_services

            close_services(self._services)
            self._services = None


pass_ctx = click.make_pass_decorator(CliContext, ensure=True)


def with_services(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command the process Services as its first argument and close them afterwards."""

    @functools.wraps(func)
    @pass_ctx
    def wrapper(ctx: CliContext, *args: Any, **kwargs: Any) -> Any:
        try:
            return func(ctx.services(), *args, **kwargs)
        finally:
            ctx.close()

    return wrapper


def say(message: str, **params: object) -> None:
    """Print a catalogued message (a Chinese msgid): Chinese, then its English, on one line."""
    click.echo(bilingual(message, **params))


def error_text(exc: BaseException) -> str:
    """An error for the terminal: a catalogued one in Chinese then English, anything else as it is."""
    if isinstance(exc, LocalisedError) and exc.message:
        return bilingual(exc.message, **exc.params)
    return str(exc)


def fail(problem: BaseException | str, **params: object) -> NoReturn:
    """Stop the command with exit code 1: an error, or a catalogued message with its parameters."""
    raise click.ClickException(error_text(problem) if isinstance(problem, BaseException)
                               else bilingual(problem, **params))


def echo_json(rows: Any) -> None:
    """Print JSON (Chinese unescaped) for scripts."""
    click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))


@click.group()
@click.option("--log-level", default=None, help="DEBUG, INFO, WARNING …")
@click.pass_context
def cli(click_ctx: click.Context, log_level: str | None) -> None:
    """小院+ — TV, phone line and wristbands for elderly villagers."""
    click_ctx.ensure_object(CliContext)
    configure_logging(log_level or "INFO")


def _load_command_modules() -> None:
    from xiaoyuan import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        importlib.import_module(f"{commands.__name__}.{info.name}")


def main() -> None:
    """Console-script entry point (files it creates are owner-only: they hold personal data)."""
    restrict_umask()
    _load_command_modules()
    sys.exit(cli.main(standalone_mode=True))
