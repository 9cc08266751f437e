"""Reminder commands: schedule a reminder for a 小院 or a resident, and list them."""

from __future__ import annotations

import datetime as dt

import click
import sqlalchemy as sa

from core.clock import LOCAL_TZ, as_utc, to_local
from core.db import transaction
from core.errors import ServiceError
from core.i18n import N_, bilingual
from core.models.ops import REMINDER_KINDS, Reminder
from core.people.access import OPERATOR
from xiaoyuan.cli import cli, echo_json, fail, say, with_services


@cli.group("reminder")
def reminder_group() -> None:
    """Reminders (会议 / 用药 / 复诊): shown on the TV home on the day, called to households without a TV."""


def parse_local(value: str) -> dt.datetime:
    """A local (Asia/Shanghai) "YYYY-MM-DD HH:MM" as an aware UTC datetime."""
    try:
        local = dt.datetime.strptime(value.strip(), "%Y-%m-%d %H:%M")
    except ValueError as exc:
        raise click.BadParameter(bilingual(N_("时间格式应为 YYYY-MM-DD HH:MM")), param_hint="--at") from exc
    return as_utc(local.replace(tzinfo=LOCAL_TZ))


def reminder_row(reminder: Reminder) -> dict:
    """A reminder as plain JSON-able data (times in local time with their offset)."""
    return {
        "id": reminder.id, "kind": reminder.kind, "text": reminder.text, "at": to_local(reminder.at).isoformat(),
        "courtyard_id": reminder.courtyard_id, "resident_id": reminder.resident_id,
        "village_id": reminder.village_id, "town_id": reminder.town_id, "always_call": reminder.always_call,
        "call_at": to_local(reminder.call_at).isoformat() if reminder.call_at else None,
        "calls_placed_at": to_local(reminder.calls_placed_at).isoformat() if reminder.calls_placed_at else None,
        "cancelled": reminder.cancelled_at is not None,
    }


@reminder_group.command("add")
@click.option("--courtyard", "courtyard_id", type=int, default=None, help="Courtyard (小院) id: everyone there.")
@click.option("--resident", "resident_id", type=int, default=None, help="Resident id: one person.")
@click.option("--kind", type=click.Choice(REMINDER_KINDS), required=True)
@click.option("--at", "at_text", required=True, help='Local time (Asia/Shanghai), "YYYY-MM-DD HH:MM".')
@click.option("--text", required=True, help="What the reminder says (Chinese).")
@click.option("--call", is_flag=True, help="Also call households that have a paired TV.")
@click.option("--json", "as_json", is_flag=True, help="Print the new reminder as JSON.")
@with_services
def reminder_add(services, courtyard_id: int | None, resident_id: int | None, kind: str, at_text: str,
                 text: str, call: bool, as_json: bool) -> None:
    """Schedule a reminder for a 小院 (--courtyard) or a resident (--resident)."""
    from core.requests.reminders import create_reminder

    if (courtyard_id is None) == (resident_id is None):
        raise click.UsageError(bilingual(N_("请给出 --courtyard 或 --resident（二选一）")))
    at = parse_local(at_text)
    now = services.clock.now()
    if at <= now:
        raise click.BadParameter(bilingual(N_("提醒时间已经过去了")), param_hint="--at")
    call_hour = services.settings.ops.reminder_call_hour
    try:
        with transaction(services.session_factory) as session:
            reminder = create_reminder(session, now=now, actor=OPERATOR, kind=kind, text=text, at=at,
                                       courtyard_id=courtyard_id, resident_id=resident_id, always_call=call,
                                       call_hour=call_hour)
            row = reminder_row(reminder)
    except ServiceError as exc:
        fail(exc)
    if as_json:
        echo_json(row)
    else:
        say(N_("已安排提醒 #%(id)s：%(at)s"), id=row["id"], at=row["at"])


@reminder_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include past and cancelled reminders.")
@click.option("--json", "as_json", is_flag=True, help="JSON objects for scripts.")
@with_services
def reminder_list(services, show_all: bool, as_json: bool) -> None:
    """Today's and upcoming reminders (all of them with --all), soonest first."""
    now = services.clock.now()
    query = sa.select(Reminder).order_by(Reminder.at, Reminder.id)
    if not show_all:
        start = as_utc(to_local(now).replace(hour=0, minute=0, second=0, microsecond=0))
        query = query.where(Reminder.cancelled_at.is_(None), Reminder.at >= start)
    with services.session_factory() as session:
        rows = [reminder_row(r) for r in session.scalars(query)]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        target = f"courtyard {row['courtyard_id']}" if row["courtyard_id"] else f"resident {row['resident_id']}"
        click.echo(f"{row['id']}\t{row['at'][:16].replace('T', ' ')}\t{row['kind']}\t{target}\t{row['text']}")
