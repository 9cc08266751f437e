"""What a watch frame means (pure): its reply, and the telemetry and events it becomes on the MQTT contract.

`LK` (link keep-alive, optionally steps,rolls,battery) → reply `LK`; `INIT` → `INIT,1`; `TKQ`/`TKQ2`
→ echo. `UD*`/`WT*` (position) → telemetry; `AL*` (alarm, with the same position block) → reply `AL`,
events for the status bits (16 SOS, 21/22 fall, 20 removed, 0/17 low battery) and telemetry.
`bphrt`/`blood`, `heart`/`pulse`, `btemp2` → telemetry. Everything else is `known=False` (logged and
counted by the server). Replies to our own commands (`CR`, `UPLOAD`, `SOS1`, …) come back as `ack`.

An event's `seq` is derived from the frame itself (the watch's own timestamp and the event type), so
an `AL` the watch sends again after a reconnect carries the same seq and the listener records it once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, cast

from annotated_types import Ge, Le

from core.clock import UTC
from devices.schemas import TelemetryPayload
from devices.watch.frames import Frame

# Status bits of the position block (what vendors' protocol sheets and Traccar's decoder agree on).
STATUS_EVENTS: tuple[tuple[tuple[int, ...], str], ...] = (
    ((16,), "sos"), ((21, 22), "fall"), ((20,), "removed"), ((0, 17), "low_battery"),
)
REMOVED_BIT = 20
EVENT_CODES = {"sos": 1, "fall": 2, "removed": 3, "low_battery": 4}
POSITION_TYPES = ("UD", "AL", "WT")
HEALTH_TYPES = ("bphrt", "blood", "heart", "pulse", "btemp2")
# Answers of a watch to the commands the gateway sends it (slice 2 matches them to what is pending).
COMMAND_ACKS = frozenset({"CR", "UPLOAD", "SOS1", "SOS2", "SOS3", "SOS", "PHB", "PHB2", "REMOVE", "LOWBAT",
                          "RESET", "FIND"})
# A watch's clock further off than this is not trusted for `ts` (the gateway's receive time is used).
MAX_CLOCK_AHEAD = dt.timedelta(minutes=5)
MAX_CLOCK_BEHIND = dt.timedelta(days=6)
_DATE = re.compile(r"^\d{6}$")


def _limits() -> dict[str, tuple[float | None, float | None]]:
    """The contract's plausible range per telemetry field, read from the schema (one source of truth)."""
    out: dict[str, tuple[float | None, float | None]] = {}
    for name, info in TelemetryPayload.model_fields.items():
        low = next((float(cast("float", m.ge)) for m in info.metadata if isinstance(m, Ge)), None)
        high = next((float(cast("float", m.le)) for m in info.metadata if isinstance(m, Le)), None)
        out[name] = (low, high)
    return out


LIMITS = _limits()


@dataclass(frozen=True)
class WatchEvent:
    """An event payload for the `event` topic (`ts` as Unix seconds)."""

    type: str
    seq: int
    ts: float
    lat: float | None = None
    lon: float | None = None
    battery: int | None = None

    def payload(self) -> dict[str, Any]:
        """The contract's JSON object."""
        out: dict[str, Any] = {"ts": self.ts, "seq": self.seq, "type": self.type}
        for name in ("lat", "lon", "battery"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True)
class Decoded:
    """What to answer and what to publish for one frame."""

    type: str
    known: bool = True
    reply: str | None = None
    telemetry: dict[str, Any] | None = None  # the contract's telemetry payload, with `ts`
    events: tuple[WatchEvent, ...] = ()
    ack: bool = False  # the watch answered one of our commands
    malformed: bool = False  # a known type whose values could not be read
    extra: dict[str, Any] = field(default_factory=dict)


def _plausible(name: str, value: float | int | None) -> float | int | None:
    """The value, or None when the contract would reject it (a watch sends 0 for "no measurement")."""
    if value is None:
        return None
    low, high = LIMITS.get(name, (None, None))
    if (low is not None and value < low) or (high is not None and value > high):
        return None
    return value


def _int(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def _float(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


def device_time(date: str, time: str) -> dt.datetime | None:
    """The watch's `ddmmyy`, `hhmmss` as a naive datetime, None when it is not a real time."""
    if not (_DATE.match(date) and _DATE.match(time)):
        return None
    try:
        return dt.datetime(2000 + int(date[4:6]), int(date[2:4]), int(date[0:2]),
                           int(time[0:2]), int(time[2:4]), int(time[4:6]))
    except ValueError:
        return None


def event_seq(kind: str, clock: dt.datetime | None, content: bytes) -> int:
    """A seq stable across resends: from the watch's own time (as written, no zone) and the event type, or,
    when the watch has no valid time, from a hash of the frame's content (above 2**48, so never equal)."""
    code = EVENT_CODES[kind]
    if clock is not None:
        return int(clock.replace(tzinfo=UTC).timestamp()) * 16 + code
    digest = int.from_bytes(hashlib.blake2b(content, digest_size=6).digest(), "big")
    return (2**48 + digest) * 16 + code


def _coordinate(value: str, hemisphere: str, negative: str) -> float | None:
    number = _float(value)
    if number is None:
        return None
    return -abs(number) if hemisphere == negative else number


def decode_position(frame: Frame, received_at: dt.datetime, utc_offset: dt.timedelta) -> Decoded:
    """`UD`/`AL`/`WT` (and their _LTE, 2 … variants): telemetry, and events for an alarm frame."""
    kind = frame.type
    alarm = kind.startswith("AL")
    reply = "AL" if alarm else None
    values = frame.fields
    if len(values) < 16:
        return Decoded(kind, reply=reply, malformed=True)
    clock = device_time(values[0], values[1])
    ts = received_at
    if clock is not None:
        sent = (clock - utc_offset).replace(tzinfo=UTC)
        if received_at - MAX_CLOCK_BEHIND <= sent <= received_at + MAX_CLOCK_AHEAD:
            ts = sent
    lat = lon = None
    if values[2] == "A":
        lat = _plausible("lat", _coordinate(values[3], values[4], "S"))
        lon = _plausible("lon", _coordinate(values[5], values[6], "W"))
        if lat == 0 and lon == 0:
            lat = lon = None
    battery = _plausible("battery", _int(values[12]))
    steps = _plausible("steps", _int(values[13]))
    try:
        status = int(values[15].strip(), 16)
    except ValueError:
        return Decoded(kind, reply=reply, malformed=True)
    telemetry: dict[str, Any] = {"ts": ts.timestamp(), "worn": not status >> REMOVED_BIT & 1}
    for name, value in (("battery", battery), ("steps", steps), ("lat", lat), ("lon", lon)):
        if value is not None:
            telemetry[name] = value
    events: list[WatchEvent] = []
    if alarm:
        for bits, event_type in STATUS_EVENTS:
            if any(status >> bit & 1 for bit in bits):
                events.append(WatchEvent(event_type, event_seq(event_type, clock, frame.content), ts.timestamp(),
                                         lat, lon, None if battery is None else int(battery)))
    return Decoded(kind, reply=reply, telemetry=telemetry, events=tuple(events),
                   extra={"motion": bool(status >> 4 & 1), "status": status})


def decode_health(frame: Frame, received_at: dt.datetime) -> Decoded:
    """Blood pressure, heart rate and temperature frames (no time of their own: the receive time)."""
    kind = frame.type
    name = kind.lower()
    values = [v.strip() for v in frame.fields]
    telemetry: dict[str, Any] = {"ts": received_at.timestamp()}
    if name == "btemp2":
        if len(values) < 2 or _int(values[0]) is None:
            return Decoded(kind, malformed=True)
        temp = _float(values[1]) if _int(values[0]) else None
        if temp is not None and _plausible("temp_c", temp) is not None:
            telemetry["temp_c"] = round(temp, 1)
    else:
        numbers = [_int(v) for v in values]
        if name in ("bphrt", "blood"):
            if len(numbers) < 2 or numbers[0] is None or numbers[1] is None:
                return Decoded(kind, malformed=True)
            for key, value in (("sbp", numbers[0]), ("dbp", numbers[1])):
                if _plausible(key, value) is not None:
                    telemetry[key] = value
            numbers = numbers[2:]
        if name in ("heart", "pulse") and (not numbers or numbers[0] is None):
            return Decoded(kind, malformed=True)
        if numbers and _plausible("hr", numbers[0]) is not None:
            telemetry["hr"] = numbers[0]
    return Decoded(kind, telemetry=telemetry if len(telemetry) > 1 else None)


def decode_link(frame: Frame, received_at: dt.datetime) -> Decoded:
    """`LK[,steps,rolls,battery]`: answered `LK`; the values, when present, are telemetry."""
    values = frame.fields
    telemetry = None
    if len(values) >= 3:
        steps = _plausible("steps", _int(values[0]))
        battery = _plausible("battery", _int(values[2]))
        found = {k: v for k, v in (("steps", steps), ("battery", battery)) if v is not None}
        if found:
            telemetry = {"ts": received_at.timestamp(), **found}
    return Decoded(frame.type, reply="LK", telemetry=telemetry)


def decode_frame(frame: Frame, *, received_at: dt.datetime, utc_offset: dt.timedelta = dt.timedelta(0)) -> Decoded:
    """Decode one frame. `utc_offset` is the zone the watches' clocks are set to (they send local time)."""
    kind = frame.type
    if kind == "LK":
        return decode_link(frame, received_at)
    if kind == "INIT":
        return Decoded(kind, reply="INIT,1")
    if kind in ("TKQ", "TKQ2"):
        return Decoded(kind, reply=kind)
    if kind.startswith(POSITION_TYPES):
        return decode_position(frame, received_at, utc_offset)
    if kind.lower() in HEALTH_TYPES:
        return decode_health(frame, received_at)
    if kind in COMMAND_ACKS:
        return Decoded(kind, ack=True)
    return Decoded(kind, known=False)
