"""Time-driven band rules, run by the scheduler: silent bands, bands left off the wrist, no activity.

They stay next to the rule engine (devices/rules.py) and the decision applier (devices/ingest.py) that
the MQTT ingest uses, so a silent band and a live reading change the same rule state the same way.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from core.bands.escalation import EscalationConfig
from core.clock import LOCAL_TZ, as_utc
from core.container import Services
from core.jobs import Job
from core.models.devices import Band, TelemetryReading
from core.models.places import Resident
from devices import rules
from devices.ingest import apply_decisions, open_alert_severities

log = logging.getLogger(__name__)


def check_bands(services: Services) -> int:
    """Evaluate the silence, removed and no-activity rules for every active band; return decisions acted on."""
    now = services.clock.now()
    defaults = services.settings.devices.thresholds.model_dump()
    escalation = EscalationConfig.from_settings(services.settings)
    local_midnight = as_utc(now).astimezone(LOCAL_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    acted = 0
    with services.session_factory() as session, session.begin():
        bands = list(session.scalars(sa.select(Band).where(Band.active.is_(True)).order_by(Band.id)))
        open_alerts = open_alert_severities(session, bands)
        alone = set(session.scalars(sa.select(Resident.id).where(Resident.lives_alone.is_(True))))
        for band in bands:
            th = rules.Thresholds.from_config(defaults, band.thresholds)
            decisions = rules.evaluate_silence(last_seen_at=band.last_seen_at, online=band.online,
                                               interval_s=band.interval_s, now=now, th=th)
            state = dict(band.rule_state or {})
            decisions += rules.evaluate_removed(state, now, th)
            today = local_midnight.date().isoformat()
            if (band.resident_id in alone and state.get("activity_day") != today
                    and as_utc(now).astimezone(LOCAL_TZ).hour >= th.steps_by_hour):
                seen_today = band.last_seen_at is not None and band.last_seen_at >= local_midnight
                steps = session.scalar(sa.select(sa.func.max(TelemetryReading.steps)).where(
                    TelemetryReading.band_id == band.id, TelemetryReading.ts >= local_midnight)) if seen_today else None
                found = rules.evaluate_activity(lives_alone=True, steps_today=steps, seen_today=seen_today,
                                                now=now, th=th)
                if any(d.action == "raise" for d in found) or steps:
                    state["activity_day"] = today  # decided for today: at most one such alert a day
                    band.rule_state = state
                decisions += found
            if decisions:
                apply_decisions(session, band, decisions, now=now, open_alerts=open_alerts, escalation=escalation)
                acted += len(decisions)
    return acted



JOBS = [
    Job("band_check", check_bands, every_s=60, doc="silent bands, bands left off, no steps for people alone"),
]
