"""找活干: cadres post day jobs; households see them on TV and phone and sign up; the poster and 院长 are told.

A job belongs to one village (or the whole town when it has none); households see the open jobs of
their village and town from today on. Signing up is once per household and job; it is refused
when the job has all the people it asked for.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.clock import to_local
from core.community import texts
from core.community.visibility import managed_village_ids
from core.errors import InvalidInput, InvalidTransition, NotFound, PermissionDenied
from core.i18n import N_, translate
from core.models.dayjobs import SIGNUP_CHANNELS, DayJob, JobSignup
from core.models.places import Household, Resident, Village
from core.models.staff import User
from core.notify.outbox import enqueue_message, recipient_for_user
from core.people.access import MANAGER_ROLES, Viewer
from core.people.audit import record_audit
from core.people.directory import courtyard_head, place_of_household, primary_resident

POSTER_ROLES = ("admin", "town", "village", "grid_worker")  # village cadres and the town
STATUS_LABELS = {"open": N_("招人中"), "closed": N_("已结束")}
CHANNEL_LABELS = {"tv": N_("电视"), "phone": N_("电话"), "console": N_("工作台")}


@dataclass(frozen=True)
class JobFields:
    """What a cadre fills in: 摘花椒, 100元/天, 大坡花椒地, a date, 5 people."""

    title: str
    pay: str
    place: str
    work_date: dt.date
    workers: int
    note: str = ""


def validate_job(fields: JobFields, *, today: dt.date) -> None:
    """Check a job's fields before it is saved (pure)."""
    if not fields.title.strip():
        raise InvalidInput(N_("请填写什么活"))
    if len(fields.title.strip()) > 60:
        raise InvalidInput(N_("标题太长"))
    if not fields.pay.strip() or len(fields.pay.strip()) > 30:
        raise InvalidInput(N_("请写明工钱，例如 100元/天"))
    if not fields.place.strip() or len(fields.place.strip()) > 80:
        raise InvalidInput(N_("请填写在哪里干活"))
    if fields.work_date < today:
        raise InvalidInput(N_("日期不能早于今天"))
    if not 1 <= fields.workers <= 999:
        raise InvalidInput(N_("要几个人：1 到 999"))
    if len(fields.note) > 200:
        raise InvalidInput(N_("说明太长"))


def job_scope(user: Viewer):
    """A clause on DayJob: jobs of the villages the user works in, and town-wide jobs of their town."""
    if user.role == "admin":
        return sa.true()
    if user.role not in MANAGER_ROLES:
        return sa.false()
    villages = managed_village_ids(user)
    towns = sa.select(Village.town_id).where(Village.id.in_(villages))
    if user.role == "town":
        return DayJob.town_id == user.town_id
    return sa.or_(DayJob.village_id.in_(villages), sa.and_(DayJob.village_id.is_(None), DayJob.town_id.in_(towns)))


def get_job_for(session: Session, user: Viewer, job_id: int) -> DayJob:
    """A job the user sees; NotFound otherwise."""
    job = session.scalar(sa.select(DayJob).where(DayJob.id == job_id, job_scope(user)))
    if job is None:
        raise NotFound(N_("找不到这个活"))
    return job


def _job_place(session: Session, user: Viewer, village_id: int | None) -> tuple[int, int | None]:
    """(town_id, village_id) of a new job: a village the user works in, or (town staff only) the whole town."""
    if user.role not in POSTER_ROLES:
        raise PermissionDenied(N_("村干部才能发布找活干"))
    if village_id is None:
        if user.role not in ("admin", "town"):
            raise PermissionDenied(N_("只有镇里可以发全镇的活"))
        town_id = user.town_id or session.scalar(sa.select(Village.town_id).order_by(Village.town_id).limit(1))
        if town_id is None:
            raise NotFound(N_("找不到这个地方"))
        return town_id, None
    village = session.scalar(sa.select(Village).where(Village.id == village_id,
                                                      Village.id.in_(managed_village_ids(user))))
    if village is None:
        raise NotFound(N_("找不到这个地方"))
    return village.town_id, village.id


def post_job(session: Session, *, now: dt.datetime, actor: Viewer, fields: JobFields,
             village_id: int | None) -> DayJob:
    """Post a day job for a village (or the whole town)."""
    town_id, village_id = _job_place(session, actor, village_id)
    validate_job(fields, today=to_local(now).date())
    job = DayJob(town_id=town_id, village_id=village_id, title=fields.title.strip(), pay=fields.pay.strip(),
                 place=fields.place.strip(), work_date=fields.work_date, workers=fields.workers,
                 note=fields.note.strip(), status="open", posted_by_id=getattr(actor, "id", None), created_at=now,
                 updated_at=now)
    session.add(job)
    session.flush()
    record_audit(session, at=now, actor=actor, action="dayjob.post", entity_type="day_job", entity_id=job.id)
    return job


def close_job(session: Session, *, now: dt.datetime, actor: Viewer, job_id: int) -> DayJob:
    """Stop taking sign-ups (enough people, or called off)."""
    job = get_job_for(session, actor, job_id)
    if actor.role not in POSTER_ROLES:
        raise PermissionDenied(N_("村干部才能发布找活干"))
    if job.status != "open":
        raise InvalidTransition(N_("这个活已经结束了"))
    job.status = "closed"
    job.updated_at = now
    record_audit(session, at=now, actor=actor, action="dayjob.close", entity_type="day_job", entity_id=job.id)
    return job


def jobs_query(user: Viewer, *, status: str | None = "open") -> sa.Select:
    """The user's jobs, soonest first; `status` None for all."""
    query = sa.select(DayJob).where(job_scope(user))
    if status:
        query = query.where(DayJob.status == status)
    return query.order_by(DayJob.work_date, DayJob.id)


def _household_clause(place: Any, today: dt.date):
    return sa.and_(DayJob.status == "open", DayJob.work_date >= today, DayJob.town_id == place.town_id,
                   sa.or_(DayJob.village_id.is_(None), DayJob.village_id == place.village_id))


def jobs_for_household(session: Session, *, now: dt.datetime, household_id: int) -> list[DayJob]:
    """The open jobs a household may take from today on, soonest first."""
    place = place_of_household(session, household_id)
    return list(session.scalars(sa.select(DayJob).where(_household_clause(place, to_local(now).date()))
                                .order_by(DayJob.work_date, DayJob.id)))


def open_job_count(session: Session, *, now: dt.datetime, place: Any) -> int:
    """How many open jobs a household of `place` may take from today on (the TV home's 找活干 tile)."""
    return int(session.scalar(sa.select(sa.func.count(DayJob.id))
                              .where(_household_clause(place, to_local(now).date()))) or 0)


def get_job_for_household(session: Session, *, now: dt.datetime, household_id: int, job_id: int) -> DayJob:
    """An open job this household may see; NotFound otherwise."""
    place = place_of_household(session, household_id)
    job = session.scalar(sa.select(DayJob).where(DayJob.id == job_id, _household_clause(place, to_local(now).date())))
    if job is None:
        raise NotFound(N_("这个活已经招满或结束了"))
    return job


def signed_up_jobs(session: Session, household_id: int) -> set[int]:
    """The ids of the jobs this household has signed up for (one query for a whole list of jobs)."""
    return set(session.scalars(sa.select(JobSignup.job_id).where(JobSignup.household_id == household_id)))


def signup_count(session: Session, job_id: int) -> int:
    """How many households have signed up."""
    return int(session.scalar(sa.select(sa.func.count(JobSignup.id)).where(JobSignup.job_id == job_id)) or 0)


def sign_up(session: Session, *, now: dt.datetime, household_id: int, job_id: int, channel: str,
            resident_id: int | None = None) -> tuple[JobSignup, bool]:
    """A household signs up (TV, phone); returns (signup, new). The poster and the 院长 are told once."""
    if channel not in SIGNUP_CHANNELS:
        raise InvalidInput(f"unknown channel {channel!r}")
    job = get_job_for_household(session, now=now, household_id=household_id, job_id=job_id)
    existing = session.scalar(sa.select(JobSignup).where(JobSignup.job_id == job.id,
                                                         JobSignup.household_id == household_id))
    if existing is not None:
        return existing, False
    if signup_count(session, job.id) >= job.workers:
        raise InvalidTransition(N_("这个活的人已经够了"))
    if resident_id is None:
        resident = primary_resident(session, household_id)
        resident_id = resident.id if resident is not None else None
    try:
        with session.begin_nested():
            signup = JobSignup(job_id=job.id, household_id=household_id, resident_id=resident_id, channel=channel,
                               created_at=now)
            session.add(signup)
            session.flush()
    except IntegrityError:  # the same household twice at the same moment (TV and phone)
        found = session.scalar(sa.select(JobSignup).where(JobSignup.job_id == job.id,
                                                          JobSignup.household_id == household_id))
        if found is None:
            raise
        return found, False
    record_audit(session, at=now, actor=f"household:{household_id}", action="dayjob.signup", entity_type="day_job",
                 entity_id=job.id, signup_id=signup.id, channel=channel)
    _tell_poster_and_head(session, now, job, signup)
    return signup, True


def _tell_poster_and_head(session: Session, now: dt.datetime, job: DayJob, signup: JobSignup) -> None:
    household = session.get_one(Household, signup.household_id)
    resident = session.get(Resident, signup.resident_id) if signup.resident_id is not None else None
    told: set[int] = set()
    poster = session.get(User, job.posted_by_id) if job.posted_by_id is not None else None
    for staff in (poster, courtyard_head(session, signup.household_id)):
        if staff is None or not staff.active or staff.id in told:
            continue
        told.add(staff.id)
        locale = staff.locale or "zh"
        text = translate(
            texts.JOB_SIGNUP, locale, household=household.name, resident=resident.name if resident else "-",
            phone=(resident.phone if resident else None) or household.landline or "-", title=job.title,
            date=spoken_date(job.work_date), place=job.place, count=signup_count(session, job.id),
            workers=job.workers, channel=translate(CHANNEL_LABELS[signup.channel], locale),
        )
        enqueue_message(session, now=now, recipient=recipient_for_user(staff), template="dayjob_signup", text=text,
                        params={"job_id": job.id, "signup_id": signup.id}, priority=5,
                        subject=("day_job", job.id), village_id=job.village_id,
                        dedup_key=f"dayjob-signup:{signup.id}:{staff.id}")


def spoken_date(day: dt.date) -> str:
    """A date as the TV and the phone say it: "12月3日" (pure)."""
    return f"{day.month}月{day.day}日"


def speech_text(job: DayJob) -> str:
    """What 读给我听 and the phone say about a job (Chinese, the voice's language)."""
    text = translate(texts.JOB_SPOKEN, title=job.title, pay=job.pay, date=spoken_date(job.work_date),
                     place=job.place, workers=job.workers)
    return f"{text}{job.note}" if job.note else text
