"""Daily check-in (我很好) and the reminder to the 院长 when someone living alone has not checked in."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, as_utc
from core.community import texts
from core.errors import InvalidInput
from core.i18n import N_, translate
from core.models.checkins import CheckIn
from core.models.outbox import OutboxMessage
from core.models.places import Courtyard, Household, Resident, Village
from core.models.tvbox import TvBox
from core.notify.outbox import enqueue_message, recipient_for_user
from core.people.directory import courtyard_head, place_of_household, primary_resident, village_staff

log = logging.getLogger(__name__)


def local_date(now: dt.datetime) -> dt.date:
    """The Asia/Shanghai calendar date of an instant."""
    return as_utc(now).astimezone(LOCAL_TZ).date()


def parse_deadline(value: str) -> dt.time:
    """'10:00' → 10:00 local (raises InvalidInput for anything else)."""
    try:
        hours, minutes = (int(part) for part in value.strip().split(":"))
        return dt.time(hours, minutes)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(N_("签到截止时间格式应为 HH:MM：%(value)r"), value=value) from exc


def deadline_passed(now: dt.datetime, deadline: dt.time) -> bool:
    """Whether the local time of `now` is at or after today's deadline (pure)."""
    local = as_utc(now).astimezone(LOCAL_TZ)
    return local.time().replace(tzinfo=None) >= deadline


def check_in(session: Session, *, now: dt.datetime, household_id: int, source: str = "tv") -> tuple[CheckIn, bool]:
    """Record today's "I'm fine" for a household; (check-in, created) — pressing again changes nothing."""
    today = local_date(now)
    existing = session.scalar(sa.select(CheckIn).where(CheckIn.household_id == household_id,
                                                       CheckIn.local_date == today))
    if existing is not None:
        return existing, False
    place = place_of_household(session, household_id)
    resident = primary_resident(session, household_id)
    row = CheckIn(household_id=household_id, resident_id=resident.id if resident else None,
                  courtyard_id=place.courtyard_id, village_id=place.village_id, town_id=place.town_id,
                  local_date=today, at=now, source=source)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        again = session.scalar(sa.select(CheckIn).where(CheckIn.household_id == household_id,
                                                        CheckIn.local_date == today))
        if again is None:
            raise
        return again, False
    return row, True


def checked_in_today(session: Session, *, now: dt.datetime, household_id: int) -> CheckIn | None:
    """Today's check-in of a household, if any."""
    return session.scalar(sa.select(CheckIn).where(checked_in_clause(household_id, local_date(now))))


def checked_in_clause(household_id: Any, day: Any) -> sa.ColumnElement[bool]:
    """A household's check-in on a local date (values or SQL expressions)."""
    return sa.and_(CheckIn.household_id == household_id, CheckIn.local_date == day)


def missing_checkins(session: Session, *, now: dt.datetime, only_tv_households: bool = True) -> list[Resident]:
    """Residents living alone whose household has not checked in today."""
    today = local_date(now)
    query = (
        sa.select(Resident)
        .join(Household, Resident.household_id == Household.id)
        .where(Resident.lives_alone.is_(True), Resident.erased.is_(False))
        .where(~sa.exists().where(CheckIn.household_id == Household.id, CheckIn.local_date == today))
        .order_by(Resident.id)
    )
    if only_tv_households:
        query = query.where(sa.exists().where(TvBox.household_id == Household.id, TvBox.status == "paired"))
    return list(session.scalars(query))


def remind_missing_checkins(
    session: Session, *, now: dt.datetime, deadline: dt.time, only_tv_households: bool = True,
) -> int:
    """After the deadline, tell each 院长 about residents living alone who have not checked in today.

    Once per resident and day (outbox dedup key). Returns how many messages were newly queued.
    """
    if not deadline_passed(now, deadline):
        return 0
    today = local_date(now)
    queued = 0
    for resident in missing_checkins(session, now=now, only_tv_households=only_tv_households):
        head = courtyard_head(session, resident.household_id)
        place = place_of_household(session, resident.household_id)
        people = [head] if head is not None else village_staff(session, place.village_id)
        household = session.get(Household, resident.household_id)
        for user in people:
            key = f"tv.checkin_missing:{resident.id}:{today.isoformat()}:{user.id}"
            if session.scalar(sa.select(OutboxMessage.id).where(OutboxMessage.dedup_key == key)) is not None:
                continue  # already told today
            recipient = recipient_for_user(user)
            text = translate(texts.CHECKIN_MISSING, recipient.locale, household=household.name if household else "",
                             resident=resident.name, deadline=f"{deadline:%H:%M}")
            enqueue_message(
                session, now=now, recipient=recipient, template="tv.checkin_missing", text=text,
                params={"resident_id": resident.id, "household_id": resident.household_id, "date": today.isoformat()},
                priority=3, dedup_key=key, subject=("resident", resident.id), village_id=place.village_id,
            )
            queued += 1
    return queued


def checkins_today(session: Session, *, now: dt.datetime,
                   place_clause: sa.ColumnElement[bool]) -> list[tuple[CheckIn, Household]]:
    """Today's check-ins with their households, for a clause on Household/Courtyard/Village (console)."""
    return list(session.execute(
        sa.select(CheckIn, Household).join(Household, CheckIn.household_id == Household.id)
        .join(Courtyard, Household.courtyard_id == Courtyard.id).join(Village, Courtyard.village_id == Village.id)
        .where(CheckIn.local_date == local_date(now), place_clause).order_by(CheckIn.at)
    ))
