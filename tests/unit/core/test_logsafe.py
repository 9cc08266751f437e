"""Logs never contain full phone numbers or secrets."""

import logging

from core.logsafe import RedactingFilter, redact


def test_phone_numbers_are_masked_to_last_four_digits():
    """Mobile, landline and E.164 forms all lose all but their last four digits."""
    line = redact("calling +8613800001234 then 023-4671 2345 and 13900000000")
    assert "13800001234" not in line and "4671" not in line and "1390000" not in line
    assert "***1234" in line and "***2345" in line and "***0000" in line


def test_short_numbers_and_ids_are_kept():
    """Request numbers, ports and years stay readable."""
    assert redact("request #1234 on port 8000 in 2026") == "request #1234 on port 8000 in 2026"


def test_secret_pairs_are_hidden():
    """auth_token=… and password=… never reach the log."""
    line = redact("POST auth_token=abc123&From=x password=hunter2")
    assert "abc123" not in line and "hunter2" not in line


def test_filter_rewrites_records_with_arguments(caplog):
    """A record built with %-arguments is redacted after formatting."""
    logger = logging.getLogger("xiaoyuan.test.redact")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="xiaoyuan.test.redact"):
        logger.info("caller %s", "+8613800001234")
    assert caplog.records[-1].getMessage() == "caller ***1234"
