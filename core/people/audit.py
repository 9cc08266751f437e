"""The audit trail: record who changed what."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from core.models.audit import AuditEntry


def record_audit(
    session: Session,
    *,
    at: dt.datetime,
    actor: Any,
    action: str,
    entity_type: str,
    entity_id: int | None,
    **detail: Any,
) -> AuditEntry:
    """Add an audit entry in the caller's transaction. `actor` is a User, a label, or None (system)."""
    actor_id = getattr(actor, "id", None)
    label = getattr(actor, "username", None) or (actor if isinstance(actor, str) else "system")
    entry = AuditEntry(
        at=at, actor_id=actor_id, actor_label=label, action=action,
        entity_type=entity_type, entity_id=entity_id, detail=detail,
    )
    session.add(entry)
    return entry
