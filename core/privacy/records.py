"""Retention and privacy: delete old sensitive records, export or erase everything held about a person.

Health data and recordings are sensitive personal information. Tables are handled by name through the
metadata, so a build without wristbands or the phone line simply has fewer tables to purge. Every purge,
export and erasure leaves an audit entry. Erasure anonymises rather than deletes where rows feed the
reports (requests, help calls, alerts, check-ins), so aggregate counts stay right.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.container import Services
from core.db import rows_changed, transaction
from core.errors import NotFound
from core.i18n import N_
from core.models.base import Base
from core.models.places import Resident
from core.models.staff import User
from core.people import access
from core.people.audit import record_audit

log = logging.getLogger(__name__)

# (table, time column, privacy setting with the number of days to keep)
RETENTION_RULES = (
    ("telemetry_reading", "ts", "telemetry_raw_days"),
    ("device_event", "ts", "telemetry_raw_days"),
    ("telemetry_aggregate", "bucket_start", "telemetry_aggregate_days"),
    ("call_recording", "created_at", "recordings_days"),
    ("call_log", "started_at", "call_logs_days"),
    ("telephony_dryrun", "created_at", "call_logs_days"),
    ("bin_photo", "at", "bin_photos_days"),
)
ERASED_TEXT = "（已删除）"


def _table(name: str) -> sa.Table:
    return Base.metadata.tables[name]


def _delete_files(data_dir: Path, paths: list[str | None]) -> int:
    """Delete recording and photo files that live inside the data dir (never anything outside it)."""
    removed = 0
    root = data_dir.resolve()
    for rel in paths:
        if not rel:
            continue
        path = (root / rel).resolve()
        if root in path.parents and path.is_file():
            path.unlink()
            removed += 1
    return removed


def purge_expired(session: Session, *, now: dt.datetime, privacy: Any, data_dir: Path) -> dict[str, int]:
    """Delete rows older than their retention (and recording and bin photo files); return rows deleted per table."""
    deleted: dict[str, int] = {}
    recordings = _table("call_recording")
    for name, column, setting in RETENTION_RULES:
        table = _table(name)
        if table is None:
            continue
        cutoff = now - dt.timedelta(days=int(getattr(privacy, setting)))
        old = table.c[column] < cutoff
        if name == "call_recording":
            files: list[str | None] = list(session.scalars(sa.select(table.c.local_file).where(old)))
            deleted["recording_files"] = _delete_files(data_dir, files)
            requests = _table("request")
            deleted["request_recording_urls"] = rows_changed(session.execute(
                sa.update(requests).where(requests.c.created_at < cutoff, requests.c.recording_url.is_not(None))
                .values(recording_url=None)
            ))
        if name == "bin_photo":
            deleted["bin_photo_files"] = _delete_files(
                data_dir, list(session.scalars(sa.select(table.c.file).where(old))))
        if name == "call_log" and recordings is not None:
            # Recordings of calls about to go (kept longer than their call by configuration) go with them.
            ids = sa.select(table.c.id).where(old).scalar_subquery()
            files = list(session.scalars(
                sa.select(recordings.c.local_file).where(recordings.c.call_log_id.in_(ids))))
            _delete_files(data_dir, files)
            session.execute(sa.delete(recordings).where(recordings.c.call_log_id.in_(ids)))
            for other in Base.metadata.sorted_tables:  # rows pointing at a call log keep their own history
                for fk in other.foreign_keys:
                    if fk.column.table is table and other is not recordings and fk.parent.nullable:
                        session.execute(sa.update(other).where(fk.parent.in_(ids)).values({fk.parent.name: None}))
        deleted[name] = rows_changed(session.execute(sa.delete(table).where(old)))
    return deleted


def retention_job(services: Services) -> dict[str, int]:
    """Job: apply the retention periods of [privacy] and audit what was deleted."""
    now = services.clock.now()
    with transaction(services.session_factory) as session:
        deleted = purge_expired(session, now=now, privacy=services.settings.privacy,
                                data_dir=services.settings.data_dir)
        if any(deleted.values()):
            record_audit(session, at=now, actor="system", action="retention.purge", entity_type="table",
                         entity_id=None, deleted=deleted, days=services.settings.privacy.model_dump())
    if any(deleted.values()):
        log.info("retention: deleted %s", {k: v for k, v in deleted.items() if v})
    return deleted


def _row_dict(row: Any) -> dict[str, Any]:
    out = {}
    for key, value in row._mapping.items():
        out[key] = value.isoformat() if isinstance(value, dt.datetime | dt.date) else value
    return out


def _load_resident(session: Session, actor: User | None, resident_id: int) -> Resident:
    resident = access.get_resident_for(session, actor, resident_id) if actor is not None else session.get(
        Resident, resident_id)
    if resident is None:
        raise NotFound(N_("找不到这位居民"))
    if actor is not None:
        access.require_manager(actor)
    return resident


def export_resident(session: Session, *, now: dt.datetime, actor: User | None, resident_id: int) -> dict[str, Any]:
    """Everything held about one person, as JSON-ready data (audited)."""
    resident = _load_resident(session, actor, resident_id)
    data: dict[str, Any] = {"exported_at": now.isoformat(), "resident_id": resident.id, "tables": {}}
    tables = data["tables"]
    resident_table = _table("resident")
    tables["resident"] = [_row_dict(r) for r in session.execute(
        sa.select(resident_table).where(resident_table.c.id == resident.id))]
    household = _table("household")
    tables["household"] = [_row_dict(r) for r in session.execute(
        sa.select(household).where(household.c.id == resident.household_id))]
    for table in Base.metadata.sorted_tables:
        if "resident_id" in table.c and table.name != "resident":
            rows = [_row_dict(r) for r in session.execute(
                sa.select(table).where(table.c.resident_id == resident.id).order_by(*table.primary_key.columns))]
            if rows:
                tables[table.name] = rows
    children = {"request_event": ("request", "request_id"), "help_call_leg": ("help_call", "help_call_id"),
                "call_recording": ("call_log", "call_log_id"), "alert_notification": ("alert", "alert_id")}
    for child, (parent, column) in children.items():
        table = _table(child)
        parent_ids = [row["id"] for row in tables.get(parent, [])]
        if table is not None and parent_ids:
            tables[child] = [_row_dict(r) for r in session.execute(
                sa.select(table).where(table.c[column].in_(parent_ids)).order_by(*table.primary_key.columns))]
    if resident.phone:
        outbox = _table("outbox_message")
        tables["outbox_message"] = [_row_dict(r) for r in session.execute(
            sa.select(outbox).where(outbox.c.recipient_phone == resident.phone).order_by(outbox.c.id))]
    record_audit(session, at=now, actor=actor or "cli", action="resident.export", entity_type="resident",
                 entity_id=resident.id, tables={k: len(v) for k, v in tables.items()})
    return data


def _update(session: Session, name: str, where: Any, values: dict[str, Any]) -> int:
    table = _table(name)
    if table is None:
        return 0
    values = {k: v for k, v in values.items() if k in table.c}
    return rows_changed(session.execute(sa.update(table).where(where(table)).values(values)))


def _delete(session: Session, name: str, where: Any) -> int:
    table = _table(name)
    if table is None:
        return 0
    return rows_changed(session.execute(sa.delete(table).where(where(table))))


def erase_resident(session: Session, *, now: dt.datetime, actor: User | None, resident_id: int,
                   data_dir: Path | None = None) -> dict[str, Any]:
    """Erase a person: personal details, texts, recordings and raw health data go; counts stay (audited)."""
    resident = _load_resident(session, actor, resident_id)
    rid, phone = resident.id, resident.phone
    done: dict[str, int] = {}

    def by_resident(table: sa.Table) -> Any:
        return table.c.resident_id == rid

    request_ids = sa.select(_table("request").c.id).where(_table("request").c.resident_id == rid).scalar_subquery()
    done["request"] = _update(session, "request", by_resident, {
        "text": "", "transcript": None, "recording_url": None, "details": {}, "resolution": ""})
    done["request_event"] = _update(session, "request_event", lambda t: t.c.request_id.in_(request_ids), {"note": ""})
    help_ids = sa.select(_table("help_call").c.id).where(_table("help_call").c.resident_id == rid).scalar_subquery()
    done["help_call"] = _update(session, "help_call", by_resident, {"chain": [], "reached_name": None})
    done["help_call_leg"] = _update(session, "help_call_leg", lambda t: t.c.help_call_id.in_(help_ids),
                                    {"name": "—", "phone": None})
    recordings = _table("call_recording")
    logs = _table("call_log")
    if recordings is not None and logs is not None:
        log_ids = sa.select(logs.c.id).where(logs.c.resident_id == rid).scalar_subquery()
        mine = sa.or_(recordings.c.call_log_id.in_(log_ids), recordings.c.request_id.in_(request_ids))
        if data_dir is not None:
            done["recording_files"] = _delete_files(
                data_dir, list(session.scalars(sa.select(recordings.c.local_file).where(mine))))
        done["call_recording"] = rows_changed(session.execute(sa.update(recordings).where(mine).values(
            recording_url="", local_file=None, text=None)))
    done["call_log"] = _update(session, "call_log", by_resident, {"caller": None, "called": None, "transcripts": []})
    done["telemetry_reading"] = _delete(session, "telemetry_reading", by_resident)
    done["device_event"] = _delete(session, "device_event", by_resident)
    done["telemetry_aggregate"] = _update(session, "telemetry_aggregate", by_resident, {"resident_id": None})
    done["band"] = _update(session, "band", by_resident, {"resident_id": None, "last_reading": {}, "rule_state": {}})
    done["alert"] = _update(session, "alert", by_resident, {"summary": ERASED_TEXT, "value": {}, "lat": None,
                                                            "lon": None})
    done["reminder"] = _update(session, "reminder", by_resident, {"text": ERASED_TEXT})
    done["caregiver_link"] = _delete(session, "caregiver_link", by_resident)
    if phone:
        done["outbox_message"] = _update(session, "outbox_message", lambda t: t.c.recipient_phone == phone, {
            "recipient_phone": None, "recipient_name": "", "text": ERASED_TEXT, "params": {}})
    resident.name = f"已删除居民{rid}"
    resident.phone = None
    resident.notes = ""
    resident.birth_year = None
    resident.erased = True
    session.flush()
    session.expire_all()  # the bulk updates above bypassed the identity map
    handled = {"request", "help_call", "call_log", "telemetry_reading", "device_event", "telemetry_aggregate",
               "band", "alert", "reminder", "caregiver_link"}
    kept = sorted(t.name for t in Base.metadata.sorted_tables
                  if "resident_id" in t.c and t.name not in handled and t.name != "resident")
    summary = {"changed": {k: v for k, v in done.items() if v}, "kept_links": kept}
    record_audit(session, at=now, actor=actor or "cli", action="resident.erase", entity_type="resident",
                 entity_id=rid, **summary)
    return summary
