"""The scheduler's job list: every area's `JOBS`, in the order `xiaoyuan jobs` prints them."""

from __future__ import annotations

from core.bands import jobs as bands
from core.community import jobs as community
from core.jobs import Job
from core.phone import jobs as phone
from core.privacy import jobs as privacy
from core.requests import jobs as requests
from devices import monitor as band_checks

__all__ = ["Job", "all_jobs"]


def all_jobs() -> list[Job]:
    """Every scheduled job of every area."""
    return [*bands.JOBS, *band_checks.JOBS, *requests.JOBS, *privacy.JOBS, *community.JOBS, *phone.JOBS]
