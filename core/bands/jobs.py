"""Wristband jobs: the alert escalation sweep and folding old raw telemetry into aggregates.

The time-driven band rules (silent, removed, no activity) run from devices/monitor.py, next to the
rule engine they share with the MQTT ingest.
"""

from __future__ import annotations

from core.bands.escalation import sweep_alerts
from core.bands.registry import aggregate_telemetry
from core.container import Services
from core.db import transaction
from core.jobs import Job


def retain_telemetry(services: Services) -> int:
    """Fold raw telemetry older than privacy.telemetry_raw_days into 5-minute aggregates."""
    privacy = services.settings.privacy
    with transaction(services.session_factory) as session:
        return aggregate_telemetry(session, now=services.clock.now(), raw_days=privacy.telemetry_raw_days,
                                   aggregate_days=privacy.telemetry_aggregate_days)


JOBS = [
    Job("alert_sweep", sweep_alerts, every_s=15, doc="tell the next escalation level of alerts that are due"),
    Job("telemetry_retention", retain_telemetry, cron={"hour": 3, "minute": 20},
        doc="fold raw telemetry older than privacy.telemetry_raw_days into 5-minute aggregates"),
]
