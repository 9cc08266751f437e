"""Phone-line jobs: advance help calls whose callbacks never came; delete recordings past retention."""

from __future__ import annotations

import logging

from core.container import Services
from core.db import transaction
from core.services.calls import expired_recordings
from core.services.dialler import sweep_help_calls
from xiaoyuan.jobs import Job

log = logging.getLogger(__name__)


def purge_recordings(services: Services) -> int:
    """Delete local copies of recordings older than [voice] recordings_days and forget their URLs."""
    days = int(services.settings.section("voice").get("recordings_days", services.settings.privacy.recordings_days))
    removed = 0
    with transaction(services.session_factory) as session:
        for recording in expired_recordings(session, now=services.clock.now(), days=days):
            if recording.local_file:
                path = services.settings.data_dir / recording.local_file
                path.unlink(missing_ok=True)
            recording.local_file = None
            recording.recording_url = ""
            removed += 1
    if removed:
        log.info("deleted %d call recordings past retention (%d days)", removed, days)
    return removed


JOBS = [
    Job("help_call_sweep", sweep_help_calls, every_s=10, doc="advance 一键呼叫 legs whose callback never came"),
    Job("recordings_retention", purge_recordings, cron={"hour": 3, "minute": 30}, doc="delete old call recordings"),
]
