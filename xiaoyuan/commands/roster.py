"""Roster commands: `xiaoyuan import roster FILE` loads a county's XLSX/CSV roster (core.people.roster)."""

from __future__ import annotations

import time
from pathlib import Path

import click
import sqlalchemy as sa

from core.db import transaction
from core.errors import ServiceError
from core.i18n import DEFAULT_LOCALE, bilingual
from core.people import roster
from core.people import texts as t
from core.people.access import Operator
from xiaoyuan.cli import cli, echo_json, fail, with_services


@cli.group("import")
def import_group() -> None:
    """Load data from files."""


def _both(problem: roster.Problem) -> str:
    chinese, english = problem.text(DEFAULT_LOCALE), problem.text("en")
    return chinese if chinese == english else f"{chinese} / {english}"


@import_group.command("roster")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check every row and count what would change; write nothing.")
@click.option("--skip-bad", is_flag=True, help="Write the good rows even when some rows have problems.")
@click.option("--as", "as_user", default=None, metavar="USERNAME",
              help="Import within this staff account's scope (admin, town or village); default: the operator.")
@click.option("--town", "town_name", default=None, help="The town new villages go under (operator/admin only).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@with_services
def import_roster(services, file: Path, dry_run: bool, skip_bad: bool, as_user: str | None, town_name: str | None,
                  as_json: bool) -> None:
    """Import FILE (.xlsx or .csv, header 村,小院,户号,姓名,… — see README "Roster import").

    Every row is checked first; with any bad row nothing is written (exit 1) unless --skip-bad.
    Re-importing the same file changes nothing; a changed phone updates the resident.
    """
    from core.models.staff import User

    started = time.perf_counter()
    try:
        with transaction(services.session_factory) as s:
            actor = Operator()
            if as_user:
                actor = s.scalar(sa.select(User).where(User.username == as_user, User.active.is_(True)))
                if actor is None:
                    raise click.ClickException(f"no active account {as_user!r}")
            result = roster.import_roster(s, now=services.clock.now(), actor=actor, data=file.read_bytes(),
                                          filename=file.name, dry_run=dry_run, skip_bad=skip_bad,
                                          town_name=town_name)
    except ServiceError as exc:
        fail(exc)
    seconds = round(time.perf_counter() - started, 3)
    if as_json:
        echo_json({"rows": result.rows, "bad_rows": result.bad_rows, "written": result.written,
                   "dry_run": result.dry_run, "created": dict(result.created), "updated": dict(result.updated),
                   "unchanged": result.unchanged, "seconds": seconds,
                   "problems": [{"row": p.row, "column": p.column, "message": p.text(DEFAULT_LOCALE),
                                 "message_en": p.text("en")} for p in result.problems]})
    else:
        for problem in result.problems:
            click.echo(_both(problem))
        for message, params in result.summary_lines():
            click.echo(bilingual(message, **params))
        if result.refused:
            click.echo(bilingual(t.SKIP_BAD_HINT))
    if result.refused:
        raise SystemExit(1)
