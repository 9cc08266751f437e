"""Core commands: db, check, user (create, passwd, reset-password), request, household, village (list, duty
phone) and outbox lists, demo."""

from __future__ import annotations

import sys

import click
import sqlalchemy as sa

from core.db import transaction
from core.errors import ServiceError
from core.i18n import N_
from core.models.outbox import OutboxMessage
from core.models.places import Courtyard, Household, Resident
from core.models.requests import Request
from core.notify.visibility import outbox_query
from core.people.access import OPERATOR
from core.requests.visibility import request_query
from xiaoyuan.cli import CliContext, cli, echo_json, fail, pass_ctx, say, with_services


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(ctx: CliContext) -> None:
    """Create or migrate the database schema to the newest revision."""
    from core.migrate import upgrade

    upgrade(ctx.settings.database_url)
    say(N_("数据库已是最新"))


@cli.command()
@pass_ctx
def check(ctx: CliContext) -> None:
    """Validate configuration; print each problem in plain words; exit 1 on errors."""
    from xiaoyuan.checks import run_checks

    problems = run_checks(ctx.settings)
    errors = [p for p in problems if p.level == "error"]
    for problem in problems:
        click.echo(f"[{problem.level.upper()}] {problem.message}")
    if not problems:
        say(N_("配置检查通过"))
    sys.exit(1 if errors else 0)


@cli.group()
def user() -> None:
    """Staff users."""


@user.command("create")
@click.option("--username", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--role", required=True, type=click.Choice(
    ["admin", "town", "village", "courtyard_head", "grid_worker", "caregiver"]))
@click.option("--name", "display_name", default="")
@click.option("--phone", default=None)
@click.option("--town-id", type=int, default=None)
@click.option("--village-id", type=int, default=None)
@click.option("--courtyard-id", type=int, default=None)
@with_services
def user_create(services, username, password, role, display_name, phone, town_id, village_id, courtyard_id) -> None:
    """Create a staff user (prints the id); a 院长 becomes the head of their 小院. Audited."""
    from core.people.users import create_account

    try:
        with transaction(services.session_factory) as s:
            created = create_account(
                s, now=services.clock.now(), creator=OPERATOR, username=username, password=password, role=role,
                display_name=display_name, phone=phone, town_id=town_id, village_id=village_id,
                courtyard_id=courtyard_id, replace_head=True,
            )
    except ServiceError as exc:
        fail(exc)
    click.echo(created.id)


@user.command("passwd")
@click.argument("username")
@click.option("--current", prompt=True, hide_input=True, help="The current password.")
@click.option("--password", prompt="New password", hide_input=True, confirmation_prompt=True)
@with_services
def user_passwd(services, username: str, current: str, password: str) -> None:
    """Change USERNAME's password, given the current one; every console session of theirs ends."""
    from core.models.staff import User
    from core.people.users import change_password

    try:
        with transaction(services.session_factory) as s:
            user_id = s.scalar(sa.select(User.id).where(User.username == username))
            change_password(s, now=services.clock.now(), user_id=user_id or 0, current=current, new=password)
    except ServiceError as exc:
        fail(exc)
    say(N_("密码已修改，%(username)s 的所有登录都已结束"), username=username)


@user.command("reset-password")
@click.argument("username")
@click.option("--password", default=None, help="The new password (default: ask, or generate with --generate).")
@click.option("--generate", is_flag=True, help="Generate a random password and print it once.")
@click.option("--by", "by", default="cli", help="Who is resetting it (recorded in the audit trail).")
@with_services
def user_reset_password(services, username: str, password: str | None, generate: bool, by: str) -> None:
    """Set USERNAME's password without the old one (an admin's rescue); every session of theirs ends."""
    import secrets

    from core.people.access import Operator
    from core.people.users import reset_password

    if generate:
        password = secrets.token_urlsafe(12)
    elif password is None:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        with transaction(services.session_factory) as s:
            reset_password(s, now=services.clock.now(), actor=Operator(username=by), username=username,
                           new=password)
    except ServiceError as exc:
        fail(exc)
    say(N_("密码已重设，%(username)s 的所有登录都已结束"), username=username)
    if generate:
        click.echo(password)


@cli.group("request")
def request_group() -> None:
    """Requests (工单)."""


@request_group.command("submit")
@click.option("--resident", "resident_id", type=int, required=True)
@click.option("--type", "request_type", required=True)
@click.option("--text", required=True)
@click.option("--channel", default="console")
@with_services
def request_submit(services, resident_id: int, request_type: str, text: str, channel: str) -> None:
    """Submit a request for a resident (prints the id)."""
    from core.requests.workorders import submit_request

    try:
        with transaction(services.session_factory) as s:
            req = submit_request(
                s, now=services.clock.now(), due_hours=services.settings.requests.due_hours,
                resident_id=resident_id, type=request_type, channel=channel, text=text, actor=OPERATOR, via="cli",
            )
    except ServiceError as exc:
        fail(exc)
    click.echo(req.id)


@request_group.command("list")
@click.option("--status", default=None)
@click.option("--json", "as_json", is_flag=True)
@with_services
def request_list(services, status: str | None, as_json: bool) -> None:
    """List requests."""
    with services.session_factory() as s:
        query = request_query(OPERATOR, now=services.clock.now(), status=status).order_by(Request.id)
        rows = [
            {
                "id": r.id, "type": r.type, "status": r.status, "channel": r.channel, "text": r.text,
                "resident_id": r.resident_id, "household_id": r.household_id, "courtyard_id": r.courtyard_id,
                "village_id": r.village_id, "assignee_id": r.assignee_id, "created_at": r.created_at.isoformat(),
                "due_at": r.due_at.isoformat() if r.due_at else None, "supervised": r.supervised,
            }
            for r in s.scalars(query)
        ]
    if as_json:
        echo_json(rows)
    else:
        for row in rows:
            click.echo(f"#{row['id']}\t{row['status']}\t{row['type']}\t{row['text'][:40]}")


@cli.group("household")
def household_group() -> None:
    """Households."""


@household_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_services
def household_list(services, as_json: bool) -> None:
    """List households with their 小院 and village."""
    with services.session_factory() as s:
        rows = [
            {"id": h.id, "name": h.name, "number": h.number, "courtyard_id": h.courtyard_id, "courtyard": c.name,
             "village_id": c.village_id, "residents": n}
            for h, c, n in s.execute(
                sa.select(Household, Courtyard, sa.func.count(Resident.id))
                .join(Courtyard, Household.courtyard_id == Courtyard.id)
                .outerjoin(Resident, Resident.household_id == Household.id)
                .group_by(Household.id, Courtyard.id)
                .order_by(Household.id)
            )
        ]
    if as_json:
        echo_json(rows)
    else:
        for row in rows:
            click.echo(f"{row['id']}\t{row['courtyard']}\t{row['name']}")


@cli.group("village")
def village_group() -> None:
    """Villages."""


@village_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_services
def village_list(services, as_json: bool) -> None:
    """List villages with their town and duty phone (值班电话)."""
    from core.people.villages import scoped_villages

    with services.session_factory() as s:
        rows = [{"id": v.id, "name": v.name, "town_id": v.town_id, "duty_phone": v.duty_phone}
                for v in s.scalars(scoped_villages(OPERATOR))]
    if as_json:
        echo_json(rows)
    else:
        for row in rows:
            click.echo(f"{row['id']}\t{row['name']}\t{row['duty_phone'] or '-'}")


@village_group.command("set-duty-phone")
@click.argument("village_id", type=int)
@click.argument("phone", default="")
@with_services
def village_set_duty_phone(services, village_id: int, phone: str) -> None:
    """Set a village's duty phone (an empty PHONE clears it). Audited."""
    from core.people.villages import set_village_duty_phone

    try:
        with transaction(services.session_factory) as s:
            village = set_village_duty_phone(s, now=services.clock.now(), actor=OPERATOR, village_id=village_id,
                                             phone=phone)
            number = village.duty_phone
    except ServiceError as exc:
        fail(exc)
    click.echo(number or "-")


@cli.group("outbox")
def outbox_group() -> None:
    """The notification outbox."""


@outbox_group.command("list")
@click.option("--status", default=None)
@click.option("--limit", default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@with_services
def outbox_list(services, status: str | None, limit: int, as_json: bool) -> None:
    """List outbox messages, newest first (dry-run rows are marked not_sent)."""
    with services.session_factory() as s:
        query = outbox_query(OPERATOR, status=status).order_by(OutboxMessage.id.desc()).limit(limit)
        rows = [
            {"id": m.id, "channel": m.channel, "status": m.status, "template": m.template,
             "recipient": m.recipient_name, "recipient_user_id": m.recipient_user_id,
             "subject_type": m.subject_type, "subject_id": m.subject_id, "village_id": m.village_id,
             "attempts": m.attempts, "text": m.text, "created_at": m.created_at.isoformat(),
             "idempotency_key": m.idempotency_key, "last_error": m.last_error}
            for m in s.scalars(query)
        ]
    if as_json:
        echo_json(rows)
    else:
        for row in rows:
            label = "未发送 NOT SENT" if row["status"] == "not_sent" else row["status"]
            click.echo(f"#{row['id']}\t{row['channel']}\t{label}\t{row['recipient']}\t{row['text'][:50]}")


@cli.command()
@click.option("--force", is_flag=True, help="Seed even if the database already has households.")
@with_services
def demo(services, force: bool) -> None:
    """Seed a believable demo village (fictional names) and print the demo logins."""
    from core.demo import DEMO_PASSWORD, seed_demo

    with services.session_factory() as s:
        has_data = s.scalar(sa.select(sa.func.count()).select_from(Household)) or 0
    if has_data and not force:
        say(N_("数据库里已有数据，跳过演示数据"))
        return
    summary = seed_demo(services)
    say(N_("演示数据已生成：%(summary)s"), summary=summary)
    say(N_("演示账号密码：%(password)s"), password=DEMO_PASSWORD)
