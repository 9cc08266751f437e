"""TV commands for installers and operators: pair / unbind boxes, list boxes, award points, check-in reminders."""

from __future__ import annotations

import click
import sqlalchemy as sa

from core.i18n import N_
from xiaoyuan.cli import cli, echo_json, fail, say, with_services


@cli.group("tv")
def tv_group() -> None:
    """TV set-top boxes, points and the daily check-in."""


@tv_group.command("pair")
@click.argument("code")
@click.option("--household", "household_id", type=int, required=True, help="Household id to bind the box to.")
@with_services
def tv_pair(services, code: str, household_id: int) -> None:
    """Bind the box showing CODE (6 digits on its screen) to a household."""
    from core.community.tvboxes import TvConfig, pair_by_code
    from core.errors import ServiceError

    try:
        box_id = pair_by_code(services.session_factory, now=services.clock.now(), code=code,
                              household_id=household_id, actor="cli", config=TvConfig.from_settings(services.settings))
    except ServiceError as exc:
        fail(exc)
    say(N_("已配对：机顶盒 %(box)s → 住户 %(household)s"), box=box_id, household=household_id)


@tv_group.command("unpair")
@click.argument("box_id", type=int)
@with_services
def tv_unpair(services, box_id: int) -> None:
    """Unbind a box: it shows the pairing screen again."""
    from core.community.tvboxes import revoke_box
    from core.db import transaction
    from core.errors import ServiceError

    try:
        with transaction(services.session_factory) as session:
            revoke_box(session, now=services.clock.now(), box_id=box_id, actor="cli")
    except ServiceError as exc:
        fail(exc)
    say(N_("已解除配对：机顶盒 %(box)s"), box=box_id)


@tv_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@with_services
def tv_list(services, as_json: bool) -> None:
    """Paired and pending boxes."""
    from core.models.tvbox import TvBox

    with services.session_factory() as session:
        boxes = list(session.scalars(sa.select(TvBox).where(TvBox.status != "revoked").order_by(TvBox.id)))
        rows = [{"id": b.id, "status": b.status, "household_id": b.household_id, "text_size": b.text_size,
                 "paired_at": b.paired_at, "last_seen_at": b.last_seen_at} for b in boxes]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['id']:>5}  {row['status']:<8} household={row['household_id']}  "
                   f"last seen {row['last_seen_at']}")


@tv_group.command("award")
@click.option("--household", "household_id", type=int, required=True)
@click.option("--points", "delta", type=int, required=True, help="Positive to award, negative to deduct.")
@click.option("--category", required=True)
@click.option("--reason", required=True)
@with_services
def tv_award(services, household_id: int, delta: int, category: str, reason: str) -> None:
    """Award or deduct points for one household (a ledger entry with source cli)."""
    from core.community.points import award_points, balance, point_categories
    from core.db import transaction
    from core.errors import ServiceError

    try:
        with transaction(services.session_factory) as session:
            award_points(session, now=services.clock.now(), household_id=household_id, delta=delta,
                         category=category, reason=reason, actor="cli", source="cli",
                         categories=point_categories(services.settings))
            total = balance(session, household_id)
    except ServiceError as exc:
        fail(exc)
    click.echo(f"household {household_id}: {delta:+d} → {total}")


@tv_group.command("remind-checkins")
@with_services
def tv_remind_checkins(services) -> None:
    """Run the check-in reminder now (it only acts after the configured deadline)."""
    from core.community.jobs import remind_missing_checkins_job

    click.echo(f"queued {remind_missing_checkins_job(services)} reminder(s)")
