"""Helpers for the scheduled-operations tests."""

from __future__ import annotations

import sqlalchemy as sa

from core.models.outbox import OutboxMessage


def outbox_rows(services, **filters) -> list[OutboxMessage]:
    """Outbox rows matching column=value filters, oldest first."""
    with services.session_factory() as session:
        query = sa.select(OutboxMessage).order_by(OutboxMessage.id)
        for name, value in filters.items():
            query = query.where(getattr(OutboxMessage, name) == value)
        return list(session.scalars(query))
