"""Scheduled work on requests: overdue supervision, morning digests, follow-ups, reports, reminders.

Every job acts on what is due now and keeps its state in the database; the timings below only decide
how often the worker looks. The worker also runs every job once when it becomes active (catch-up).
"""

from __future__ import annotations

from core.jobs import Job
from core.requests.followup import followup_sweep
from core.requests.reminders import award_monthly_base_points, reminder_sweep
from core.requests.reports import push_reports
from core.requests.supervision import send_morning_digests, supervise_overdue

JOBS = [
    Job("ops.supervise_overdue", supervise_overdue, every_s=600,
        doc="挂牌督办: overdue → assignee; 2× due span → village; 3× → town 指挥中心, 挂牌 (each step once)."),
    Job("ops.morning_digest", send_morning_digests, every_s=900,
        doc="Each staff member's open / overdue items through their channel, once a day from 08:00 (until 20:00)."),
    Job("ops.followup_sweep", followup_sweep, every_s=300,
        doc="闭环回访: ask about resolved requests (TV question or call), retry once, else close as unevaluated."),
    Job("ops.push_reports", push_reports, every_s=900,
        doc="From 07:00 (until 20:00) push yesterday's 日通报 (Mon–Wed also last week's 周小结, days 1–5 last "
            "month's 月总结) as short text to village and town staff, once each."),
    Job("ops.reminders", reminder_sweep, every_s=300,
        doc="Place due reminder calls (按1确认); unconfirmed medication or appointment reminders go to the caregiver."),
    Job("ops.monthly_base_points", award_monthly_base_points, cron={"hour": 6, "minute": 0},
        doc="积分制 villages: base points per household, once per month (off unless [ops] monthly_base_points > 0)."),
]
