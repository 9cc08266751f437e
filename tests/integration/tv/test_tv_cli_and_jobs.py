"""`xiaoyuan tv …` commands and the TV jobs against a real database."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from click.testing import CliRunner

from core.clock import LOCAL_TZ
from core.community import tvboxes as tvb
from core.db import transaction
from core.models.audit import AuditEntry
from core.models.outbox import OutboxMessage
from core.models.tvbox import TvBox
from xiaoyuan.cli import _load_command_modules, cli
from xiaoyuan.jobs import all_jobs


def _env(db_url: str, tmp_path) -> dict[str, str]:
    return {"XIAOYUAN_DATABASE_URL": db_url, "XIAOYUAN_DATA_DIR": str(tmp_path / "var")}


def test_installer_pairs_and_unpairs_a_box_from_the_cli(db_url, session_factory, clock, world_ids, tmp_path):
    _load_command_modules()
    with transaction(session_factory) as session:
        box, token = tvb.register_box(session, now=clock.now())
        code = tvb.current_code(session, now=clock.now(), box=box).code
    runner = CliRunner()
    # the CLI runs on the wall clock: make the code valid "now"
    with transaction(session_factory) as session:
        session.execute(sa.text("UPDATE tv_pairing_code SET expires_at = :far"), {"far": dt.datetime(2999, 1, 1)})
    bad = runner.invoke(cli, ["tv", "pair", "12", "--household", str(world_ids.households[0])],
                        env=_env(db_url, tmp_path))
    assert bad.exit_code != 0 and "6 位数字" in bad.output
    result = runner.invoke(cli, ["tv", "pair", code, "--household", str(world_ids.households[0])],
                           env=_env(db_url, tmp_path))
    assert result.exit_code == 0, result.output
    with transaction(session_factory) as session:
        assert tvb.paired_household_id(tvb.box_for_token(session, token)) == world_ids.households[0]
        box_id = session.scalar(sa.select(TvBox.id))
    listed = runner.invoke(cli, ["tv", "list", "--json"], env=_env(db_url, tmp_path))
    assert f'"household_id": {world_ids.households[0]}' in listed.output
    assert runner.invoke(cli, ["tv", "unpair", str(box_id)], env=_env(db_url, tmp_path)).exit_code == 0
    with transaction(session_factory) as session:
        assert tvb.box_for_token(session, token) is None


def test_checkin_reminder_job_is_registered_and_runs(services, clock, world_ids):
    jobs = {job.name: job for job in all_jobs()}
    job = jobs["tv.checkin_reminders"]
    with transaction(services.session_factory) as session:
        box, _token = tvb.register_box(session, now=clock.now())
        code = tvb.current_code(session, now=clock.now(), box=box).code
        tvb.pair_box(session, now=clock.now(), code=code, household_id=world_ids.households[0])
    clock.set(dt.datetime(2026, 11, 26, 10, 30, tzinfo=LOCAL_TZ))
    assert job.func(services) == 1
    assert job.func(services) == 0
    with transaction(services.session_factory) as session:
        assert session.scalar(sa.select(sa.func.count(OutboxMessage.id)).where(
            OutboxMessage.template == "tv.checkin_missing")) == 1
    clock.advance(days=3)
    with transaction(services.session_factory) as session:
        tvb.register_box(session, now=clock.now() - dt.timedelta(days=3))
    assert jobs["tv.forget_stale_boxes"].func(services) == 1
    with transaction(services.session_factory) as session:
        (entry,) = session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "tv.forget_stale"))
        assert (entry.actor_label, entry.detail) == ("system", {"deleted": 1})
    assert jobs["tv.forget_stale_boxes"].func(services) == 0
