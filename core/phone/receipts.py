"""Webhook receipts: a provider webhook delivered twice (same call + step token, same recording) acts once.

The first delivery claims the key with a row insert (the unique constraint makes the claim atomic
across processes); the answer it rendered is stored on the row, and a repeated delivery gets that
stored answer instead of running the step again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from core.db import rows_changed, transaction
from core.models.calls import WebhookReceipt

KEY_LIMIT = 200
KEEP_DAYS = 2


@dataclass(frozen=True)
class Claim:
    """The result of claiming a webhook: `first` (act now), else the stored answer (None while in flight)."""

    first: bool
    response: str | None = None


def receipt_key(step: str, query: Mapping[str, str], form: Mapping[str, str]) -> str:
    """What makes a delivery the same delivery (pure): a recording id, else the step and its signed query.

    Every document the line renders gives its URLs a fresh one-time token (`_t`), so a step legitimately
    asked for again carries a new token, while a repeated delivery of the same request carries the same.
    """
    recording = (form.get("RecordingSid") or "").strip()
    if recording:
        return f"rec:{recording}"[:KEY_LIMIT]
    parts = "&".join(f"{k}={query[k]}" for k in sorted(query))
    if "_t" not in query:
        # A URL without a token (the number's first webhook, a pushed redirect): what the caller did counts too.
        parts += "|" + "&".join(f"{k}={form.get(k, '')}" for k in ("Digits", "DialCallStatus") if form.get(k))
    return f"{step}?{parts}"[:KEY_LIMIT]


def claim_webhook(session_factory, *, now: dt.datetime, call_id: str, key: str) -> Claim:
    """Claim a webhook delivery; a repeated one gets the first one's stored answer."""
    try:
        with transaction(session_factory) as session:
            session.add(WebhookReceipt(call_id=call_id[:64], key=key[:KEY_LIMIT], created_at=now))
            session.flush()
        return Claim(first=True)
    except IntegrityError:
        with session_factory() as session:
            stored = session.scalar(sa.select(WebhookReceipt.response).where(
                WebhookReceipt.call_id == call_id[:64], WebhookReceipt.key == key[:KEY_LIMIT]))
        return Claim(first=False, response=stored)


def store_webhook_response(session_factory, *, call_id: str, key: str, response: str) -> None:
    """Keep the answer the first delivery rendered, for repeats."""
    with transaction(session_factory) as session:
        session.execute(sa.update(WebhookReceipt).where(
            WebhookReceipt.call_id == call_id[:64], WebhookReceipt.key == key[:KEY_LIMIT]).values(response=response))


def release_webhook(session_factory, *, call_id: str, key: str) -> None:
    """Forget a claim whose step failed, so a retry may act."""
    with transaction(session_factory) as session:
        session.execute(sa.delete(WebhookReceipt).where(
            WebhookReceipt.call_id == call_id[:64], WebhookReceipt.key == key[:KEY_LIMIT],
            WebhookReceipt.response.is_(None)))


def prune_webhook_receipts(session_factory, *, now: dt.datetime, keep_days: int = KEEP_DAYS) -> int:
    """Delete receipts older than `keep_days` (a provider never repeats a webhook that late)."""
    with transaction(session_factory) as session:
        result = session.execute(sa.delete(WebhookReceipt).where(
            WebhookReceipt.created_at < now - dt.timedelta(days=keep_days)))
        return rows_changed(result)
