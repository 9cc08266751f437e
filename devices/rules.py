"""Alert rules as pure functions: readings, events and the passing of time in, decisions out.

No database, no broker, no wall clock: every function takes the time it should reason about and
the band's small rule state (a dict persisted on the band), and returns the new state plus
`Decision`s. Raising is idempotent (one open alert per resident and type) and so is clearing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from core.bands.config import ThresholdSettings
from core.clock import LOCAL_TZ, as_utc

# type -> (severity, condition?) ; condition alerts clear themselves when the condition ends.
ALERT_TYPES: dict[str, tuple[str, bool]] = {
    "sos": ("critical", False),
    "fall": ("critical", False),
    "hr_high": ("urgent", True),
    "hr_low": ("urgent", True),
    "spo2_low": ("urgent", True),
    "temp_high": ("warning", True),
    "temp_low": ("urgent", True),
    "removed": ("warning", True),
    "silent": ("warning", True),
    "battery_low": ("warning", True),
    "no_activity": ("warning", True),
}
CONDITION_TYPES = frozenset(t for t, (_, cond) in ALERT_TYPES.items() if cond)
_DEFAULTS = ThresholdSettings()


@dataclass(frozen=True)
class Thresholds:
    """Alert thresholds: `[devices.thresholds]` (defaults in core/bands/config.py), overridden per resident."""

    hr_high: int = _DEFAULTS.hr_high
    hr_low: int = _DEFAULTS.hr_low
    hr_minutes: float = _DEFAULTS.hr_minutes
    spo2_low: int = _DEFAULTS.spo2_low
    spo2_minutes: float = _DEFAULTS.spo2_minutes
    temp_high: float = _DEFAULTS.temp_high
    temp_low: float = _DEFAULTS.temp_low
    removed_minutes: float = _DEFAULTS.removed_minutes
    day_start_hour: int = _DEFAULTS.day_start_hour
    day_end_hour: int = _DEFAULTS.day_end_hour
    silent_intervals: int = _DEFAULTS.silent_intervals
    silent_warning_minutes: float = _DEFAULTS.silent_warning_minutes
    silent_urgent_minutes: float = _DEFAULTS.silent_urgent_minutes
    battery_low: int = _DEFAULTS.battery_low
    battery_clear: int = _DEFAULTS.battery_clear
    steps_by_hour: int = _DEFAULTS.steps_by_hour
    raw_days: int = _DEFAULTS.raw_days

    @classmethod
    def from_config(cls, defaults: Mapping[str, Any] | None, overrides: Mapping[str, Any] | None = None) -> Thresholds:
        """Thresholds from the config section, then per-resident overrides; unknown keys are ignored."""
        names = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for source in (defaults or {}, overrides or {}):
            for key, value in source.items():
                if key in names and isinstance(value, (int, float)) and not isinstance(value, bool):
                    values[key] = value
        return cls(**values)


@dataclass(frozen=True)
class Reading:
    """One validated telemetry message (only the fields the band sent are set)."""

    ts: dt.datetime
    hr: int | None = None
    spo2: int | None = None
    temp_c: float | None = None
    steps: int | None = None
    battery: int | None = None
    worn: bool | None = None


@dataclass(frozen=True)
class Decision:
    """Raise (or keep raised) an alert of a type, or clear it."""

    action: str  # "raise" | "clear"
    type: str
    at: dt.datetime
    severity: str = ""
    value: dict[str, Any] = field(default_factory=dict)


def raise_(alert_type: str, at: dt.datetime, severity: str | None = None, **value: Any) -> Decision:
    """A raise decision with the type's default severity."""
    return Decision("raise", alert_type, at, severity or ALERT_TYPES[alert_type][0], dict(value))


def clear(alert_type: str, at: dt.datetime) -> Decision:
    """A clear decision (a no-op when no alert of that type is open)."""
    return Decision("clear", alert_type, at)


def _iso(value: dt.datetime) -> str:
    return as_utc(value).isoformat()


def _since(state: Mapping[str, Any], key: str) -> dt.datetime | None:
    raw = state.get(key)
    return dt.datetime.fromisoformat(raw) if raw else None


def _sustained(
    state: dict[str, Any], key: str, holds: bool, ts: dt.datetime, minutes: float, alert_type: str, **value: Any
) -> list[Decision]:
    """Track the onset of a condition; raise once it has held `minutes`, clear when it stops."""
    if not holds:
        state.pop(key, None)
        return [clear(alert_type, ts)]
    onset = _since(state, key)
    if onset is None or onset > ts:
        onset = ts
        state[key] = _iso(ts)
    if ts - onset >= dt.timedelta(minutes=minutes):
        return [raise_(alert_type, ts, since=_iso(onset), **value)]
    return []


def is_daytime(when: dt.datetime, th: Thresholds) -> bool:
    """Whether a moment is within local daytime (Asia/Shanghai) for the removed-band rule."""
    hour = as_utc(when).astimezone(LOCAL_TZ).hour
    return th.day_start_hour <= hour < th.day_end_hour


def evaluate_reading(
    state: Mapping[str, Any], reading: Reading, th: Thresholds
) -> tuple[dict[str, Any], list[Decision]]:
    """Apply one telemetry reading to the rule state; return the new state and the decisions."""
    new = dict(state)
    ts = as_utc(reading.ts)
    out: list[Decision] = []
    if reading.hr is not None:
        out += _sustained(new, "hr_high_since", reading.hr > th.hr_high, ts, th.hr_minutes, "hr_high", hr=reading.hr)
        out += _sustained(new, "hr_low_since", reading.hr < th.hr_low, ts, th.hr_minutes, "hr_low", hr=reading.hr)
    if reading.spo2 is not None:
        out += _sustained(
            new, "spo2_low_since", reading.spo2 < th.spo2_low, ts, th.spo2_minutes, "spo2_low", spo2=reading.spo2
        )
    if reading.temp_c is not None:
        out.append(raise_("temp_high", ts, temp_c=reading.temp_c) if reading.temp_c >= th.temp_high
                   else clear("temp_high", ts))
        out.append(raise_("temp_low", ts, temp_c=reading.temp_c) if reading.temp_c <= th.temp_low
                   else clear("temp_low", ts))
    if reading.worn is not None:
        if reading.worn:
            new.pop("removed_since", None)
            out.append(clear("removed", ts))
        else:
            new.setdefault("removed_since", _iso(ts))
            out += evaluate_removed(new, ts, th)
    if reading.battery is not None:
        out += evaluate_battery(new, reading.battery, ts, th)
    if reading.steps is not None and reading.steps > 0:
        out.append(clear("no_activity", ts))
    # Any message proves the band is alive.
    out.append(clear("silent", ts))
    return new, out


def evaluate_removed(state: Mapping[str, Any], now: dt.datetime, th: Thresholds) -> list[Decision]:
    """Raise the removed-band alert once the band has been off the wrist long enough in daytime."""
    onset = _since(state, "removed_since")
    if onset is None or not is_daytime(now, th):
        return []
    if as_utc(now) - onset >= dt.timedelta(minutes=th.removed_minutes):
        return [raise_("removed", as_utc(now), since=_iso(onset))]
    return []


def evaluate_battery(state: dict[str, Any], battery: int, ts: dt.datetime, th: Thresholds) -> list[Decision]:
    """Low battery at most once per local day; cleared once it has been charged."""
    if battery >= th.battery_clear:
        return [clear("battery_low", ts)]
    if battery > th.battery_low:
        return []
    today = as_utc(ts).astimezone(LOCAL_TZ).date().isoformat()
    if state.get("battery_alert_day") == today:
        return []
    state["battery_alert_day"] = today
    return [raise_("battery_low", ts, battery=battery)]


def evaluate_event(event_type: str, ts: dt.datetime, payload: Mapping[str, Any]) -> list[Decision]:
    """Decisions for one device event (SOS and fall are critical and immediate)."""
    ts = as_utc(ts)
    where = {k: payload[k] for k in ("lat", "lon") if isinstance(payload.get(k), (int, float))}
    if event_type in ("sos", "fall"):
        return [raise_(event_type, ts, **where)]
    if event_type == "low_battery" and isinstance(payload.get("battery"), int):
        return []  # handled through the battery value in telemetry / the state (see evaluate_battery)
    return []


def evaluate_silence(
    *, last_seen_at: dt.datetime | None, online: bool, interval_s: int, now: dt.datetime, th: Thresholds
) -> list[Decision]:
    """A band is silent when its Last Will said offline or nothing came for `silent_intervals` intervals.

    Silence is measured from the band's last message: a warning at `silent_warning_minutes`,
    urgent at `silent_urgent_minutes`. A band that never reported is not yet in service.
    """
    if last_seen_at is None:
        return []
    now = as_utc(now)
    quiet_from = as_utc(last_seen_at)
    silent_for = now - quiet_from
    silent = (not online) or silent_for >= dt.timedelta(seconds=th.silent_intervals * interval_s)
    if not silent:
        return []
    minutes = silent_for.total_seconds() / 60
    if minutes >= th.silent_urgent_minutes:
        return [raise_("silent", now, "urgent", since=_iso(quiet_from), minutes=int(minutes))]
    if minutes >= th.silent_warning_minutes:
        return [raise_("silent", now, "warning", since=_iso(quiet_from), minutes=int(minutes))]
    return []


def evaluate_activity(
    *, lives_alone: bool, steps_today: int | None, seen_today: bool, now: dt.datetime, th: Thresholds
) -> list[Decision]:
    """A resident living alone whose band reported today but counted no steps by the configured hour."""
    local = as_utc(now).astimezone(LOCAL_TZ)
    if not lives_alone or local.hour < th.steps_by_hour or not seen_today:
        return []
    if steps_today:
        return [clear("no_activity", as_utc(now))]
    return [raise_("no_activity", as_utc(now), by_hour=th.steps_by_hour)]
