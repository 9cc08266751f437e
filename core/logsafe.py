"""Logging that never carries a full phone number or a secret, whatever a caller formats into it."""

from __future__ import annotations

import logging
import re

# 7+ digit runs (optionally with +, spaces or dashes inside) are phone-like: keep the last four digits.
_PHONE = re.compile(r"(?<![\w.])\+?\d(?:[\d\- ]{5,}\d)(?![\w.])")
_SECRET = re.compile(r"(?i)\b(auth_token|password|secret|token|signature)=([^&\s]+)")


def _mask(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "***" + digits[-4:] if len(digits) >= 7 else match.group(0)


def redact(text: str) -> str:
    """Mask phone-like numbers and `secret=value` pairs in a log line."""
    text = _SECRET.sub(lambda m: f"{m.group(1)}=***", text)
    return _PHONE.sub(_mask, text)


class RedactingFilter(logging.Filter):
    """A handler filter that rewrites each record's message through `redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the formatted message with its redacted form; never drops a record."""
        try:
            message = record.getMessage()
        except Exception:
            return True
        record.msg, record.args = redact(message), None
        return True


def configure_logging(level: str = "INFO") -> None:
    """Root logging with redaction on every handler."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("alembic.runtime.plugins", "alembic.runtime.migration", "apscheduler.scheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
