"""Villages: the settings a village's own staff keep — today its duty phone (值班电话) — audited."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.errors import NotFound, PermissionDenied
from core.i18n import N_
from core.models.places import Village
from core.models.staff import User
from core.people import access
from core.people.audit import record_audit
from core.people.caregivers import parse_phone
from core.phones import try_normalise_phone

VILLAGE_EDITORS = ("admin", "town", "village")


def village_scope(viewer: access.Viewer):
    """A clause on Village: the villages a viewer may see (admin all, town its villages, others their own)."""
    if viewer.role == "admin":
        return sa.true()
    if viewer.role == "town":
        return Village.town_id == viewer.town_id
    if viewer.village_id is not None:
        return Village.id == viewer.village_id
    return sa.false()


def scoped_villages(viewer: access.Viewer) -> sa.Select:
    """The villages a viewer may see, by name."""
    return sa.select(Village).where(village_scope(viewer)).order_by(Village.town_id, Village.name)


def set_village_duty_phone(session: Session, *, now: dt.datetime, actor: access.Viewer, village_id: int,
                           phone: str | None) -> Village:
    """Set (or clear, with an empty phone) a village's duty phone; admin, its town or its village staff."""
    if actor.role not in VILLAGE_EDITORS:
        raise PermissionDenied(N_("您的角色不能做这件事"))
    village = session.scalar(sa.select(Village).where(Village.id == village_id, village_scope(actor)))
    if village is None:
        raise NotFound(N_("找不到这个村"))
    number = parse_phone(phone)
    before = village.duty_phone
    village.duty_phone = number
    record_audit(session, at=now, actor=actor, action="village.duty_phone", entity_type="village",
                 entity_id=village.id, changed=before != number, cleared=number is None)
    return village


def village_duty_phone(session: Session, village_id: int | None) -> str | None:
    """The village's duty phone, or None when none is set."""
    if village_id is None:
        return None
    return session.scalar(sa.select(Village.duty_phone).where(Village.id == village_id))


def duty_person(session: Session, village_id: int | None) -> User | None:
    """The staff member who takes a village's requests from unknown callers.

    The village cadre or grid worker whose phone is the duty phone; else the first active village cadre;
    else the first grid worker; None for no village or nobody.
    """
    if village_id is None:
        return None
    duty = try_normalise_phone(village_duty_phone(session, village_id))
    staff = list(session.scalars(sa.select(User).where(
        User.village_id == village_id, User.active.is_(True), User.role.in_(("village", "grid_worker"))
    ).order_by(User.id)))
    for user in staff:
        if duty is not None and try_normalise_phone(user.phone) == duty:
            return user
    for role in ("village", "grid_worker"):
        for user in staff:
            if user.role == role:
                return user
    return None
