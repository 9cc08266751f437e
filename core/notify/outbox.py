"""Enqueue notifications in the caller's transaction (the transactional outbox)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from core.i18n import DEFAULT_LOCALE
from core.models.outbox import OutboxMessage
from core.models.staff import User

log = logging.getLogger(__name__)
DEFAULT_CHANNEL = "default"  # expanded by the dispatcher to settings.notify.default_channels
# Rows this urgent (0 critical: SOS, help calls; 1 urgent) wake the dispatcher when their transaction
# commits instead of waiting up to a tick for it.
WAKE_PRIORITY = 1
_WAKE_FLAG = "xiaoyuan:outbox_wake"


@dataclass(frozen=True)
class Recipient:
    """Who a message is for and how they like to be reached, most preferred channel first."""

    name: str
    phone: str | None = None
    channels: tuple[str, ...] = ()
    user_id: int | None = None
    locale: str = DEFAULT_LOCALE
    extra: dict[str, Any] = field(default_factory=dict)


def recipient_for_user(user: User) -> Recipient:
    """The Recipient for a staff user."""
    return Recipient(
        name=user.display_name, phone=user.phone, channels=tuple(user.channels or ()),
        user_id=user.id, locale=user.locale or DEFAULT_LOCALE,
    )


def user_locale(session: Session, user_id: int | None) -> str:
    """The language a staff user reads; Chinese for someone without an account."""
    user = session.get(User, user_id) if user_id is not None else None
    return (user.locale if user is not None else None) or DEFAULT_LOCALE


def enqueue_message(
    session: Session,
    *,
    now: dt.datetime,
    recipient: Recipient,
    template: str,
    text: str,
    params: dict[str, Any] | None = None,
    priority: int = 5,
    dedup_key: str | None = None,
    not_before: dt.datetime | None = None,
    subject: tuple[str, int] | None = None,
    village_id: int | None = None,
    channels: Sequence[str] | None = None,
) -> OutboxMessage:
    """Add a message to the outbox in the caller's transaction and return it.

    A message with a `dedup_key` that is already in the outbox is not added again: the existing
    row is returned. `channels` overrides the recipient's preference (e.g. a voice call).
    `text` is already rendered in the recipient's locale; a locale other than Chinese is kept in
    `params["locale"]` so what a channel adds (the SMS reply hint) speaks the same language.
    """
    if dedup_key is not None:
        existing = session.scalar(sa.select(OutboxMessage).where(OutboxMessage.dedup_key == dedup_key))
        if existing is not None:
            return existing
    chosen = list(channels or recipient.channels or (DEFAULT_CHANNEL,))
    message = OutboxMessage(
        idempotency_key=uuid.uuid4().hex,
        dedup_key=dedup_key,
        recipient_name=recipient.name,
        recipient_phone=recipient.phone,
        recipient_user_id=recipient.user_id,
        channel=chosen[0],
        fallback_channels=chosen[1:],
        template=template,
        params={**(params or {}), "locale": recipient.locale} if recipient.locale != DEFAULT_LOCALE else params or {},
        text=text,
        priority=priority,
        status="pending",
        attempts=0,
        next_attempt_at=max(now, not_before) if not_before else now,
        subject_type=subject[0] if subject else None,
        subject_id=subject[1] if subject else None,
        village_id=village_id,
        created_at=now,
    )
    session.add(message)
    session.flush()
    if priority <= WAKE_PRIORITY:
        session.info[_WAKE_FLAG] = True
    return message


def wake_on_commit(session_factory: sessionmaker[Session], wake: Callable[[], None]) -> Callable[[], None]:
    """Call `wake()` after each commit of a session of `session_factory` that enqueued an urgent row.

    The wake-up comes after the commit, so the dispatcher finds the row; a rolled-back transaction wakes
    nobody. Returns a function that removes the hook.
    """

    def committed(session: Session) -> None:
        if session.info.pop(_WAKE_FLAG, False):
            try:
                wake()
            except Exception:  # the row is committed; the next tick sends it anyway
                log.exception("outbox: waking the dispatcher failed")

    def rolled_back(session: Session) -> None:
        session.info.pop(_WAKE_FLAG, None)

    sa.event.listen(session_factory, "after_commit", committed)
    sa.event.listen(session_factory, "after_rollback", rolled_back)

    def remove() -> None:
        sa.event.remove(session_factory, "after_commit", committed)
        sa.event.remove(session_factory, "after_rollback", rolled_back)

    return remove
