"""Pure dispatch rules: which channels, how long to wait, what happens after each kind of answer."""

from __future__ import annotations

import pytest

from core.notify.base import Delivery
from core.notify.dispatcher import (
    DispatchStats,
    backoff_delay,
    channel_idempotency_key,
    decide,
    merge_error,
    plan_channels,
)

RULES = {"max_attempts": 3, "jitter": 0.0, "base_s": 10, "max_s": 3600}


def test_default_expands_in_place_and_repeats_are_dropped() -> None:
    """"default" becomes the configured channels where it stands; a channel is never tried twice."""
    assert plan_channels("default", [], ["wecom", "dryrun"]) == ("wecom", "dryrun")
    assert plan_channels("twilio_sms", ["default"], ["wecom", "twilio_sms"]) == ("twilio_sms", "wecom")
    assert plan_channels("webhook", ["webhook", "dryrun"], ["x"]) == ("webhook", "dryrun")
    assert plan_channels("default", [], []) == ()


@pytest.mark.parametrize(("attempts", "ceiling"),
                         [(1, 10), (2, 20), (3, 40), (4, 80), (9, 2560), (10, 3600), (30, 3600)])
def test_backoff_doubles_to_a_cap(attempts: int, ceiling: float) -> None:
    """Each failure doubles the wait from the base, never beyond the maximum."""
    assert backoff_delay(attempts, 10, 3600, jitter=0.9999999) == pytest.approx(ceiling, rel=1e-6)
    assert backoff_delay(attempts, 10, 3600, jitter=0.0) == pytest.approx(ceiling / 2)


def test_jitter_spreads_retries_within_the_upper_half() -> None:
    """Messages that failed together (provider outage) come back spread out, never sooner than half the ceiling."""
    delays = [backoff_delay(3, 10, 3600, jitter=j / 10) for j in range(10)]
    assert delays == sorted(delays) and len(set(delays)) == 10
    assert min(delays) == 20 and max(delays) < 40


def test_jitter_out_of_range_is_clamped() -> None:
    """A bad random source cannot produce a negative or oversized wait."""
    assert backoff_delay(1, 10, 3600, jitter=-5) == 5
    assert backoff_delay(1, 10, 3600, jitter=7) == 10


def test_success_and_dry_run() -> None:
    """Accepted → sent; dry-run → not_sent (shown as 未发送 in the console)."""
    assert decide(Delivery(ok=True), attempts=2, channels=("a",), **RULES).outcome == "sent"
    assert decide(Delivery(ok=True, not_sent=True), attempts=0, channels=("a",), **RULES).outcome == "not_sent"


def test_transient_failure_retries_until_max_attempts_then_falls_back() -> None:
    """max_attempts tries on one channel, then the next channel starts from zero."""
    failure = Delivery(ok=False, error="HTTP 503")
    first = decide(failure, attempts=0, channels=("sms", "wecom"), **RULES)
    assert (first.outcome, first.attempts, first.delay_s) == ("retry", 1, 5.0)
    second = decide(failure, attempts=1, channels=("sms", "wecom"), **RULES)
    assert (second.outcome, second.attempts, second.delay_s) == ("retry", 2, 10.0)
    third = decide(failure, attempts=2, channels=("sms", "wecom"), **RULES)
    assert (third.outcome, third.attempts, third.channels) == ("fallback", 0, ("wecom",))
    assert third.error == "HTTP 503 (3 次)"


def test_permanent_failure_skips_retries() -> None:
    """A bad number is not retried: fall back at once, or fail when nothing is left."""
    failure = Delivery(ok=False, permanent=True, error="invalid number")
    assert decide(failure, attempts=0, channels=("sms", "wecom"), **RULES).outcome == "fallback"
    final = decide(failure, attempts=0, channels=("wecom",), **RULES)
    assert (final.outcome, final.error) == ("failed", "invalid number")


def test_last_channel_exhausted_fails() -> None:
    """When the last channel has used up its attempts the row fails visibly."""
    assert decide(Delivery(ok=False), attempts=2, channels=("wecom",), **RULES).outcome == "failed"


def test_channel_keys_are_stable_and_distinct() -> None:
    """The same row and channel always give the same key (crash re-send); other channels get another."""
    assert channel_idempotency_key("abc", "webhook") == channel_idempotency_key("abc", "webhook")
    assert channel_idempotency_key("abc", "webhook") != channel_idempotency_key("abc", "wecom")
    assert len(channel_idempotency_key("f" * 32, "twilio_sms")) <= 64


def test_errors_keep_one_line_per_channel() -> None:
    """The console shows the latest reason for each channel tried, not an endless retry log."""
    errors = merge_error("", "sms", "HTTP 503")
    errors = merge_error(errors, "sms", "timeout")
    errors = merge_error(errors, "wecom", "errcode 93000")
    assert errors.splitlines() == ["sms: timeout", "wecom: errcode 93000"]
    long = merge_error("", "x", "e" * 5000)
    assert len(long) <= 1000 and long.startswith("…")


def test_stats_snapshot_has_every_outcome() -> None:
    """/metrics shows zero counters before anything happened (rates work from the first scrape)."""
    stats = DispatchStats()
    stats.add("sent", "webhook")
    stats.add("sent", "webhook")
    stats.add("failed", "wecom")
    outcomes = stats.snapshot()["xiaoyuan_outbox_dispatch"][1]
    assert outcomes["sent"] == 2 and outcomes["failed"] == 1 and outcomes["retry"] == 0
    assert stats.snapshot()["xiaoyuan_outbox_dispatch_by_channel"][1] == {"webhook:sent": 2, "wecom:failed": 1}
