"""`xiaoyuan alert ack|resolve`: the operator's keypresses are audited like a console click, marked via="cli"."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner

from core.models.audit import AuditEntry
from tests.integration.devices.helpers import alerts, seed
from tests.integration.devices.test_console_alerts import sos
from xiaoyuan.cli import _load_command_modules, cli


def _run(db_url, tmp_path, *args: str):
    _load_command_modules()
    env = {"XIAOYUAN_DATA_DIR": str(tmp_path / "var"), "XIAOYUAN_CONFIG": "", "XIAOYUAN_DATABASE_URL": db_url}
    return CliRunner().invoke(cli, list(args), env=env)


def test_acknowledge_and_resolve_from_the_cli_are_audited_with_who_and_via_cli(services, clock, db_url, tmp_path):
    seed(services)
    alert = sos(services, clock)
    acked = _run(db_url, tmp_path, "alert", "ack", str(alert.id), "--by", "值班员老周")
    assert acked.exit_code == 0, acked.output
    (row,) = alerts(services)
    assert (row.status, row.acknowledged_by, row.acknowledged_via) == ("acknowledged", "值班员老周", "cli")
    resolved = _run(db_url, tmp_path, "alert", "resolve", str(alert.id), "--by", "值班员老周",
                    "--note", "电话问过，没事")
    assert resolved.exit_code == 0, resolved.output
    with services.session_factory() as s:
        entries = s.execute(sa.select(AuditEntry.action, AuditEntry.actor_label, AuditEntry.detail)
                            .where(AuditEntry.entity_type == "alert", AuditEntry.entity_id == alert.id)
                            .order_by(AuditEntry.id)).all()
    assert [(action, label, detail["via"]) for action, label, detail in entries] == [
        ("alert.acknowledge", "值班员老周", "cli"), ("alert.resolve", "值班员老周", "cli")]


def test_a_refused_cli_resolve_is_a_plain_error_and_records_nothing(services, clock, db_url, tmp_path):
    seed(services)
    alert = sos(services, clock)
    refused = _run(db_url, tmp_path, "alert", "resolve", str(alert.id), "--by", "老周", "--note", "  ")
    assert refused.exit_code != 0 and "Traceback" not in refused.output
    with services.session_factory() as s:
        assert not s.scalar(sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.entity_type == "alert"))
