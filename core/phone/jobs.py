"""Phone-line jobs: advance help calls whose callbacks never came; forget old webhook receipts.

Recordings past retention are deleted by `ops.retention` (core/privacy/records.py), with the
other sensitive data, under the single [privacy] recordings_days setting.
"""

from __future__ import annotations

from core.container import Services
from core.jobs import Job
from core.phone.dialler import sweep_help_calls
from core.phone.receipts import prune_webhook_receipts


def prune_receipts(services: Services) -> int:
    """Delete webhook receipts older than two days."""
    return prune_webhook_receipts(services.session_factory, now=services.clock.now())


JOBS = [
    Job("help_call_sweep", sweep_help_calls, every_s=10, doc="advance 一键呼叫 legs whose callback never came"),
    Job("webhook_receipt_prune", prune_receipts, cron={"hour": 3, "minute": 40},
        doc="forget webhook receipts older than two days (repeats never come that late)"),
]
