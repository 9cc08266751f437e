"""The scheduler's job list: every area contributes its jobs once, and the README table is what the CLI prints."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from xiaoyuan.cli import _load_command_modules, cli
from xiaoyuan.jobs import all_jobs

README = Path(__file__).resolve().parents[3] / "README.md"


def test_job_names_are_unique_and_each_has_a_timing_and_a_description():
    jobs = all_jobs()
    assert len({job.name for job in jobs}) == len(jobs)
    for job in jobs:
        assert (job.every_s is not None) != bool(job.cron), job.name
        assert job.doc.strip(), job.name


def test_the_readme_lists_exactly_the_jobs_the_worker_runs():
    _load_command_modules()
    printed = CliRunner().invoke(cli, ["jobs", "--markdown"]).output.strip()
    assert printed.startswith("| Job |")
    assert printed in README.read_text(encoding="utf-8")
