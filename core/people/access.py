"""Who may see what: every role is scoped to a place (or, for caregivers, to their residents).

The filters return SQL clauses so that lists are scoped in the query, not after it. This module holds
the place rules and the people area's own clauses (residents, households, 小院, staff accounts, the
audit trail); each other area builds its clauses on these in its `visibility` module.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.errors import NotFound, PermissionDenied
from core.i18n import N_
from core.models.audit import AuditEntry
from core.models.places import CaregiverLink, Courtyard, Household, Resident, Village
from core.models.staff import User

MANAGER_ROLES = ("admin", "town", "village", "courtyard_head", "grid_worker")


@dataclass(frozen=True)
class Operator:
    """Whoever runs the `xiaoyuan` command line on the server: sees every place, like an admin.

    Shell access to the server already is that power; the audit trail records `username` (the CLI's
    `--by`, or "cli"). Never built from web input.
    """

    username: str = "cli"
    role: str = "admin"
    id: int | None = None
    town_id: int | None = None
    village_id: int | None = None
    courtyard_id: int | None = None
    locale: str = "zh"
    active: bool = True

    @property
    def display_name(self) -> str:
        """The name shown in timelines: the operator's label."""
        return self.username


OPERATOR = Operator()
Viewer = User | Operator  # who a visibility clause is built for


def place_clause(user: Viewer, *, courtyard_col, village_col, town_col):
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


def cared_resident_ids(user: Viewer) -> sa.Select:
    """A select of the ids of the residents a caregiver account is linked to."""
    return sa.select(CaregiverLink.resident_id).where(CaregiverLink.user_id == user.id)


def resident_scope(user: Viewer):
    """A clause on Resident (joined to Household, Courtyard, Village) for the user's scope."""
    if user.role == "caregiver":
        return Resident.id.in_(cared_resident_ids(user))
    return place_clause(
        user, courtyard_col=Household.courtyard_id, village_col=Courtyard.village_id, town_col=Village.town_id
    )


def scoped_residents(user: Viewer) -> sa.Select:
    """A select of the residents the user may see."""
    return (
        sa.select(Resident)
        .join(Household, Resident.household_id == Household.id)
        .join(Courtyard, Household.courtyard_id == Courtyard.id)
        .join(Village, Courtyard.village_id == Village.id)
        .where(resident_scope(user), Resident.erased.is_(False))
    )


def household_scope(user: Viewer):
    """A clause on Household (joined to Courtyard, Village) for the user's scope."""
    if user.role == "caregiver":
        return Household.id.in_(
            sa.select(Resident.household_id).where(Resident.id.in_(cared_resident_ids(user)))
        )
    return place_clause(
        user, courtyard_col=Household.courtyard_id, village_col=Courtyard.village_id, town_col=Village.town_id
    )


def scoped_households(user: Viewer) -> sa.Select:
    """A select of the households the user may see."""
    return (
        sa.select(Household)
        .join(Courtyard, Household.courtyard_id == Courtyard.id)
        .join(Village, Courtyard.village_id == Village.id)
        .where(household_scope(user))
    )


def can_see_place(user: Viewer, *, courtyard_id: int | None, village_id: int | None, town_id: int | None) -> bool:
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


def get_resident_for(session: Session, user: Viewer, resident_id: int) -> Resident:
    """Load a resident the user may see; NotFound otherwise (never reveal other scopes)."""
    resident = session.scalar(scoped_residents(user).where(Resident.id == resident_id))
    if resident is None:
        raise NotFound(N_("找不到这位居民"))
    return resident


def get_household_for(session: Session, user: Viewer, household_id: int) -> Household:
    """Load a household the user may see; NotFound otherwise."""
    household = session.scalar(scoped_households(user).where(Household.id == household_id))
    if household is None:
        raise NotFound(N_("找不到这一户"))
    return household


def require_manager(user: Viewer) -> None:
    """Only staff roles (not caregivers) may manage requests and people."""
    if user.role not in MANAGER_ROLES:
        raise PermissionDenied(N_("您的角色不能做这件事"))


def courtyard_scope(user: Viewer):
    """A clause on Courtyard (joined to Village): the 小院 a manager covers (none for caregivers)."""
    return place_clause(user, courtyard_col=Courtyard.id, village_col=Courtyard.village_id, town_col=Village.town_id)


def scoped_courtyards(user: Viewer) -> sa.Select:
    """A select of the 小院 the user manages: where they may add households, rewards, notices, reminders."""
    return sa.select(Courtyard).join(Village, Courtyard.village_id == Village.id).where(courtyard_scope(user))


def get_courtyard_for(session: Session, user: Viewer, courtyard_id: int) -> Courtyard:
    """Load a 小院 the user manages; NotFound otherwise."""
    courtyard = session.scalar(scoped_courtyards(user).where(Courtyard.id == courtyard_id))
    if courtyard is None:
        raise NotFound(N_("找不到这个小院"))
    return courtyard


def user_scope(viewer: Viewer):
    """A clause on User: the accounts a viewer may list and manage (their place and the places below it)."""
    if viewer.role == "admin":
        return sa.true()
    if viewer.role == "town":
        villages = sa.select(Village.id).where(Village.town_id == viewer.town_id)
        return sa.or_(User.town_id == viewer.town_id, User.village_id.in_(villages))
    if viewer.role == "village" and viewer.village_id is not None:
        courtyards = sa.select(Courtyard.id).where(Courtyard.village_id == viewer.village_id)
        return sa.or_(User.village_id == viewer.village_id, User.courtyard_id.in_(courtyards))
    return User.id == viewer.id


def linkable_accounts(viewer: Viewer, resident: Resident):
    """A clause on User: active accounts the viewer may put into this resident's caregiver chain.

    A link lets a caregiver account see the resident, so it may only name an account the viewer
    manages, an account registered at the resident's own 小院, village or town (not one of another
    village's), or a caregiver already linked to someone the viewer manages (a spouse, a neighbour).
    """
    courtyard = resident.household.courtyard
    village = courtyard.village
    on_the_residents_path = sa.or_(
        User.courtyard_id == courtyard.id,
        sa.and_(User.courtyard_id.is_(None), User.village_id == village.id),
        sa.and_(User.courtyard_id.is_(None), User.village_id.is_(None), User.town_id == village.town_id),
    )
    already_caring_here = User.id.in_(sa.select(CaregiverLink.user_id).where(
        CaregiverLink.user_id.is_not(None),
        CaregiverLink.resident_id.in_(scoped_residents(viewer).with_only_columns(Resident.id))))
    return sa.and_(User.active.is_(True), sa.or_(user_scope(viewer), on_the_residents_path, already_caring_here))


def audit_scope(viewer: Viewer):
    """A clause on AuditEntry: what the accounts in the viewer's scope did (admins also see the system's)."""
    if viewer.role == "admin":
        return sa.true()
    return AuditEntry.actor_id.in_(sa.select(User.id).where(user_scope(viewer)))


def staff_covering(*, courtyard_id: int | None, village_id: int | None, town_id: int | None):
    """A clause on User: active managers whose scope covers a place (who a request may be handed to)."""
    return sa.and_(
        User.active.is_(True),
        User.role.in_(MANAGER_ROLES),
        sa.or_(
            User.role == "admin",
            sa.and_(User.role == "town", User.town_id == town_id),
            sa.and_(User.role.in_(("village", "grid_worker")), User.village_id == village_id),
            sa.and_(User.role == "courtyard_head", User.courtyard_id == courtyard_id),
        ),
    )
