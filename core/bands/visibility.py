"""Who sees which wristband alerts and bands: the residents they may see (core.people.access).

Alerts and bands without a resident belong to nobody's place: unassigned alerts are for admins,
unassigned bands for the staff who register bands (they must find them to hand them out).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.i18n import N_
from core.models.alerts import ACTIVE_STATUSES, ALERT_STATUSES, Alert
from core.models.devices import Band
from core.models.places import Resident
from core.people.access import Viewer, scoped_residents

BAND_REGISTRARS = ("admin", "town", "village")  # who registers bands and sees unassigned ones
SEVERITY_RANK = {"critical": 0, "urgent": 1, "warning": 2}


def _resident_ids(user: Viewer) -> sa.Select:
    return scoped_residents(user).with_only_columns(Resident.id)


def alert_scope(user: Viewer):
    """A clause on Alert: alerts of residents the user may see (alerts of unassigned bands: admin only)."""
    clause = Alert.resident_id.in_(_resident_ids(user))
    if user.role == "admin":
        return sa.or_(clause, Alert.resident_id.is_(None))
    return clause


def band_scope(user: Viewer):
    """A clause on Band: bands worn by residents the user may see; registrars also see unassigned bands."""
    clause = Band.resident_id.in_(_resident_ids(user))
    if user.role in BAND_REGISTRARS:
        return sa.or_(clause, Band.resident_id.is_(None))
    return clause


def get_alert_for(session: Session, user: Viewer, alert_id: int) -> Alert:
    """An alert the user may see; NotFound otherwise (other scopes are never revealed)."""
    alert = session.scalar(sa.select(Alert).where(Alert.id == alert_id, alert_scope(user)))
    if alert is None:
        raise NotFound(N_("找不到这条告警"))
    return alert


def get_band_for(session: Session, user: Viewer, band_id: int) -> Band:
    """A band the user may see; NotFound otherwise."""
    band = session.scalar(sa.select(Band).where(Band.id == band_id, band_scope(user)))
    if band is None:
        raise NotFound(N_("找不到这个手环"))
    return band


def alert_query(user: Viewer, *, status: str | None = None) -> sa.Select:
    """The user's alerts; `status` "active" means any active status, None means all."""
    query = sa.select(Alert).where(alert_scope(user))
    if status == "active":
        return query.where(Alert.status.in_(ACTIVE_STATUSES))
    if status is not None:
        return query.where(Alert.status == status) if status in ALERT_STATUSES else query.where(sa.false())
    return query


def active_alerts(session: Session, user: Viewer, *, limit: int = 200) -> list[tuple[Alert, str | None]]:
    """The user's active alerts with the resident's name: most severe first, then newest."""
    rank = sa.case(SEVERITY_RANK, value=Alert.severity, else_=9)
    rows = session.execute(
        sa.select(Alert, Resident.name).outerjoin(Resident, Resident.id == Alert.resident_id)
        .where(Alert.status.in_(ACTIVE_STATUSES), alert_scope(user))
        .order_by(rank, Alert.raised_at.desc(), Alert.id.desc()).limit(limit)
    ).all()
    return [(alert, name) for alert, name in rows]
