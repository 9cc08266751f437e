"""Community jobs: tell the 院长 when a resident living alone has not pressed 我很好; forget stale TV boxes."""

from __future__ import annotations

import logging

from core.community.checkins import parse_deadline, remind_missing_checkins
from core.community.tvboxes import TvConfig, forget_stale_boxes
from core.container import Services
from core.db import transaction
from core.jobs import Job

log = logging.getLogger(__name__)


def remind_missing_checkins_job(services: Services) -> int:
    """After [tv] checkin_deadline (default 10:00 local), queue one message per resident and day."""
    config = TvConfig.from_settings(services.settings)
    with transaction(services.session_factory) as session:
        queued = remind_missing_checkins(session, now=services.clock.now(),
                                         deadline=parse_deadline(config.checkin_deadline),
                                         only_tv_households=config.checkin_only_tv_households)
    if queued:
        log.info("check-in reminders queued: %d", queued)
    return queued


def forget_stale_boxes_job(services: Services) -> int:
    """Delete boxes that showed a pairing code but were never paired within two days."""
    with transaction(services.session_factory) as session:
        return forget_stale_boxes(session, now=services.clock.now())


JOBS = [
    Job(name="tv.checkin_reminders", func=remind_missing_checkins_job, every_s=300,
        doc="独居老人到点没按“我很好”就通知院长（每人每天一次）"),
    Job(name="tv.forget_stale_boxes", func=forget_stale_boxes_job, cron={"hour": 3, "minute": 30},
        doc="删除两天内没有配对的机顶盒记录"),
]
