"""Demo data for scheduled operations and the one-key call: today's reminders and past help calls with legs.

Seeding again changes nothing (the demo meeting reminder is the marker).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, UTC, to_local
from core.container import Services
from core.db import transaction
from core.models.helpcalls import HelpCall, HelpCallLeg
from core.models.ops import Reminder
from core.models.places import Courtyard, Household, Resident
from core.phone import helpcalls
from core.requests import reminders

DEMO_COURTYARD = "椒香小院"
MEETING_TEXT = f"云坝会：今天上午9点在{DEMO_COURTYARD}院坝，商量冬季防火和村道维修，请每户来一个人"


def _local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL_TZ).astimezone(UTC)


def _lives_alone(session: Session, courtyard_id: int) -> list[Resident]:
    return list(session.scalars(
        sa.select(Resident).join(Household, Resident.household_id == Household.id)
        .where(Household.courtyard_id == courtyard_id, Resident.lives_alone.is_(True), Resident.erased.is_(False))
        .order_by(Resident.id)))


def seed_reminders(session: Session, *, now: dt.datetime, courtyard: Courtyard) -> int:
    """Today's 9:00 云坝会 reminder for 椒香小院 and a medicine reminder for its first resident living alone."""
    today = to_local(now).date()
    reminders.create_reminder(session, now=now, actor=None, kind="meeting", text=MEETING_TEXT,
                              at=_local(today, 9), courtyard_id=courtyard.id)
    alone = _lives_alone(session, courtyard.id)
    if not alone:
        return 1
    reminders.create_reminder(session, now=now, actor=None, kind="medication", text="晚饭后吃降压药，一次一片",
                              at=_local(today, 19), resident_id=alone[0].id)
    return 2


def _leg(call: HelpCall, position: int, status: str, start: dt.datetime, seconds: int,
         digits: str | None = None) -> HelpCallLeg:
    person = call.chain[position] if position < len(call.chain) else {}
    return HelpCallLeg(help_call_id=call.id, position=position, round=1, name=person.get("name", ""),
                       phone=person.get("phone"), status=status, started_at=start,
                       deadline_at=start + dt.timedelta(seconds=20), ended_at=start + dt.timedelta(seconds=seconds),
                       digits=digits, provider_call_id=f"DEMO{call.id:04d}{position}")


def seed_help_calls(session: Session, *, now: dt.datetime, courtyard: Courtyard) -> int:
    """Two past one-key calls: the son did not answer and the 院长 took it; a daughter answered at once."""
    alone = _lives_alone(session, courtyard.id)
    if len(alone) < 2:
        return 0
    made = 0
    for resident, days_ago, hour, minute, legs in (
        (alone[1], 2, 21, 40, [("no_answer", 20, None), ("accepted", 35, "1")]),
        (alone[2] if len(alone) > 2 else alone[1], 11, 7, 15, [("accepted", 18, "1")]),
    ):
        start = _local(to_local(now).date() - dt.timedelta(days=days_ago), hour, minute)
        call = helpcalls.start_help_call(session, now=start, household_id=resident.household_id, source="tv",
                                         dryrun=True)
        at = start + dt.timedelta(seconds=6)
        for position, (status, seconds, digits) in enumerate(legs):
            session.add(_leg(call, position, status, at, seconds, digits))
            at += dt.timedelta(seconds=seconds + 2)
        reached = call.chain[len(legs) - 1]["name"] if len(call.chain) >= len(legs) else ""
        call.status, call.reached_name, call.current_index = "bridged", reached, len(legs) - 1
        call.next_action_at, call.ended_at, call.updated_at = None, at + dt.timedelta(minutes=3), at
        made += 1
    session.flush()
    return made


def seed_demo(services: Services) -> dict[str, int]:
    """Seed reminders and help calls (no-op when the demo meeting reminder already exists)."""
    now = services.clock.now()
    with transaction(services.session_factory) as session:
        if session.scalar(sa.select(Reminder.id).where(Reminder.text == MEETING_TEXT).limit(1)):
            return {}
        courtyard = session.scalar(sa.select(Courtyard).where(Courtyard.name == DEMO_COURTYARD))
        if courtyard is None:
            return {}
        return {"reminders": seed_reminders(session, now=now, courtyard=courtyard),
                "help_calls": seed_help_calls(session, now=now, courtyard=courtyard)}
