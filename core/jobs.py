"""What the scheduler runs: a named job, how often, and the function that does it.

A job is a plain function taking the process's Services (which carry the session factory and the
clock). Jobs act on "what is due now" and keep their state in the database, so a restart loses and
repeats nothing; the scheduler only decides how often to look. Each area lists its jobs in
`core/<area>/jobs.py`; the composition root collects them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.container import Services


@dataclass(frozen=True)
class Job:
    """One periodic job: `every_s` seconds, or a cron schedule (Asia/Shanghai) like {"hour": 8, "minute": 0}."""

    name: str
    func: Callable[[Services], Any]
    every_s: float | None = None
    cron: dict[str, Any] = field(default_factory=dict)
    doc: str = ""
