"""Closed loop (闭环): ask the resident whether a resolved request was handled to their satisfaction.

When a request is resolved, `followup_sweep` asks the resident — a one-key question on the TV home
for households with a paired TV box, a follow-up call (outbox channel `voice_call`) otherwise or on
the second try. Keys: 1 满意, 2 基本满意, 3 不满意. The answer becomes the request's evaluation; 不满意
reopens it and tells the next level up. No answer after `followup_max_attempts` tries closes it as
"unevaluated" (counted in reports). All state lives in `FollowupAttempt` rows, so a restart repeats nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, UTC, to_local
from core.container import Services
from core.db import transaction
from core.errors import InvalidInput, NotFound
from core.i18n import DEFAULT_LOCALE, N_, translate
from core.models.ops import FollowupAttempt
from core.models.outbox import OutboxMessage
from core.models.places import Courtyard, Household, Resident
from core.models.requests import Request
from core.models.staff import User
from core.models.tvbox import TvBox
from core.notify.outbox import Recipient, enqueue_message, recipient_for_user
from core.people.directory import primary_resident, town_staff, village_staff
from core.phone.confirmations import register_confirmation, reply_locale
from core.requests import texts
from core.requests.config import OpsSettings
from core.requests.workorders import evaluate_request, request_ref, type_label

log = logging.getLogger(__name__)

SUBJECT = "request_followup"
DIGITS = {"1": "satisfied", "2": "basic", "3": "dissatisfied"}
ANSWER_LABELS = {"satisfied": N_("满意"), "basic": N_("基本满意"), "dissatisfied": N_("不满意"),
                 "unevaluated": N_("未评价")}
OPTIONS = (("1", N_("满意")), ("2", N_("基本满意")), ("3", N_("不满意")))


def question_text(req: Request, locale: str = DEFAULT_LOCALE) -> str:
    """The question read out on the call (in Chinese) and shown on the TV (in the page's `locale`)."""
    body = (req.text or req.transcript or "").strip().replace("\n", " ")
    if body:
        return translate(texts.FOLLOWUP_QUESTION, locale, body=body[:20])
    return translate(texts.FOLLOWUP_QUESTION_TYPE, locale, type=translate(type_label(req.type), locale))


def next_call_time(now: dt.datetime, start_hour: int, end_hour: int) -> dt.datetime:
    """The first moment at or after `now` inside local calling hours [start_hour, end_hour)."""
    local = to_local(now)
    if start_hour <= local.hour < end_hour:
        return now
    day = local.date() if local.hour < start_hour else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(start_hour), tzinfo=LOCAL_TZ).astimezone(UTC)


def choose_channel(attempt: int, has_tv: bool, has_phone: bool) -> str | None:
    """TV households are asked on the TV first and called on the next try; others are called every time."""
    if has_tv and (attempt == 1 or not has_phone):
        return "tv"
    if has_phone:
        return "voice_call"
    return None


def household_has_tv(session: Session, household_id: int | None) -> bool:
    """Whether a household has a paired TV box."""
    if household_id is None:
        return False
    return (session.scalar(
        sa.select(sa.func.count()).select_from(TvBox).where(TvBox.household_id == household_id,
                                                            TvBox.status == "paired")
    ) or 0) > 0


def _resident_and_phone(session: Session, req: Request) -> tuple[Resident | None, str | None]:
    resident = session.get(Resident, req.resident_id) if req.resident_id else None
    if resident is None and req.household_id is not None:
        resident = primary_resident(session, req.household_id)
    if resident is not None and resident.erased:
        return None, None
    phone = resident.phone if resident is not None else None
    if not phone and req.household_id is not None:
        phone = session.scalar(sa.select(Household.landline).where(Household.id == req.household_id))
    return resident, phone


def _close_unevaluated(session: Session, req: Request, now: dt.datetime, note: str) -> None:
    evaluate_request(session, now=now, actor=None, request_id=req.id, satisfaction="unevaluated", note=note,
                     system_label="回访")


def advance_followup(session: Session, req: Request, now: dt.datetime, cfg: OpsSettings) -> str:
    """Do whatever is due for one resolved request: expire, ask again, or close as unevaluated."""
    cycle = req.reopen_count
    attempts = list(session.scalars(
        sa.select(FollowupAttempt).where(FollowupAttempt.request_id == req.id, FollowupAttempt.cycle == cycle)
        .order_by(FollowupAttempt.attempt)
    ))
    for attempt in attempts:
        if attempt.status == "pending" and now >= attempt.expires_at:
            attempt.status = "expired"
    if any(a.status == "pending" for a in attempts):
        return "waiting"
    max_attempts = cfg.followup_max_attempts
    if len(attempts) >= max_attempts:
        _close_unevaluated(session, req, now, f"回访{len(attempts)}次无应答")
        return "unevaluated"
    if attempts:
        due = attempts[-1].expires_at
    else:
        due = (req.resolved_at or now) + dt.timedelta(minutes=cfg.followup_delay_minutes)
    if now < due:
        return "not_due"
    number = len(attempts) + 1
    resident, phone = _resident_and_phone(session, req)
    channel = choose_channel(number, household_has_tv(session, req.household_id), bool(phone))
    if channel is None:
        _close_unevaluated(session, req, now, "无法联系居民回访")
        return "unevaluated"
    if channel == "tv":
        asks_at = now
        expires = now + dt.timedelta(hours=cfg.followup_tv_wait_hours)
    else:
        asks_at = next_call_time(now, cfg.followup_call_start_hour, cfg.followup_call_end_hour)
        expires = asks_at + dt.timedelta(hours=cfg.followup_call_wait_hours)
    attempt = FollowupAttempt(
        request_id=req.id, cycle=cycle, attempt=number, channel=channel, household_id=req.household_id,
        resident_id=resident.id if resident else None, status="pending", created_at=now, asks_at=asks_at,
        expires_at=expires,
    )
    session.add(attempt)
    session.flush()
    if channel == "voice_call":
        message = enqueue_message(
            session, now=now, recipient=Recipient(name=resident.name if resident else "", phone=phone),
            template="request.followup", text=question_text(req),
            params={"request_id": req.id, "attempt_id": attempt.id, "expect_digits": "123"},
            priority=6, dedup_key=f"followup:{req.id}:{cycle}:{number}", not_before=asks_at,
            subject=(SUBJECT, attempt.id), village_id=req.village_id, channels=["voice_call"],
        )
        attempt.outbox_message_id = message.id
    return f"asked:{channel}"


def followup_sweep(services: Services) -> int:
    """Job: advance the follow-up of every resolved request; return how many changed."""
    now = services.clock.now()
    cfg = services.settings.ops
    with services.session_factory() as session:
        ids = list(session.scalars(sa.select(Request.id).where(Request.status == "resolved").order_by(Request.id)))
    changed = 0
    for request_id in ids:
        try:
            with transaction(services.session_factory) as session:
                req = session.get(Request, request_id)
                if req is not None and req.status == "resolved":
                    outcome = advance_followup(session, req, now, cfg)
                    changed += outcome not in ("waiting", "not_due")
        except Exception:
            log.exception("follow-up of request %s failed", request_id)
    with transaction(services.session_factory) as session:
        _cancel_stale(session)
    return changed


def _cancel_stale(session: Session) -> None:
    """Pending attempts whose request moved on (staff evaluated it, it was reopened) are cancelled."""
    stale = session.scalars(
        sa.select(FollowupAttempt).join(Request, FollowupAttempt.request_id == Request.id).where(
            FollowupAttempt.status == "pending",
            sa.or_(Request.status != "resolved", Request.reopen_count != FollowupAttempt.cycle),
        )
    )
    for attempt in stale:
        attempt.status = "cancelled"


def _next_level_up(session: Session, req: Request) -> list[User]:
    """Who hears that a resident was not satisfied: above the assignee (院长 → 网格员 → village → town)."""
    assignee = session.get(User, req.assignee_id) if req.assignee_id else None
    role = assignee.role if assignee else "courtyard_head"
    if req.village_id is not None:
        if role == "courtyard_head":
            found = village_staff(session, req.village_id, ("grid_worker",)) or village_staff(session, req.village_id)
            if found:
                return found
        if role == "grid_worker":
            found = village_staff(session, req.village_id)
            if found:
                return found
    return town_staff(session, req.town_id) if req.town_id is not None else []


def record_answer(session: Session, *, now: dt.datetime, attempt: FollowupAttempt, digits: str, via: str,
                  locale: str = DEFAULT_LOCALE) -> str | None:
    """Store a resident's answer as the evaluation; the reply in `locale`, or None when the key is not 1, 2 or 3."""
    satisfaction = DIGITS.get((digits or "").strip()[:1])
    if satisfaction is None:
        return None
    req = session.get(Request, attempt.request_id)
    if req is None or req.status != "resolved" or req.reopen_count != attempt.cycle:
        return translate(texts.FOLLOWUP_ALREADY_ANSWERED, locale)
    evaluate_request(session, now=now, actor=None, request_id=req.id, satisfaction=satisfaction,
                     note=f"回访（{'电视' if via == 'tv' else '电话'}）：{ANSWER_LABELS[satisfaction]}",
                     system_label="居民回访")
    attempt.status, attempt.answer, attempt.answered_at = "answered", satisfaction, now
    for other in session.scalars(sa.select(FollowupAttempt).where(
        FollowupAttempt.request_id == req.id, FollowupAttempt.cycle == attempt.cycle,
        FollowupAttempt.status == "pending", FollowupAttempt.id != attempt.id,
    )):
        other.status = "cancelled"
    if satisfaction == "dissatisfied":
        place = session.scalar(sa.select(Courtyard.name).where(Courtyard.id == req.courtyard_id)) or ""
        assignee = session.get(User, req.assignee_id) if req.assignee_id else None
        for user in _next_level_up(session, req):
            recipient = recipient_for_user(user)
            text = translate(texts.FOLLOWUP_DISSATISFIED, recipient.locale,
                             what=request_ref(req, place, recipient.locale),
                             assignee=translate(texts.ASSIGNEE_PART, recipient.locale, name=assignee.display_name)
                             if assignee else "")
            enqueue_message(
                session, now=now, recipient=recipient, template="request.dissatisfied", text=text,
                params={"request_id": req.id}, priority=3,
                dedup_key=f"followup-dissatisfied:{req.id}:{attempt.cycle}:{user.id}",
                subject=("request", req.id), village_id=req.village_id,
            )
        return translate(texts.FOLLOWUP_REOPENED_REPLY, locale)
    return translate(texts.FOLLOWUP_THANKS, locale)


def _on_keypress(session: Session, now: dt.datetime, message: OutboxMessage, digits: str) -> str | None:
    """Confirmation handler for follow-up calls (subject request_followup, id = the attempt)."""
    attempt = session.get(FollowupAttempt, message.subject_id) if message.subject_id else None
    if attempt is None:
        return None
    return record_answer(session, now=now, attempt=attempt, digits=digits, via="voice_call",
                         locale=reply_locale(session, message))


register_confirmation(SUBJECT, _on_keypress)


@dataclass(frozen=True)
class FollowupPrompt:
    """A one-key question the TV home shows: answer with `answer_followup(request_id=…, digits=…)`."""

    request_id: int
    attempt_id: int
    type_label: str
    question: str
    options: tuple[tuple[str, str], ...] = OPTIONS


def tv_followup_pending_clause(household_id: Any) -> sa.ColumnElement[bool]:
    """A TV follow-up question waiting for the household (over FollowupAttempt joined to its Request)."""
    return sa.and_(
        FollowupAttempt.household_id == household_id, FollowupAttempt.channel == "tv",
        FollowupAttempt.status == "pending", Request.status == "resolved",
        Request.reopen_count == FollowupAttempt.cycle,
    )


def pending_followups_for_household(session: Session, household_id: int,
                                    locale: str = DEFAULT_LOCALE) -> list[FollowupPrompt]:
    """Questions waiting for this household on the TV (one per resolved request) in `locale`, oldest first."""
    rows = session.execute(
        sa.select(FollowupAttempt, Request).join(Request, FollowupAttempt.request_id == Request.id)
        .where(tv_followup_pending_clause(household_id)).order_by(FollowupAttempt.id)
    ).all()
    seen: set[int] = set()
    prompts = []
    for attempt, req in rows:
        if req.id in seen:
            continue
        seen.add(req.id)
        prompts.append(FollowupPrompt(req.id, attempt.id, type_label(req.type), question_text(req, locale)))
    return prompts


def answer_followup(session: Session, *, now: dt.datetime, household_id: int, request_id: int, digits: str,
                    locale: str = DEFAULT_LOCALE) -> str:
    """The TV's answer to a follow-up question (keys 1/2/3); returns the text to show in `locale`."""
    attempt = session.scalar(
        sa.select(FollowupAttempt).join(Request, FollowupAttempt.request_id == Request.id).where(
            FollowupAttempt.request_id == request_id, FollowupAttempt.household_id == household_id,
            FollowupAttempt.cycle == Request.reopen_count,
        ).order_by((FollowupAttempt.channel == "tv").desc(), FollowupAttempt.attempt.desc())
    )
    if attempt is None:
        raise NotFound(N_("没有需要回答的回访"))
    reply = record_answer(session, now=now, attempt=attempt, digits=digits, via="tv", locale=locale)
    if reply is None:
        raise InvalidInput(N_("请按1、2或3"))
    return reply
