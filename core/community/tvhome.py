"""What a TV box's home shows of its household, read in one query.

Two hundred boxes opening their home at once each asked the database a dozen small questions (name,
place, balance, unread notices, today's check-in, a waiting follow-up, today's reminders, a help call
going on, open 帮我卖 asks). Each question is one of the owning service's own clauses; here they are put together once
into a single statement with bound parameters, so a home costs one round trip and no statement
building. Only what is rare (a follow-up question, reminders, a call in progress) is then read in
full by its service, and only when this query says it is there.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.community.checkins import checked_in_clause, local_date
from core.community.market import open_sell_clause
from core.community.notices import unread_count_query
from core.community.points import balance_query
from core.models.checkins import CheckIn
from core.models.helpcalls import HelpCall
from core.models.ops import FollowupAttempt, Reminder
from core.models.places import Courtyard, Household, Village
from core.models.requests import Request
from core.people.directory import Place
from core.phone.helpcalls import active_help_call_clause
from core.requests.followup import tv_followup_pending_clause
from core.requests.reminders import household_reminder_clause, local_day


@dataclass(frozen=True)
class HomeFacts:
    """A household's name, place and the home's figures and flags."""

    name: str
    place: Place
    balance: int
    unread: int
    checked_in: bool
    has_followup: bool
    has_reminders: bool
    has_active_call: bool
    selling: int  # open 帮我卖 requests


@functools.cache
def statement() -> sa.Select[Any]:
    """The one home statement, built on first use and shared (it holds no values)."""
    # The household is a bound value everywhere (a column of the outer query would not be correlated
    # into the services' nested subqueries); its place comes from the joined rows.
    household: sa.BindParameter[int] = sa.bindparam("household_id")
    place = SimpleNamespace(town_id=Village.town_id, village_id=Village.id, courtyard_id=Courtyard.id)
    followup = (sa.select(FollowupAttempt.id).join(Request, FollowupAttempt.request_id == Request.id)
                .where(tv_followup_pending_clause(household)))
    reminder = sa.select(Reminder.id).where(household_reminder_clause(
        household, Courtyard.id, sa.bindparam("day_start"), sa.bindparam("day_end")))
    call = sa.select(HelpCall.id).where(active_help_call_clause(household, sa.bindparam("call_since")))
    return (
        sa.select(
            Household.name, Courtyard.id, Village.id, Village.town_id,
            balance_query(household).scalar_subquery(),
            unread_count_query(sa.bindparam("now"), household, place).scalar_subquery(),
            sa.select(CheckIn.id).where(checked_in_clause(household, sa.bindparam("day"))).exists(),
            followup.exists(), reminder.exists(), call.exists(),
            sa.select(sa.func.count(Request.id)).where(open_sell_clause(household)).scalar_subquery(),
        )
        .join(Courtyard, Household.courtyard_id == Courtyard.id)
        .join(Village, Courtyard.village_id == Village.id)
        .where(Household.id == household)
    )


def home_facts(session: Session, *, household_id: int, now: dt.datetime, active_call_minutes: int) -> HomeFacts | None:
    """The household's home figures, or None when there is no such household."""
    day_start, day_end = local_day(now)
    row = session.execute(statement(), {
        "household_id": household_id, "now": now, "day": local_date(now), "day_start": day_start,
        "day_end": day_end, "call_since": now - dt.timedelta(minutes=active_call_minutes),
    }).one_or_none()
    if row is None:
        return None
    name, courtyard_id, village_id, town_id, balance, unread, checked_in, followup, reminders, call, selling = cast(
        tuple[str, int, int, int, int | None, int | None, bool, bool, bool, bool, int | None], tuple(row))
    return HomeFacts(
        name=name, place=Place(household_id, courtyard_id, village_id, town_id), balance=int(balance or 0),
        unread=int(unread or 0), checked_in=bool(checked_in), has_followup=bool(followup),
        has_reminders=bool(reminders), has_active_call=bool(call), selling=int(selling or 0),
    )
