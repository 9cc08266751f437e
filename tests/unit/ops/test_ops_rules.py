"""Pure rules of scheduled operations: escalation levels, calling hours, periods, percentiles, scheduling."""

from __future__ import annotations

import datetime as dt

import pytest

from core.clock import LOCAL_TZ, UTC
from core.jobs import Job
from core.requests.followup import choose_channel, next_call_time
from core.requests.reminders import default_call_at
from core.requests.reports import due_reports, median_p90, period_bounds
from core.requests.supervision import Digest, level_due, render_digest
from xiaoyuan.scheduler import CRON_MISFIRE_GRACE_S, build_scheduler, make_trigger, misfire_grace_s

T0 = dt.datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
DAY = dt.timedelta(hours=24)


@pytest.mark.parametrize(("hours", "level"), [(23.9, 0), (24, 1), (47.9, 1), (48, 2), (71.9, 2), (72, 3), (500, 3)])
def test_overdue_levels_climb_at_one_two_and_three_due_spans(hours, level):
    assert level_due(T0, DAY, T0 + dt.timedelta(hours=hours)) == level


def test_calls_only_inside_calling_hours():
    at = dt.datetime
    assert next_call_time(at(2026, 11, 26, 10, 0, tzinfo=LOCAL_TZ), 9, 20) == at(2026, 11, 26, 10, 0, tzinfo=LOCAL_TZ)
    assert next_call_time(at(2026, 11, 26, 7, 0, tzinfo=LOCAL_TZ), 9, 20) == at(2026, 11, 26, 9, 0, tzinfo=LOCAL_TZ)
    assert next_call_time(at(2026, 11, 26, 20, 0, tzinfo=LOCAL_TZ), 9, 20) == at(2026, 11, 27, 9, 0, tzinfo=LOCAL_TZ)


@pytest.mark.parametrize(("attempt", "tv", "phone", "expected"), [
    (1, True, True, "tv"), (2, True, True, "voice_call"), (2, True, False, "tv"),
    (1, False, True, "voice_call"), (1, False, False, None),
])
def test_tv_households_are_asked_on_the_tv_first(attempt, tv, phone, expected):
    assert choose_channel(attempt, tv, phone) == expected


def test_periods_are_local_days_iso_weeks_and_months():
    thursday = dt.date(2026, 11, 26)
    assert period_bounds("daily", thursday) == (thursday, dt.date(2026, 11, 27))
    assert period_bounds("weekly", thursday) == (dt.date(2026, 11, 23), dt.date(2026, 11, 30))
    assert period_bounds("monthly", dt.date(2026, 12, 31)) == (dt.date(2026, 12, 1), dt.date(2027, 1, 1))


def test_median_and_nearest_rank_p90():
    assert median_p90([]) == (None, None)
    assert median_p90([5.0]) == (5.0, 5.0)
    assert median_p90([float(x) for x in range(1, 11)]) == (5.5, 9.0)
    assert median_p90([float(x) for x in range(1, 12)]) == (6.0, 10.0)


def test_reports_due_on_a_day():
    assert due_reports(dt.date(2026, 11, 26)) == [("daily", dt.date(2026, 11, 25))]
    monday = due_reports(dt.date(2026, 11, 30))
    assert ("weekly", dt.date(2026, 11, 29)) in monday  # the week of Mon 23 – Sun 29
    first = due_reports(dt.date(2026, 12, 1))
    assert ("monthly", dt.date(2026, 11, 30)) in first


def test_reminder_calls_at_8_or_an_hour_before_an_early_event():
    nine = dt.datetime(2026, 11, 28, 9, 0, tzinfo=LOCAL_TZ)
    assert default_call_at(nine, 8) == dt.datetime(2026, 11, 28, 8, 0, tzinfo=LOCAL_TZ)
    seven = dt.datetime(2026, 11, 28, 7, 0, tzinfo=LOCAL_TZ)
    assert default_call_at(seven, 8) == dt.datetime(2026, 11, 28, 6, 0, tzinfo=LOCAL_TZ)


def test_digest_text_names_counts_and_oldest_items():
    text = render_digest("李院长", Digest(3, 1, 1, [(12, "维修", "椒香小院", 26)]))
    assert text == "早上好，李院长：待办工单3张，其中超期1张、挂牌督办1张。超期最久：#12 维修（椒香小院）超期26小时。"


def _noop(_services: object) -> None:
    """Does nothing."""


def test_scheduler_is_configured_not_to_drop_or_overlap_runs():
    every = Job("every", _noop, every_s=300)
    daily = Job("daily", _noop, cron={"hour": 8, "minute": 0})
    assert misfire_grace_s(every) == 300 and misfire_grace_s(daily) == CRON_MISFIRE_GRACE_S
    assert str(make_trigger(daily).timezone) == "Asia/Shanghai"
    with pytest.raises(ValueError, match="neither"):
        make_trigger(Job("broken", _noop))
    scheduler = build_scheduler([every, daily], lambda job: None)
    jobs = {j.id: j for j in scheduler.get_jobs()}
    assert set(jobs) == {"every", "daily"}
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time >= 300  # never APScheduler's silent 1 s default
        assert job.next_run_time is not None  # catch-up: runs once right away when the worker becomes active
