"""People and places: lookups every surface needs (resident by phone, caregiver chain, 院长)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models.places import CaregiverLink, Courtyard, Household, Resident, Village
from core.models.staff import User
from core.notify.outbox import Recipient


@dataclass(frozen=True)
class Place:
    """The place ids of a household, copied onto requests, alerts and messages."""

    household_id: int
    courtyard_id: int
    village_id: int
    town_id: int


def place_of_household(session: Session, household_id: int) -> Place:
    """Resolve a household's 小院, village and town ids."""
    row = session.execute(
        sa.select(Household.id, Courtyard.id, Village.id, Village.town_id)
        .join(Courtyard, Household.courtyard_id == Courtyard.id)
        .join(Village, Courtyard.village_id == Village.id)
        .where(Household.id == household_id)
    ).one()
    return Place(*row)


def find_resident_by_phone(session: Session, phone: str | None) -> Resident | None:
    """The resident whose own phone or household landline is this E.164 number."""
    if not phone:
        return None
    resident = session.scalar(
        sa.select(Resident).where(Resident.phone == phone, Resident.erased.is_(False)).order_by(Resident.id)
    )
    if resident is not None:
        return resident
    return session.scalar(
        sa.select(Resident)
        .join(Household, Resident.household_id == Household.id)
        .where(Household.landline == phone, Resident.erased.is_(False))
        .order_by(Resident.lives_alone.desc(), Resident.id)
    )


def courtyard_head(session: Session, household_id: int) -> User | None:
    """The 院长 of a household's 小院, if one is set."""
    return session.scalar(
        sa.select(User)
        .join(Courtyard, Courtyard.head_user_id == User.id)
        .join(Household, Household.courtyard_id == Courtyard.id)
        .where(Household.id == household_id, User.active.is_(True))
    )


def village_staff(session: Session, village_id: int, roles: tuple[str, ...] = ("village",)) -> list[User]:
    """Active staff of a village with the given roles."""
    return list(
        session.scalars(
            sa.select(User).where(User.village_id == village_id, User.role.in_(roles), User.active.is_(True))
        )
    )


def town_staff(session: Session, town_id: int) -> list[User]:
    """Active 指挥中心 staff of a town."""
    return list(
        session.scalars(sa.select(User).where(User.town_id == town_id, User.role == "town", User.active.is_(True)))
    )


def caregiver_chain(session: Session, resident_id: int) -> list[CaregiverLink]:
    """A resident's caregiver chain in order."""
    return list(
        session.scalars(
            sa.select(CaregiverLink).where(CaregiverLink.resident_id == resident_id).order_by(CaregiverLink.position)
        )
    )


def recipient_for_link(link: CaregiverLink) -> Recipient:
    """The Recipient for a caregiver chain entry."""
    return Recipient(name=link.name, phone=link.phone, channels=tuple(link.channels or ()), user_id=link.user_id)


class HasHours(Protocol):
    """Anyone with optional local reachable hours (a caregiver link, an alert contact)."""

    @property
    def hours_start(self) -> int | None: ...

    @property
    def hours_end(self) -> int | None: ...


def within_hours(link: HasHours, local_now: dt.datetime) -> bool:
    """Whether a non-emergency message may reach this caregiver now (emergencies ignore hours)."""
    if link.hours_start is None or link.hours_end is None:
        return True
    hour = local_now.hour
    if link.hours_start <= link.hours_end:
        return link.hours_start <= hour < link.hours_end
    return hour >= link.hours_start or hour < link.hours_end


def primary_resident(session: Session, household_id: int) -> Resident | None:
    """The household member a TV or a landline speaks for: someone living alone first, else the eldest."""
    return session.scalar(
        sa.select(Resident)
        .where(Resident.household_id == household_id, Resident.erased.is_(False))
        .order_by(Resident.lives_alone.desc(), Resident.birth_year.asc().nulls_last(), Resident.id)
    )
