"""Wristbands (手环): the band registry, raw telemetry, 5-minute aggregates and device events."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base

# Row ids of the high-volume tables: 64-bit on PostgreSQL, SQLite's rowid on SQLite.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Band(Base):
    """A registered band: who wears it, where it reports, how it authenticates, and its last state."""

    __tablename__ = "band"
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(sa.String(64), unique=True)  # IMEI or vendor id; also the MQTT username
    model: Mapped[str] = mapped_column(sa.String(60), default="")
    site: Mapped[str] = mapped_column(sa.String(60), default="default", index=True)
    # How it talks to us: "mqtt" (the band's own MQTT client) or "watch" (the 3G* TCP protocol, via the gateway).
    protocol: Mapped[str] = mapped_column(sa.String(16), default="mqtt", server_default="mqtt")
    # What a watch confirmed it holds (its SOS numbers and phonebook), as the gateway last heard it acknowledge.
    device_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    resident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("resident.id"), index=True)
    # Mosquitto-compatible PBKDF2-SHA512 hash ("$7$..."); the secret itself is shown once and never stored.
    mqtt_password_hash: Mapped[str] = mapped_column(sa.String(200), default="")
    thresholds: Mapped[dict[str, Any]] = mapped_column(default=dict)  # per-resident overrides of [devices.thresholds]
    interval_s: Mapped[int] = mapped_column(default=60)  # reporting interval
    active: Mapped[bool] = mapped_column(default=True)
    online: Mapped[bool] = mapped_column(default=False)
    last_seen_at: Mapped[dt.datetime | None]
    status_changed_at: Mapped[dt.datetime | None]
    battery: Mapped[int | None]
    worn: Mapped[bool | None]
    last_reading: Mapped[dict[str, Any]] = mapped_column(default=dict)  # latest value of each vital, with its ts
    rule_state: Mapped[dict[str, Any]] = mapped_column(default=dict)  # onset times of sustained conditions
    created_at: Mapped[dt.datetime]


class TelemetryReading(Base):
    """One raw telemetry message (kept settings.privacy.telemetry_raw_days, then only as aggregates)."""

    __tablename__ = "telemetry_reading"
    __table_args__ = (sa.Index("ix_telemetry_reading_band_ts", "band_id", "ts"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    band_id: Mapped[int] = mapped_column(sa.ForeignKey("band.id"))
    resident_id: Mapped[int | None] = mapped_column(index=True)
    ts: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime]
    hr: Mapped[int | None] = mapped_column(sa.SmallInteger)
    spo2: Mapped[int | None] = mapped_column(sa.SmallInteger)
    temp_c: Mapped[float | None]
    sbp: Mapped[int | None] = mapped_column(sa.SmallInteger)
    dbp: Mapped[int | None] = mapped_column(sa.SmallInteger)
    steps: Mapped[int | None]
    battery: Mapped[int | None] = mapped_column(sa.SmallInteger)
    worn: Mapped[bool | None]
    lat: Mapped[float | None]
    lon: Mapped[float | None]


class TelemetryAggregate(Base):
    """Five minutes of one band's telemetry, kept after the raw rows are deleted."""

    __tablename__ = "telemetry_aggregate"
    __table_args__ = (sa.UniqueConstraint("band_id", "bucket_start", name="uq_telemetry_aggregate_band_bucket"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    band_id: Mapped[int] = mapped_column(sa.ForeignKey("band.id"))
    resident_id: Mapped[int | None] = mapped_column(index=True)
    bucket_start: Mapped[dt.datetime]
    samples: Mapped[int]
    hr_min: Mapped[int | None]
    hr_avg: Mapped[float | None]
    hr_max: Mapped[int | None]
    spo2_min: Mapped[int | None]
    spo2_avg: Mapped[float | None]
    temp_max: Mapped[float | None]
    sbp_max: Mapped[int | None]
    dbp_max: Mapped[int | None]
    steps_max: Mapped[int | None]
    battery_min: Mapped[int | None]


DEVICE_EVENT_TYPES = ("sos", "fall", "removed", "low_battery", "power_off")


class DeviceEvent(Base):
    """An event a band published at QoS 1; (band, seq) makes a redelivery a no-op."""

    __tablename__ = "device_event"
    __table_args__ = (sa.UniqueConstraint("band_id", "seq", name="uq_device_event_band_seq"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    band_id: Mapped[int] = mapped_column(sa.ForeignKey("band.id"))
    resident_id: Mapped[int | None] = mapped_column(index=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    type: Mapped[str] = mapped_column(sa.String(20))
    ts: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    alert_id: Mapped[int | None] = mapped_column(sa.ForeignKey("alert.id"))


class WatchCommand(Base):
    """A command for a watch (`CR`, `UPLOAD,300`, …) that it has not acknowledged yet: the gateway sends it on
    every connection until the watch does, also after a gateway restart."""

    __tablename__ = "watch_command"
    __table_args__ = (sa.UniqueConstraint("band_id", "kind", name="uq_watch_command_band_kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    band_id: Mapped[int] = mapped_column(sa.ForeignKey("band.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))  # the command word; a newer one of the same kind replaces it
    content: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[dt.datetime]
