"""Validation at the edge: MQTT topics and payloads in, typed messages or a named rejection out.

Topic contract: `{root}/{site}/band/{device_id}/telemetry|event|status` (see DESIGN.md). Anything
that does not fit — malformed JSON, wrong types, absurd values, timestamps far in the future or the
past, oversized payloads — becomes a `Rejected(reason)`; the listener counts it and drops it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.clock import UTC

MAX_PAYLOAD_BYTES = 4096
KINDS = ("telemetry", "event", "status")


@dataclass(frozen=True)
class Topic:
    """A parsed band topic."""

    site: str
    device_id: str
    kind: str


@dataclass(frozen=True)
class Rejected:
    """Why a message was dropped (a metrics label, never the payload)."""

    reason: str
    detail: str = ""


def parse_topic(topic: str, root: str) -> Topic | Rejected:
    """Split `{root}/{site}/band/{device_id}/{kind}`."""
    prefix = root.rstrip("/") + "/"
    if not topic.startswith(prefix):
        return Rejected("bad_topic")
    parts = topic[len(prefix):].split("/")
    if len(parts) != 4 or parts[1] != "band" or parts[3] not in KINDS or not parts[0] or not parts[2]:
        return Rejected("bad_topic")
    return Topic(site=parts[0], device_id=parts[2], kind=parts[3])


def _to_datetime(value: Any) -> dt.datetime:
    if isinstance(value, bool):
        raise ValueError("ts must be Unix seconds or ISO 8601")
    if isinstance(value, (int, float)):
        if not 0 < value < 1e11:
            raise ValueError("ts out of range")
        return dt.datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and 10 <= len(value) <= 40:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        # The contract asks for UTC; a time without a zone is taken as UTC.
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise ValueError("ts must be Unix seconds or ISO 8601")


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    ts: dt.datetime

    @field_validator("ts", mode="plain")
    @classmethod
    def _ts(cls, value: Any) -> dt.datetime:
        return _to_datetime(value)


class TelemetryPayload(_Payload):
    """Vitals a band reports (QoS 0). Limits reject values no living wearer can have."""

    hr: int | None = Field(default=None, ge=20, le=250)
    spo2: int | None = Field(default=None, ge=50, le=100)
    temp_c: float | None = Field(default=None, ge=30.0, le=45.0)
    sbp: int | None = Field(default=None, ge=50, le=260)
    dbp: int | None = Field(default=None, ge=30, le=160)
    steps: int | None = Field(default=None, ge=0, le=200_000)
    battery: int | None = Field(default=None, ge=0, le=100)
    worn: bool | None = None
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)

    @field_validator("temp_c", "lat", "lon", mode="before")
    @classmethod
    def _float(cls, value: Any) -> Any:
        # Strict mode refuses ints for floats in some positions; a whole number is a fine temperature.
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value


class EventPayload(_Payload):
    """An event (QoS 1): `seq` makes a redelivery idempotent."""

    seq: int = Field(ge=0, le=2**53)
    type: Literal["sos", "fall", "removed", "low_battery", "power_off"]
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    battery: int | None = Field(default=None, ge=0, le=100)

    @field_validator("lat", "lon", mode="before")
    @classmethod
    def _float(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value


@dataclass(frozen=True)
class StatusPayload:
    """The retained availability message (`online`, or `offline` from the Last Will)."""

    online: bool


def parse_status(payload: bytes) -> StatusPayload | Rejected:
    """`online` / `offline` as plain text or JSON (`"online"`, `{"state": "online"}`, `{"online": true}`)."""
    text = payload.decode("utf-8", "replace").strip()
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = text
    if isinstance(value, dict):
        value = value.get("state", value.get("online"))
    if value in ("online", True):
        return StatusPayload(True)
    if value in ("offline", False):
        return StatusPayload(False)
    return Rejected("invalid", "status")


def parse_payload(
    kind: str, payload: bytes, *, now: dt.datetime, max_future_s: float, max_past_s: float
) -> TelemetryPayload | EventPayload | StatusPayload | Rejected:
    """Validate one payload of a topic kind against the contract and the plausible time window."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        return Rejected("too_large")
    if kind == "status":
        return parse_status(payload)
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Rejected("malformed_json")
    if not isinstance(data, dict):
        return Rejected("malformed_json", "not an object")
    model = TelemetryPayload if kind == "telemetry" else EventPayload
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        return Rejected("invalid", ",".join(str(e["loc"][0]) for e in exc.errors() if e["loc"])[:80])
    except (ValueError, TypeError, OverflowError):
        return Rejected("invalid")
    if parsed.ts > now + dt.timedelta(seconds=max_future_s):
        return Rejected("future_ts")
    if parsed.ts < now - dt.timedelta(seconds=max_past_s):
        return Rejected("stale_ts")
    return parsed
