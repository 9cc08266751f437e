"""Turn batches of MQTT messages into stored telemetry, recorded events and alert decisions.

The listener's network thread only queues messages; worker threads call the Ingestor with a batch.
Events (SOS, fall, …) are committed in their own short transaction, ahead of and apart from
telemetry, so an alarm never waits behind a batch of readings; that transaction does not update the
band row (the telemetry transaction holds it), it only notes that the band was seen, and the next
telemetry transaction marks it. Telemetry is validated, evaluated and stored in batches (COPY on
PostgreSQL). QoS 1 messages are acknowledged to the broker only after their commit (by the caller).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.bands.alerts import clear_alert, dedup_key_for, raise_alert
from core.bands.escalation import SEVERITY_ORDER, EscalationConfig
from core.container import Services
from core.models.alerts import Alert
from core.models.devices import Band, DeviceEvent, TelemetryReading
from devices import rules
from devices.schemas import EventPayload, Rejected, StatusPayload, parse_payload, parse_topic

log = logging.getLogger(__name__)

READING_FIELDS = ("hr", "spo2", "temp_c", "sbp", "dbp", "steps", "battery", "worn", "lat", "lon")
# Columns of a telemetry row in COPY order (the id comes from its sequence).
COPY_COLUMNS = tuple(c.name for c in TelemetryReading.__table__.columns if c.name != "id")


@dataclass(frozen=True)
class Inbound:
    """One message as the network thread saw it (nothing parsed yet)."""

    topic: str
    payload: bytes
    qos: int = 0
    mid: int = 0
    retain: bool = False


class Counters:
    """Thread-safe counters for /metrics (exported by xiaoyuan.metrics via services.extras)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.messages: dict[str, int] = defaultdict(int)
        self.dropped: dict[str, int] = defaultdict(int)
        self.alerts: dict[str, int] = defaultdict(int)
        self.batches = 0
        self.errors: dict[str, int] = defaultdict(int)

    def count(self, table: str, kind: str, n: int = 1) -> None:
        """Add n to one labelled counter."""
        with self._lock:
            getattr(self, table)[kind] += n

    def count_batch(self) -> None:
        """One more committed transaction."""
        with self._lock:
            self.batches += 1

    def snapshot(self) -> dict[str, tuple[str, dict[str, float]]]:
        """Metric name → (help, {label value: count}), the shape xiaoyuan.metrics exports."""
        with self._lock:
            return {
                "xiaoyuan_mqtt_messages": ("MQTT messages stored, by kind", dict(self.messages)),
                "xiaoyuan_mqtt_dropped": ("MQTT messages dropped at the edge, by reason", dict(self.dropped)),
                "xiaoyuan_alerts_raised": ("Alerts raised by the listener, by type", dict(self.alerts)),
                "xiaoyuan_listener_errors": ("Listener errors, by kind", dict(self.errors)),
                "xiaoyuan_listener_batches": ("Transactions committed by the listener", {"all": self.batches}),
            }

    def total(self, table: str) -> int:
        """Sum of one table (tests)."""
        with self._lock:
            return sum(getattr(self, table).values())


@dataclass
class _BandInfo:
    id: int
    site: str
    resident_id: int | None


class Ingestor:
    """Validates, stores and evaluates batches of band messages."""

    NEGATIVE_TTL_S = 30.0

    def __init__(self, services: Services, counters: Counters | None = None) -> None:
        self.services = services
        self.counters = counters or Counters()
        section = services.settings.devices
        self.root = services.settings.mqtt.topic_root
        self.max_future_s = section.max_future_s
        self.max_past_s = section.max_past_s
        self.threshold_defaults = section.thresholds.model_dump()
        self.escalation = EscalationConfig.from_settings(services.settings)
        self._bands: dict[str, _BandInfo] = {}
        self._unknown: dict[str, float] = {}
        # Bands whose events were committed but whose row (last seen, online) is not yet updated.
        self._seen_lock = threading.Lock()
        self._seen: dict[int, dt.datetime] = {}

    # ---- band lookup (cached; unknown ids are remembered briefly so a flood cannot hammer the DB)
    def _band(self, device_id: str) -> _BandInfo | None:
        info = self._bands.get(device_id)
        if info is not None:
            return info
        seen = self._unknown.get(device_id)
        if seen is not None and time.monotonic() - seen < self.NEGATIVE_TTL_S:
            return None
        with self.services.session_factory() as session:
            row = session.execute(
                sa.select(Band.id, Band.site, Band.resident_id).where(Band.device_id == device_id,
                                                                      Band.active.is_(True))
            ).first()
        if row is None:
            if len(self._unknown) > 10000:
                self._unknown.clear()
            self._unknown[device_id] = time.monotonic()
            return None
        info = _BandInfo(*row)
        self._bands[device_id] = info
        return info

    def forget(self, device_id: str | None = None) -> None:
        """Drop cached band lookups (after pairing or reassignment)."""
        if device_id is None:
            self._bands.clear()
            self._unknown.clear()
        else:
            self._bands.pop(device_id, None)
            self._unknown.pop(device_id, None)

    def validate(self, msg: Inbound, now: dt.datetime) -> tuple[_BandInfo, str, Any] | None:
        """Parse one message; count and drop it (None) when it does not fit the contract."""
        topic = parse_topic(msg.topic, self.root)
        if isinstance(topic, Rejected):
            self.counters.count("dropped", topic.reason)
            return None
        band = self._band(topic.device_id)
        if band is None:
            self.counters.count("dropped", "unknown_device")
            log.debug("dropped message for unknown device")
            return None
        if band.site != topic.site:
            self.counters.count("dropped", "wrong_site")
            return None
        parsed = parse_payload(topic.kind, msg.payload, now=now, max_future_s=self.max_future_s,
                               max_past_s=self.max_past_s)
        if isinstance(parsed, Rejected):
            self.counters.count("dropped", parsed.reason)
            log.debug("dropped %s message from band %s: %s %s", topic.kind, band.id, parsed.reason, parsed.detail)
            return None
        return band, topic.kind, parsed

    def _validated(self, batch: Sequence[Inbound], now: dt.datetime) -> tuple[list[Any], list[Any]]:
        items = [v for v in (self.validate(m, now) for m in batch) if v is not None]
        return [i for i in items if i[1] == "event"], [i for i in items if i[1] != "event"]

    def process(self, batch: Sequence[Inbound]) -> None:
        """Validate a batch; commit its events first in their own transaction, then telemetry and status.

        Raises on a database failure (the caller retries and acknowledges nothing meanwhile).
        """
        now = self.services.clock.now()
        events, others = self._validated(batch, now)
        self.commit_events(events, now)
        self.commit_readings(others, now)

    def process_events(self, batch: Sequence[Inbound]) -> None:
        """The listener's event worker: commit only the events at once; the bands they came from are
        marked seen by the next telemetry transaction (`flush_seen`), so this never waits on a band row."""
        now = self.services.clock.now()
        events, others = self._validated(batch, now)
        self.commit_events(events, now)
        if others:  # the listener routes by topic, so only a malformed topic could land here
            self.commit_readings(others, now)

    def flush_seen(self) -> None:
        """Mark the bands whose events were committed as seen and online (when no telemetry came to do it)."""
        with self._seen_lock:
            pending = bool(self._seen)
        if pending:
            self.commit_readings([], self.services.clock.now())

    def commit_events(self, items: list[tuple[_BandInfo, str, Any]], now: dt.datetime) -> None:
        """Record events and raise their alerts (with the first escalation level) in one short transaction."""
        if not items:
            return
        per_band: dict[int, list[EventPayload]] = defaultdict(list)
        for info, _, parsed in items:
            per_band[info.id].append(parsed)
        with self.services.session_factory() as session, session.begin():
            # A plain read of the band rows: this transaction never updates them (see module docstring).
            bands = {b.id: b for b in session.scalars(sa.select(Band).where(Band.id.in_(per_band)))}
            open_alerts = self._open_alerts(session, bands.values())
            for band_id, events in per_band.items():
                band = bands.get(band_id)
                if band is None:
                    continue
                decisions = self._record_events(session, band, events, now)
                self.apply(session, band, decisions, now, open_alerts)
        self.counters.count_batch()
        with self._seen_lock:
            for band_id in per_band:
                self._seen[band_id] = now

    def commit_readings(self, items: list[tuple[_BandInfo, str, Any]], now: dt.datetime) -> None:
        """Store telemetry and status, evaluate the rules and update the bands in one transaction."""
        with self._seen_lock:
            seen, self._seen = self._seen, {}
        if not items and not seen:
            return
        try:
            with self.services.session_factory() as session, session.begin():
                self._store(session, items, now, seen)
        except BaseException:
            with self._seen_lock:  # not marked: try again with the next transaction
                for band_id, when in seen.items():
                    self._seen.setdefault(band_id, when)
            raise
        self.counters.count_batch()

    def _store(self, session: Session, items: list[tuple[_BandInfo, str, Any]], now: dt.datetime,
               seen: dict[int, dt.datetime] | None = None) -> None:
        seen = seen or {}
        band_ids = {info.id for info, _, _ in items} | set(seen)
        if not band_ids:
            return
        bands = {b.id: b for b in session.scalars(sa.select(Band).where(Band.id.in_(band_ids)))}
        open_alerts = self._open_alerts(session, bands.values())
        per_band: dict[int, list[tuple[str, Any]]] = defaultdict(list)
        for info, kind, parsed in items:
            if info.id in bands:
                per_band[info.id].append((kind, parsed))
        for band_id in seen:
            if band_id in bands:
                per_band.setdefault(band_id, [])
        telemetry_rows: list[dict[str, Any]] = []
        for band_id, messages in per_band.items():
            band = bands[band_id]
            th = rules.Thresholds.from_config(self.threshold_defaults, band.thresholds)
            state = dict(band.rule_state or {})
            last = dict(band.last_reading or {})
            decisions: list[rules.Decision] = []
            last_action: dict[str, str] = {}
            readings = sorted((p for k, p in messages if k == "telemetry"), key=lambda p: p.ts)
            for reading in readings:
                row = {"band_id": band.id, "resident_id": band.resident_id, "ts": reading.ts, "received_at": now}
                for name in READING_FIELDS:
                    row[name] = getattr(reading, name)
                telemetry_rows.append(row)
                state, found = rules.evaluate_reading(state, rules.Reading(
                    ts=reading.ts, hr=reading.hr, spo2=reading.spo2, temp_c=reading.temp_c, steps=reading.steps,
                    battery=reading.battery, worn=reading.worn), th)
                for decision in found:
                    # A clear right after a clear of the same type changes nothing: skip the repeats.
                    if decision.action == "clear" and last_action.get(decision.type) == "clear":
                        continue
                    last_action[decision.type] = decision.action
                    decisions.append(decision)
                for name in READING_FIELDS:
                    value = getattr(reading, name)
                    if value is not None:
                        last[name] = value
                last["ts"] = reading.ts.isoformat()
                if reading.battery is not None:
                    band.battery = reading.battery
                if reading.worn is not None:
                    band.worn = reading.worn
            for kind, parsed in messages:
                if kind == "status" and isinstance(parsed, StatusPayload):
                    if band.online != parsed.online:
                        band.online = parsed.online
                        band.status_changed_at = now
                    self.counters.count("messages", "status")
            seen_at = now if readings else seen.get(band_id)  # any reading or committed event proves it alive
            if seen_at is not None:
                if band.last_seen_at is None or band.last_seen_at < seen_at:
                    band.last_seen_at = seen_at
                if not band.online:
                    band.online = True
                    band.status_changed_at = seen_at
            if state != (band.rule_state or {}):
                band.rule_state = state
            if last != (band.last_reading or {}):
                band.last_reading = last
            self.apply(session, band, decisions, now, open_alerts)
        if telemetry_rows:
            insert_readings(session, telemetry_rows)
            self.counters.count("messages", "telemetry", len(telemetry_rows))

    def _record_events(self, session: Session, band: Band, events: list[EventPayload],
                       now: dt.datetime) -> list[rules.Decision]:
        seqs = {e.seq for e in events}
        known = set(session.scalars(
            sa.select(DeviceEvent.seq).where(DeviceEvent.band_id == band.id, DeviceEvent.seq.in_(seqs))))
        decisions: list[rules.Decision] = []
        for event in events:
            if event.seq in known:
                self.counters.count("dropped", "duplicate_event")
                continue
            known.add(event.seq)
            payload = {"ts": event.ts.isoformat(), "seq": event.seq, "type": event.type}
            payload.update({k: getattr(event, k) for k in ("lat", "lon", "battery") if getattr(event, k) is not None})
            row = DeviceEvent(band_id=band.id, resident_id=band.resident_id, seq=event.seq, type=event.type,
                              ts=event.ts, received_at=now, payload=payload)
            try:
                with session.begin_nested():
                    session.add(row)
                    session.flush()
            except IntegrityError:  # another listener recorded it a moment ago
                self.counters.count("dropped", "duplicate_event")
                continue
            self.counters.count("messages", "event")
            found = rules.evaluate_event(event.type, event.ts, payload)
            for d in found:
                decisions.append(rules.Decision(d.action, d.type, d.at, d.severity, {**d.value, "event_id": row.id}))
        return decisions

    def _open_alerts(self, session: Session, bands: Iterable[Band]) -> dict[str, str]:
        return open_alert_severities(session, bands)

    def apply(self, session: Session, band: Band, decisions: list[rules.Decision], now: dt.datetime,
              open_alerts: dict[str, str]) -> None:
        """Turn rule decisions into alert raises and clears."""
        apply_decisions(session, band, decisions, now=now, open_alerts=open_alerts, escalation=self.escalation,
                        counters=self.counters)


def insert_readings(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert telemetry rows: COPY on PostgreSQL with psycopg 3 (several times faster than the pipelined
    executemany SQLAlchemy uses for an INSERT without RETURNING), executemany elsewhere."""
    connection = session.connection()
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        from psycopg import sql

        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(TelemetryReading.__tablename__), sql.SQL(", ").join(map(sql.Identifier, COPY_COLUMNS)))
        # Datetimes are already aware UTC (the UTCDateTime binding is bypassed by COPY).
        driver = connection.connection.driver_connection
        assert driver is not None  # a checked-out connection always has its DBAPI connection
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[name] for name in COPY_COLUMNS])
        return
    session.execute(sa.insert(TelemetryReading), rows)


def open_alert_severities(session: Session, bands: Iterable[Band]) -> dict[str, str]:
    """Dedup key → severity of the active alerts of these bands' residents."""
    keys = [dedup_key_for(t, resident_id=b.resident_id, band_id=b.id) for b in bands for t in rules.ALERT_TYPES]
    if not keys:
        return {}
    found: dict[str, str] = {}
    for start in range(0, len(keys), 500):
        found.update((key, severity) for key, severity in session.execute(
            sa.select(Alert.open_key, Alert.severity).where(Alert.open_key.in_(keys[start:start + 500])))
            if key is not None)
    return found


def apply_decisions(
    session: Session, band: Band, decisions: list[rules.Decision], *, now: dt.datetime, open_alerts: dict[str, str],
    escalation: EscalationConfig, counters: Counters | None = None,
) -> None:
    """Raise and clear alerts for rule decisions, skipping those that would change nothing."""
    for decision in decisions:
        key = dedup_key_for(decision.type, resident_id=band.resident_id, band_id=band.id)
        current = open_alerts.get(key)
        if decision.action == "clear":
            if current is not None:
                clear_alert(session, now=now, alert_type=decision.type, resident_id=band.resident_id, band_id=band.id)
                open_alerts.pop(key, None)
            continue
        condition = decision.type in rules.CONDITION_TYPES
        if current is not None and condition and SEVERITY_ORDER[decision.severity] <= SEVERITY_ORDER[current]:
            continue
        alert, created = raise_alert(
            session, now=now, config=escalation, alert_type=decision.type, severity=decision.severity,
            resident_id=band.resident_id, band_id=band.id, device_id=band.device_id, value=decision.value,
        )
        open_alerts[key] = alert.severity
        event_id = decision.value.get("event_id")
        if event_id is not None:
            session.execute(sa.update(DeviceEvent).where(DeviceEvent.id == event_id).values(alert_id=alert.id))
        if created and counters is not None:
            counters.count("alerts", decision.type)
