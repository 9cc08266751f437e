"""Privacy jobs: delete what is past its retention."""

from __future__ import annotations

from core.jobs import Job
from core.privacy.records import retention_job

JOBS = [
    Job("ops.retention", retention_job, cron={"hour": 3, "minute": 30},
        doc="Delete telemetry, recordings, call logs and bin photos older than [privacy] retention; audited."),
]
