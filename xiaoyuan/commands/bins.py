"""Bin commands: `xiaoyuan bin add` registers a rubbish bin with a QR token, `bin list` shows them (爱环境)."""

from __future__ import annotations

import click

from core.community import bins as bin_service
from core.db import transaction
from core.errors import ServiceError
from core.people.access import OPERATOR, Operator
from xiaoyuan.cli import cli, echo_json, fail, with_services


@cli.group("bin")
def bin_group() -> None:
    """Rubbish bins with QR labels (爱环境)."""


@bin_group.command("add")
@click.option("--courtyard", "courtyard_id", type=int, required=True, help="The 小院's id.")
@click.option("--name", required=True, help="What the label says, e.g. 村口一号桶.")
@click.option("--location", default="", help="Where it stands (the cleaner's route is sorted by it).")
@click.option("--lat", type=float, default=None)
@click.option("--lon", type=float, default=None)
@click.option("--cleaner", "cleaner_id", type=int, default=None, help="The staff user id who empties it.")
@click.option("--by", "by", default="cli", help="Who is adding it (recorded in the audit trail).")
@with_services
def bin_add(services, courtyard_id: int, name: str, location: str, lat: float | None, lon: float | None,
            cleaner_id: int | None, by: str) -> None:
    """Register a bin; prints its id and its public token (the label's QR opens /q/TOKEN)."""
    try:
        with transaction(services.session_factory) as s:
            bin_ = bin_service.add_bin(s, now=services.clock.now(), actor=Operator(username=by),
                                       courtyard_id=courtyard_id, name=name, location=location, lat=lat, lon=lon,
                                       cleaner_id=cleaner_id, via="cli")
            bin_id, token = bin_.id, bin_.token
    except ServiceError as exc:
        fail(exc)
    click.echo(f"{bin_id}\t{token}\t{services.settings.public_base_url}/q/{token}")


@bin_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_services
def bin_list(services, as_json: bool) -> None:
    """List bins in route order, with their 小院, cleaner and open report count."""
    with services.session_factory() as s:
        rows = [
            {"id": b.id, "name": b.name, "token": b.token, "courtyard_id": b.courtyard_id,
             "courtyard": b.courtyard.name, "village_id": b.courtyard.village_id,
             "village": b.courtyard.village.name, "location": b.location, "lat": b.lat, "lon": b.lon,
             "cleaner_id": b.cleaner_id, "cleaner": b.cleaner.display_name if b.cleaner else None,
             "active": b.active, "open_request_id": b.open_request_id,
             "open_reports": bin_service.open_report_count(s, b)}
            for b in s.scalars(bin_service.scoped_bins(OPERATOR))
        ]
    if as_json:
        echo_json(rows)
    else:
        for row in rows:
            click.echo(f"{row['id']}\t{row['courtyard']}\t{row['name']}\t{row['location']}\t{row['open_reports']}")
