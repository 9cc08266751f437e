"""The scheduler's job list: every module in this package contributes a `JOBS` list.

A job is a plain function taking the process's Services (which carry the session factory and the
clock). Jobs act on "what is due now" and keep their state in the database, so a restart loses and
repeats nothing; the scheduler only decides how often to look.
"""

from __future__ import annotations

import importlib
import pkgutil
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


def all_jobs() -> list[Job]:
    """Every job of every module in this package, in module order."""
    jobs: list[Job] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        jobs.extend(getattr(module, "JOBS", []))
    return jobs
