"""Operations commands: reports (日通报 / 周小结 / 月总结), resident export / erase, the job table."""

from __future__ import annotations

import datetime as dt

import click
import sqlalchemy as sa

from core.clock import to_local
from core.db import transaction
from core.errors import ServiceError
from core.i18n import N_, bilingual
from core.models.places import Town
from xiaoyuan.cli import cli, echo_json, fail, say, with_services


@cli.group("report")
def report_group() -> None:
    """Daily, weekly and monthly reports per town or village."""


KIND_HELP = {"daily": "The daily report (日通报).", "weekly": "The weekly report (周小结, ISO week).",
             "monthly": "The monthly report (月总结)."}


def _report_command(kind: str) -> None:
    @report_group.command(kind, help=KIND_HELP[kind])
    @click.option("--date", "day", default=None, help="A local date in the period (default: yesterday).")
    @click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True)
    @click.option("--village", "village_id", type=int, default=None, help="Village id (default: the town).")
    @click.option("--town", "town_id", type=int, default=None, help="Town id (default: the only town).")
    @with_services
    def command(services, day: str | None, fmt: str, village_id: int | None, town_id: int | None) -> None:
        from core.requests.reports import RENDERERS, build_report

        try:
            when = dt.date.fromisoformat(day) if day else to_local(services.clock.now()).date() - dt.timedelta(days=1)
        except ValueError as exc:
            raise click.BadParameter(bilingual(N_("日期格式应为 YYYY-MM-DD")), param_hint="--date") from exc
        with services.session_factory() as session:
            if village_id is None and town_id is None:
                towns = list(session.scalars(sa.select(Town.id).order_by(Town.id)))
                if len(towns) != 1:
                    fail(N_("请用 --town 或 --village 指定范围"))
                town_id = towns[0]
            try:
                report = build_report(session, kind=kind, day=when, village_id=village_id, town_id=town_id,
                                      now=services.clock.now())
            except ServiceError as exc:
                fail(exc)
        click.echo(RENDERERS[fmt](report).rstrip("\n"))


for _kind in ("daily", "weekly", "monthly"):
    _report_command(_kind)


@cli.group("resident")
def resident_group() -> None:
    """Residents: export or erase everything held about a person."""


@resident_group.command("export")
@click.argument("resident_id", type=int)
@with_services
def resident_export(services, resident_id: int) -> None:
    """Print everything held about a resident as JSON (audited)."""
    from core.privacy.records import export_resident

    try:
        with transaction(services.session_factory) as session:
            data = export_resident(session, now=services.clock.now(), actor=None, resident_id=resident_id)
    except ServiceError as exc:
        fail(exc)
    echo_json(data)


@resident_group.command("erase")
@click.argument("resident_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_services
def resident_erase(services, resident_id: int, yes: bool) -> None:
    """Erase a resident's personal data; counts in reports stay (audited)."""
    from core.privacy.records import erase_resident

    if not yes:
        click.confirm(bilingual(N_("永久删除居民 %(id)s 的个人信息？"), id=resident_id), abort=True)
    try:
        with transaction(services.session_factory) as session:
            summary = erase_resident(session, now=services.clock.now(), actor=None, resident_id=resident_id,
                                     data_dir=services.settings.data_dir)
    except ServiceError as exc:
        fail(exc)
    say(N_("已删除居民 %(id)s 的个人信息"), id=resident_id)
    echo_json(summary)


@cli.command("jobs")
@click.option("--markdown", is_flag=True, help="A markdown table (for the README).")
def jobs_command(markdown: bool) -> None:
    """List every scheduled job with its default timing."""
    from xiaoyuan.jobs import all_jobs

    rows = []
    for job in all_jobs():
        if job.every_s:
            timing = f"every {job.every_s / 60:g} min" if job.every_s >= 60 else f"every {job.every_s:g} s"
        else:
            timing = "cron " + " ".join(f"{k}={v}" for k, v in job.cron.items()) + " (Asia/Shanghai)"
        rows.append((job.name, timing, job.doc))
    if markdown:
        click.echo("| Job | Default timing | What it does |\n|---|---|---|")
        for name, timing, doc in rows:
            click.echo(f"| `{name}` | {timing} | {doc} |")
    else:
        for name, timing, doc in rows:
            click.echo(f"{name}\t{timing}\t{doc}")
