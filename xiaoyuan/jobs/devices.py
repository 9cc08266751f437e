"""Wristband jobs: the alert escalation sweep, the band checks (silent, removed, no activity), retention."""

from __future__ import annotations

from core.bands.escalation import sweep_alerts
from devices.monitor import check_bands, retain_telemetry
from xiaoyuan.jobs import Job

JOBS = [
    Job("alert_sweep", sweep_alerts, every_s=15, doc="tell the next escalation level of alerts that are due"),
    Job("band_check", check_bands, every_s=60, doc="silent bands, bands left off, no steps for people alone"),
    Job("telemetry_retention", retain_telemetry, cron={"hour": 3, "minute": 20},
        doc="fold raw telemetry older than privacy.telemetry_raw_days into 5-minute aggregates"),
]
