"""Who may see what: every role is scoped to a place (or, for caregivers, to their residents).

The filters return SQL clauses so that lists are scoped in the query, not after it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.errors import NotFound, PermissionDenied
from core.models.places import CaregiverLink, Courtyard, Household, Resident, Village
from core.models.requests import Request
from core.models.staff import User

MANAGER_ROLES = ("admin", "town", "village", "courtyard_head", "grid_worker")


def place_clause(user: User, *, courtyard_col, village_col, town_col):
    """A clause restricting rows with place columns to the user's scope (not for caregivers)."""
    if user.role == "admin":
        return sa.true()
    if user.role == "town":
        return town_col == user.town_id
    if user.role in ("village", "grid_worker") and user.village_id is not None:
        return village_col == user.village_id
    if user.role == "courtyard_head" and user.courtyard_id is not None:
        return courtyard_col == user.courtyard_id
    return sa.false()


def _cared_resident_ids(user: User):
    return sa.select(CaregiverLink.resident_id).where(CaregiverLink.user_id == user.id)


def resident_scope(user: User):
    """A clause on Resident (joined to Household, Courtyard, Village) for the user's scope."""
    if user.role == "caregiver":
        return Resident.id.in_(_cared_resident_ids(user))
    return place_clause(
        user, courtyard_col=Household.courtyard_id, village_col=Courtyard.village_id, town_col=Village.town_id
    )


def scoped_residents(user: User) -> sa.Select:
    """A select of the residents the user may see."""
    return (
        sa.select(Resident)
        .join(Household, Resident.household_id == Household.id)
        .join(Courtyard, Household.courtyard_id == Courtyard.id)
        .join(Village, Courtyard.village_id == Village.id)
        .where(resident_scope(user), Resident.erased.is_(False))
    )


def household_scope(user: User):
    """A clause on Household (joined to Courtyard, Village) for the user's scope."""
    if user.role == "caregiver":
        return Household.id.in_(
            sa.select(Resident.household_id).where(Resident.id.in_(_cared_resident_ids(user)))
        )
    return place_clause(
        user, courtyard_col=Household.courtyard_id, village_col=Courtyard.village_id, town_col=Village.town_id
    )


def scoped_households(user: User) -> sa.Select:
    """A select of the households the user may see."""
    return (
        sa.select(Household)
        .join(Courtyard, Household.courtyard_id == Courtyard.id)
        .join(Village, Courtyard.village_id == Village.id)
        .where(household_scope(user))
    )


def request_scope(user: User):
    """A clause on Request for the user's scope."""
    if user.role == "caregiver":
        return Request.resident_id.in_(_cared_resident_ids(user))
    clause = place_clause(
        user, courtyard_col=Request.courtyard_id, village_col=Request.village_id, town_col=Request.town_id
    )
    # Whoever a request is assigned to can always see it.
    return sa.or_(clause, Request.assignee_id == user.id)


def can_see_place(user: User, *, courtyard_id: int | None, village_id: int | None, town_id: int | None) -> bool:
    """Whether a place (given by its ids) is inside the user's scope."""
    if user.role == "admin":
        return True
    if user.role == "town":
        return town_id is not None and town_id == user.town_id
    if user.role in ("village", "grid_worker"):
        return village_id is not None and village_id == user.village_id
    if user.role == "courtyard_head":
        return courtyard_id is not None and courtyard_id == user.courtyard_id
    return False


def get_resident_for(session: Session, user: User, resident_id: int) -> Resident:
    """Load a resident the user may see; NotFound otherwise (never reveal other scopes)."""
    resident = session.scalar(scoped_residents(user).where(Resident.id == resident_id))
    if resident is None:
        raise NotFound("找不到这位居民 / resident not found")
    return resident


def get_household_for(session: Session, user: User, household_id: int) -> Household:
    """Load a household the user may see; NotFound otherwise."""
    household = session.scalar(scoped_households(user).where(Household.id == household_id))
    if household is None:
        raise NotFound("找不到这一户 / household not found")
    return household


def get_request_for(session: Session, user: User, request_id: int) -> Request:
    """Load a request the user may see; NotFound otherwise."""
    req = session.scalar(sa.select(Request).where(Request.id == request_id, request_scope(user)))
    if req is None:
        raise NotFound("找不到这张工单 / request not found")
    return req


def require_manager(user: User) -> None:
    """Only staff roles (not caregivers) may manage requests and people."""
    if user.role not in MANAGER_ROLES:
        raise PermissionDenied("您的角色不能做这件事 / your role cannot do this")
