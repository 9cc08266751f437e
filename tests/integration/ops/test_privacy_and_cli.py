"""Retention deletes old sensitive rows (audited); resident export / erase (audited, counts kept); CLI."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from core.db import transaction
from core.models.audit import AuditEntry
from core.models.calls import CallLog, CallRecording
from core.models.devices import Band, TelemetryReading
from core.models.helpcalls import HelpCall
from core.models.places import CaregiverLink, Resident
from core.models.requests import Request
from core.notify.outbox import Recipient, enqueue_message
from core.privacy.records import erase_resident, export_resident, retention_job
from core.requests.reports import build_report
from core.requests.workorders import submit_request
from xiaoyuan.cli import _load_command_modules, cli


def _audits(services, action: str) -> list[AuditEntry]:
    with services.session_factory() as s:
        return list(s.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)))


def test_retention_deletes_only_expired_rows_and_files_and_audits_it(services, world, clock):
    now = clock.now()
    data_dir = services.settings.data_dir
    (data_dir / "recordings").mkdir(parents=True)
    old_file, new_file = data_dir / "recordings" / "old.wav", data_dir / "recordings" / "new.wav"
    old_file.write_bytes(b"x")
    new_file.write_bytes(b"y")
    with transaction(services.session_factory) as s:
        band = Band(device_id="b1", resident_id=world.residents[0].id, created_at=now)
        s.add(band)
        s.flush()
        for days in (31, 29):
            at = now - dt.timedelta(days=days)
            s.add(TelemetryReading(band_id=band.id, resident_id=world.residents[0].id, ts=at, received_at=at, hr=70))
        for days, name in ((91, "old"), (89, "new")):
            at = now - dt.timedelta(days=days)
            s.add(CallRecording(recording_url=f"https://rec/{name}", local_file=f"recordings/{name}.wav",
                                created_at=at))
        for days in (366, 364):
            s.add(CallLog(direction="inbound", caller="+8613800000000", started_at=now - dt.timedelta(days=days)))
    deleted = retention_job(services)
    assert deleted["telemetry_reading"] == 1 and deleted["call_recording"] == 1 and deleted["call_log"] == 1
    assert not old_file.exists() and new_file.exists()
    with services.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(TelemetryReading)) == 1
        assert s.scalar(sa.select(sa.func.count()).select_from(CallLog)) == 1
    (audit,) = _audits(services, "retention.purge")
    assert audit.detail["deleted"]["telemetry_reading"] == 1
    assert not any(retention_job(services).values())
    assert len(_audits(services, "retention.purge")) == 1  # nothing deleted: nothing to audit


@pytest.fixture
def personal_data(services, world, clock):
    """王奶奶 with a request, a help call with her chain, and a message sent to her phone."""
    resident = world.residents[0]
    with transaction(services.session_factory) as s:
        submit_request(s, now=clock.now(), due_hours=services.settings.requests.due_hours, resident_id=resident.id,
                       type="repair", channel="phone", text="王奶奶家水管爆了", transcript="水管爆了")
        s.add(HelpCall(household_id=resident.household_id, resident_id=resident.id, village_id=world.villages[0].id,
                       town_id=world.town.id, source="tv", status="reached", created_at=clock.now(),
                       updated_at=clock.now(), chain=[{"name": "王小明", "phone": "+8613800001111"}],
                       reached_name="王小明"))
        enqueue_message(s, now=clock.now(), recipient=Recipient(name="王奶奶", phone=resident.phone),
                        template="reminder.call", text="王奶奶，用药提醒")
    return resident


def test_export_holds_everything_and_erase_removes_it_but_keeps_counts(services, world, clock, personal_data):
    rid = personal_data.id
    with transaction(services.session_factory) as s:
        exported = export_resident(s, now=clock.now(), actor=world.users["head_a"], resident_id=rid)
    text = json.dumps(exported, ensure_ascii=False)
    assert {"resident", "household", "request", "request_event", "help_call", "caregiver_link",
            "outbox_message"} <= exported["tables"].keys()
    assert "王奶奶家水管爆了" in text and "王小明" in text and personal_data.phone in text
    day = clock.now().date()
    with services.session_factory() as s:
        before = build_report(s, kind="daily", day=day, town_id=world.town.id)

    with transaction(services.session_factory) as s:
        summary = erase_resident(s, now=clock.now(), actor=world.users["village_a"], resident_id=rid)
    assert summary["changed"]["caregiver_link"] == 3
    with services.session_factory() as s:
        resident = s.get(Resident, rid)
        assert resident.erased and resident.phone is None and "王" not in resident.name
        assert s.scalar(sa.select(sa.func.count()).select_from(CaregiverLink).where(
            CaregiverLink.resident_id == rid)) == 0
        req = s.scalar(sa.select(Request).where(Request.resident_id == rid))
        assert req.text == "" and req.transcript is None and req.type == "repair"
        after = build_report(s, kind="daily", day=day, town_id=world.town.id)
    assert after.requests == before.requests and after.help_calls == before.help_calls  # counts kept
    with transaction(services.session_factory) as s:
        again = json.dumps(export_resident(s, now=clock.now(), actor=None, resident_id=rid), ensure_ascii=False)
    assert "王奶奶" not in again and "王小明" not in again and personal_data.phone not in again
    assert [a.actor_label for a in _audits(services, "resident.export")] == ["head_a", "cli"]
    (erase_audit,) = _audits(services, "resident.erase")
    assert erase_audit.actor_label == "village_a" and erase_audit.entity_id == rid


def test_staff_outside_the_scope_cannot_export(services, world, clock, personal_data):
    from core.errors import NotFound

    with transaction(services.session_factory) as s, pytest.raises(NotFound):
        export_resident(s, now=clock.now(), actor=world.users["head_b"], resident_id=personal_data.id)


@pytest.fixture
def run_cli(db_url, tmp_path):
    """Invoke the CLI against the test database."""
    _load_command_modules()
    runner = CliRunner()
    env = {"XIAOYUAN_DATA_DIR": str(tmp_path / "cli-var"), "XIAOYUAN_CONFIG": "", "XIAOYUAN_DATABASE_URL": db_url}

    def invoke(*args: str):
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def test_cli_report_and_resident_export_erase(run_cli, services, world, clock, personal_data):
    day = clock.now().date().isoformat()
    text = run_cli("report", "daily", "--date", day)
    assert text.exit_code == 0 and text.output.startswith(f"【安富街道日通报 {day}】") and "新增1" in text.output
    data = json.loads(run_cli("report", "weekly", "--date", day, "--format", "json",
                              "--village", str(world.villages[0].id)).output)
    assert data["scope"] == "village" and data["requests"]["new"] == 1 and data["start"] == "2026-11-23"
    csv_out = run_cli("report", "monthly", "--date", day, "--format", "csv").output
    assert csv_out.splitlines()[1].startswith("monthly,2026-11-01,2026-12-01,town")
    bad = CliRunner().invoke(cli, ["report", "daily", "--date", "26/11/2026"],
                             env={"XIAOYUAN_DATABASE_URL": services.settings.database_url})
    assert bad.exit_code != 0
    exported = json.loads(run_cli("resident", "export", str(personal_data.id)).output)
    assert exported["resident_id"] == personal_data.id
    erased = run_cli("resident", "erase", str(personal_data.id), "--yes")
    assert erased.exit_code == 0
    with services.session_factory() as s:
        assert s.get(Resident, personal_data.id).erased
    assert run_cli("jobs", "--markdown").output.count("| `ops.") == 7
