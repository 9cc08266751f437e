"""Phone-line jobs: advance help calls whose callbacks never came.

Recordings past retention are deleted by `ops.retention` (core/privacy/records.py), with the
other sensitive data, under the single [privacy] recordings_days setting.
"""

from __future__ import annotations

from core.jobs import Job
from core.phone.dialler import sweep_help_calls

JOBS = [
    Job("help_call_sweep", sweep_help_calls, every_s=10, doc="advance 一键呼叫 legs whose callback never came"),
]
