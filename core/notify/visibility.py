"""Who sees which outbox messages: those about the viewer's places, and those addressed to the viewer."""

from __future__ import annotations

import sqlalchemy as sa

from core.models.outbox import OutboxMessage
from core.models.places import Village
from core.models.requests import Request
from core.people.access import Viewer


def outbox_scope(viewer: Viewer):
    """A clause on OutboxMessage: messages about the viewer's area, or addressed to the viewer.

    A 院长's area is the requests of their 小院 (outbox rows carry a village, not a 小院).
    """
    mine = OutboxMessage.recipient_user_id == viewer.id
    if viewer.role == "admin":
        return sa.true()
    if viewer.role == "town":
        villages = sa.select(Village.id).where(Village.town_id == viewer.town_id)
        return sa.or_(mine, OutboxMessage.village_id.in_(villages))
    if viewer.role in ("village", "grid_worker") and viewer.village_id is not None:
        return sa.or_(mine, OutboxMessage.village_id == viewer.village_id)
    if viewer.role == "courtyard_head" and viewer.courtyard_id is not None:
        requests_here = sa.select(Request.id).where(Request.courtyard_id == viewer.courtyard_id)
        return sa.or_(mine, sa.and_(OutboxMessage.subject_type == "request",
                                    OutboxMessage.subject_id.in_(requests_here)))
    return mine


def outbox_query(viewer: Viewer, *, status: str | None = None) -> sa.Select:
    """The viewer's outbox messages, optionally of one status (unordered: lists choose their order)."""
    query = sa.select(OutboxMessage).where(outbox_scope(viewer))
    if status:
        query = query.where(OutboxMessage.status == status)
    return query
