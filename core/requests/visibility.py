"""Who sees which requests (工单), reminders and reports, built on the place rules of core.people.access.

The console, the JSON API and the CLI list requests through `request_query`, so a filter means the
same everywhere; the CLI passes `access.OPERATOR`, who sees every place.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.i18n import N_
from core.models.ops import Reminder
from core.models.places import Resident, Village
from core.models.requests import STATUSES, Request
from core.people.access import Viewer, cared_resident_ids, place_clause, scoped_residents
from core.requests.workorders import OPEN_STATUSES, overdue_clause

REPORT_ROLES = ("admin", "town", "village", "grid_worker")


def request_scope(user: Viewer):
    """A clause on Request: requests of the user's places (a caregiver's: of their residents)."""
    if user.role == "caregiver":
        return Request.resident_id.in_(cared_resident_ids(user))
    clause = place_clause(
        user, courtyard_col=Request.courtyard_id, village_col=Request.village_id, town_col=Request.town_id
    )
    # Whoever a request is assigned to can always see it.
    return sa.or_(clause, Request.assignee_id == user.id)


def get_request_for(session: Session, user: Viewer, request_id: int) -> Request:
    """Load a request the user may see; NotFound otherwise (never reveal other scopes)."""
    req = session.scalar(sa.select(Request).where(Request.id == request_id, request_scope(user)))
    if req is None:
        raise NotFound(N_("找不到这张工单"))
    return req


def request_query(
    user: Viewer, *, now: dt.datetime, status: str | None = None, type: str | None = None,
    overdue: bool | None = None, supervised: bool | None = None, mine: bool = False, resident_id: int | None = None,
) -> sa.Select:
    """The user's requests, filtered: status "open" means any open status; None leaves a filter off."""
    query = sa.select(Request).where(request_scope(user))
    if status == "open":
        query = query.where(Request.status.in_(OPEN_STATUSES))
    elif status is not None:
        query = query.where(Request.status == status) if status in STATUSES else query.where(sa.false())
    if type:
        query = query.where(Request.type == type)
    if overdue is True:
        query = query.where(overdue_clause(now))
    elif overdue is False:
        query = query.where(sa.not_(overdue_clause(now)))
    if supervised is not None:
        query = query.where(Request.supervised.is_(supervised))
    if mine:
        query = query.where(Request.assignee_id == user.id)
    if resident_id is not None:
        query = query.where(Request.resident_id == resident_id)
    return query


def reminder_scope(user: Viewer):
    """A clause on Reminder: 小院 reminders of the user's places, and reminders of residents they may see."""
    for_courtyard = sa.and_(Reminder.courtyard_id.is_not(None), place_clause(
        user, courtyard_col=Reminder.courtyard_id, village_col=Reminder.village_id, town_col=Reminder.town_id))
    for_resident = Reminder.resident_id.in_(scoped_residents(user).with_only_columns(Resident.id))
    return sa.or_(for_courtyard, for_resident)


def report_scope(session: Session, user: Viewer, village_id: int | None = None) -> tuple[int | None, int | None]:
    """(village_id, town_id) of the report the user may see; NotFound for anything else.

    Village staff see their village; town staff their town or one of its villages; an admin any
    village, or (without one) the first town.
    """
    if user.role not in REPORT_ROLES:
        raise NotFound(N_("找不到这份报表"))
    if user.role in ("village", "grid_worker"):
        if user.village_id is None or (village_id is not None and village_id != user.village_id):
            raise NotFound(N_("找不到这份报表"))
        return user.village_id, None
    if village_id is not None:
        village = session.get(Village, village_id)
        if village is None or (user.role != "admin" and village.town_id != user.town_id):
            raise NotFound(N_("找不到这份报表"))
        return village.id, None
    if user.town_id is not None:
        return None, user.town_id
    first = session.scalar(sa.select(Village.town_id).order_by(Village.town_id))  # an admin without a town
    if first is None:
        raise NotFound(N_("找不到这份报表"))
    return None, first


def report_villages(user: Viewer) -> sa.Select:
    """The villages a report may be narrowed to (admins: all; town staff: their town's; others: none)."""
    query = sa.select(Village).order_by(Village.id)
    if user.role == "admin":
        return query
    if user.role == "town":
        return query.where(Village.town_id == user.town_id)
    return query.where(sa.false())
