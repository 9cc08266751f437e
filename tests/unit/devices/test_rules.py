"""Alert rules with a fake clock: onset, persistence, clearing, once-a-day, daytime."""

from __future__ import annotations

import datetime as dt

from core.clock import UTC
from devices import rules
from devices.rules import Reading, Thresholds

T0 = dt.datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai
TH = Thresholds()


def feed(readings: list[Reading], th: Thresholds = TH, state: dict | None = None):
    """Run readings through the rules; return final state and every decision."""
    state = dict(state or {})
    out = []
    for reading in readings:
        state, found = rules.evaluate_reading(state, reading, th)
        out += found
    return state, out


def raised(decisions, alert_type):
    return [d for d in decisions if d.action == "raise" and d.type == alert_type]


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def test_high_heart_rate_alerts_only_after_ten_sustained_minutes():
    _, early = feed([Reading(at(m), hr=130) for m in range(0, 10)])
    assert raised(early, "hr_high") == []
    _, late = feed([Reading(at(m), hr=130) for m in range(0, 11)])
    hits = raised(late, "hr_high")
    assert hits and hits[0].severity == "urgent" and hits[0].at == at(10)


def test_one_normal_reading_restarts_the_heart_rate_clock_and_clears():
    readings = [Reading(at(m), hr=130) for m in range(0, 6)] + [Reading(at(6), hr=80)]
    readings += [Reading(at(m), hr=130) for m in range(7, 16)]
    state, decisions = feed(readings)
    assert raised(decisions, "hr_high") == []  # 7..15 is only 8 minutes
    assert any(d.action == "clear" and d.type == "hr_high" for d in decisions)
    assert state["hr_high_since"] == at(7).isoformat()


def test_low_heart_rate_uses_its_own_threshold():
    _, decisions = feed([Reading(at(m), hr=40) for m in range(0, 11)])
    assert raised(decisions, "hr_low") and not raised(decisions, "hr_high")
    _, ok = feed([Reading(at(m), hr=46) for m in range(0, 30)])
    assert raised(ok, "hr_low") == []


def test_single_low_spo2_reading_is_noise_five_minutes_is_an_alert():
    _, blip = feed([Reading(at(0), spo2=85), Reading(at(1), spo2=97), Reading(at(6), spo2=85)])
    assert raised(blip, "spo2_low") == []
    _, sustained = feed([Reading(at(m), spo2=87) for m in range(0, 6)])
    assert raised(sustained, "spo2_low")


def test_temperature_alerts_at_the_thresholds_and_clears():
    _, decisions = feed([Reading(at(0), temp_c=38.0)])
    assert raised(decisions, "temp_high")[0].severity == "warning"
    _, decisions = feed([Reading(at(0), temp_c=35.0)])
    assert raised(decisions, "temp_low")
    _, decisions = feed([Reading(at(0), temp_c=36.6)])
    assert {d.type for d in decisions if d.action == "clear"} >= {"temp_high", "temp_low"}


def test_band_removed_thirty_minutes_in_daytime_only():
    _, day = feed([Reading(at(m), worn=False) for m in range(0, 31)])
    assert raised(day, "removed")
    night_start = dt.datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # 23:00 local
    _, night = feed([Reading(night_start + dt.timedelta(minutes=m), worn=False) for m in range(0, 60)])
    assert raised(night, "removed") == []
    state, back = feed([Reading(at(0), worn=False), Reading(at(5), worn=True)])
    assert "removed_since" not in state and any(d.action == "clear" and d.type == "removed" for d in back)


def test_removed_rule_also_fires_from_the_clock_without_new_readings():
    state, _ = feed([Reading(at(0), worn=False)])
    assert rules.evaluate_removed(state, at(29), TH) == []
    assert rules.evaluate_removed(state, at(30), TH)[0].type == "removed"


def test_low_battery_at_most_once_a_day_and_cleared_after_charging():
    state, first = feed([Reading(at(0), battery=15), Reading(at(60), battery=12)])
    assert len(raised(first, "battery_low")) == 1
    state, charged = feed([Reading(at(120), battery=80)], state=state)
    assert any(d.action == "clear" and d.type == "battery_low" for d in charged)
    _, again_today = feed([Reading(at(180), battery=10)], state=state)
    assert raised(again_today, "battery_low") == []
    _, tomorrow = feed([Reading(at(180 + 24 * 60), battery=10)], state=state)
    assert raised(tomorrow, "battery_low")


def test_any_reading_clears_a_silent_band():
    _, decisions = feed([Reading(at(0))])
    assert any(d.action == "clear" and d.type == "silent" for d in decisions)


def test_silent_band_warning_at_15_minutes_urgent_at_60():
    def silent(minutes, online=True, interval=60):
        return rules.evaluate_silence(last_seen_at=T0, online=online, interval_s=interval, now=at(minutes), th=TH)

    assert silent(14) == []
    assert silent(15)[0].severity == "warning"
    assert silent(59)[0].severity == "warning"
    assert silent(60)[0].severity == "urgent"
    # With a 10-minute reporting interval, 15 minutes of quiet is normal (3 intervals = 30 minutes) …
    assert silent(20, interval=600) == []
    # … unless the broker delivered the band's Last Will (offline).
    assert silent(20, online=False, interval=600)[0].severity == "warning"
    assert rules.evaluate_silence(last_seen_at=None, online=False, interval_s=60, now=at(90), th=TH) == []


def test_sos_and_fall_are_critical_and_immediate_with_location():
    (sos,) = rules.evaluate_event("sos", at(0), {"lat": 29.1, "lon": 106.5})
    assert (sos.action, sos.severity, sos.value) == ("raise", "critical", {"lat": 29.1, "lon": 106.5})
    (fall,) = rules.evaluate_event("fall", at(0), {})
    assert fall.severity == "critical"
    assert rules.evaluate_event("power_off", at(0), {}) == []


def test_no_steps_by_the_configured_hour_only_for_people_living_alone():
    nine = dt.datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 09:00 local
    ten = dt.datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    kw = {"steps_today": 0, "seen_today": True, "th": TH}
    assert rules.evaluate_activity(lives_alone=True, now=nine, **kw) == []
    assert rules.evaluate_activity(lives_alone=True, now=ten, **kw)[0].type == "no_activity"
    assert rules.evaluate_activity(lives_alone=False, now=ten, **kw) == []
    assert rules.evaluate_activity(lives_alone=True, now=ten, steps_today=0, seen_today=False, th=TH) == []
    walked = rules.evaluate_activity(lives_alone=True, now=ten, steps_today=50, seen_today=True, th=TH)
    assert walked[0].action == "clear"


def test_per_resident_overrides_change_the_threshold():
    th = Thresholds.from_config({"hr_high": 120}, {"hr_high": 140, "bogus": 1, "hr_minutes": True})
    assert th.hr_high == 140 and th.hr_minutes == 10
    _, decisions = feed([Reading(at(m), hr=130) for m in range(0, 12)], th=th)
    assert raised(decisions, "hr_high") == []
