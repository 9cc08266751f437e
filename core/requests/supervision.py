"""Overdue supervision (挂牌督办) and the staff's morning digest.

An open request past its due time climbs one level at a time: the assignee is told (level 1); at
`escalate_village_factor` times its due span the village staff (level 2); at `escalate_town_factor`
times the town 指挥中心, and it is marked supervised (挂牌, level 3) until resolved. The level is kept
on the request and every message has a dedup key, so each step happens exactly once however often
(or however late) the sweep runs. A reopened request starts a new due span from its reopening.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.clock import to_local
from core.container import Services
from core.db import transaction
from core.i18n import DEFAULT_LOCALE, translate
from core.models.outbox import OutboxMessage
from core.models.places import Courtyard
from core.models.requests import Request, RequestEvent
from core.models.staff import User
from core.notify.outbox import enqueue_message, recipient_for_user
from core.people.directory import town_staff, village_staff
from core.requests import texts
from core.requests.config import OpsSettings
from core.requests.visibility import request_scope
from core.requests.workorders import OPEN_STATUSES, request_ref, type_label

log = logging.getLogger(__name__)

LEVEL_ACTIONS = {1: "overdue", 2: "escalated", 3: "supervised"}
LEVEL_PRIORITY = {1: 3, 2: 2, 3: 1}


def level_due(anchor: dt.datetime, span: dt.timedelta, now: dt.datetime, *, village_factor: float = 2.0,
              town_factor: float = 3.0) -> int:
    """The supervision level a request opened (or reopened) at `anchor` with due span `span` has reached now."""
    elapsed = now - anchor
    if elapsed >= span * town_factor:
        return 3
    if elapsed >= span * village_factor:
        return 2
    if elapsed >= span:
        return 1
    return 0


def overdue_hours(anchor: dt.datetime, span: dt.timedelta, now: dt.datetime) -> int:
    """Whole hours past due (0 when not yet due)."""
    return max(0, int((now - anchor - span).total_seconds() // 3600))


def due_window(session: Session, req: Request, due_hours: dict[str, float]) -> tuple[dt.datetime, dt.timedelta]:
    """The (anchor, span) of a request's current due period: from creation, or from its last reopening."""
    if req.reopen_count:
        reopened = session.scalar(
            sa.select(sa.func.max(RequestEvent.at)).where(
                RequestEvent.request_id == req.id, RequestEvent.action == "reopened"
            )
        )
        if reopened is not None:
            return reopened, dt.timedelta(hours=float(due_hours.get(req.type, 48)))
    if req.due_at is not None:
        return req.created_at, req.due_at - req.created_at
    return req.created_at, dt.timedelta(hours=float(due_hours.get(req.type, 48)))


def _place_label(session: Session, req: Request) -> str:
    if req.courtyard_id is None:
        return ""
    return session.scalar(sa.select(Courtyard.name).where(Courtyard.id == req.courtyard_id)) or ""


def _recipients(session: Session, req: Request, level: int) -> list[User]:
    if level == 1:
        assignee = session.get(User, req.assignee_id) if req.assignee_id else None
        if assignee is not None and assignee.active:
            return [assignee]
        level = 2  # nobody to remind: the village hears of it straight away
    if level == 2 and req.village_id is not None:
        staff = village_staff(session, req.village_id)
        if staff:
            return staff
    return town_staff(session, req.town_id) if req.town_id is not None else []


def _message(req: Request, level: int, hours: int, place: str, assignee: str, locale: str = DEFAULT_LOCALE) -> str:
    template = {1: texts.OVERDUE_ASSIGNEE, 2: texts.OVERDUE_VILLAGE}.get(level, texts.OVERDUE_TOWN)
    return translate(template, locale, what=request_ref(req, place, locale), hours=hours,
                     assignee=translate(texts.ASSIGNEE_PART, locale, name=assignee) if assignee else "",
                     body=(req.text or req.transcript or "")[:60])


def supervise_request(session: Session, req: Request, now: dt.datetime, settings: OpsSettings,
                      due_hours: dict[str, float]) -> int:
    """Take one open request up to the level it is due for (each missing step once); return steps taken."""
    anchor, span = due_window(session, req, due_hours)
    target = level_due(anchor, span, now, village_factor=settings.escalate_village_factor,
                       town_factor=settings.escalate_town_factor)
    steps = 0
    place = _place_label(session, req)
    assignee = session.get(User, req.assignee_id) if req.assignee_id else None
    hours = overdue_hours(anchor, span, now)
    while req.overdue_level < target:
        level = req.overdue_level + 1
        recipients = _recipients(session, req, level)
        for user in recipients:
            recipient = recipient_for_user(user)
            enqueue_message(
                session, now=now, recipient=recipient, template=f"request.{LEVEL_ACTIONS[level]}",
                text=_message(req, level, hours, place, assignee.display_name if assignee else "", recipient.locale),
                params={"request_id": req.id, "level": level, "overdue_hours": hours},
                priority=LEVEL_PRIORITY[level], dedup_key=f"supervise:{req.id}:{req.reopen_count}:{level}:{user.id}",
                subject=("request", req.id), village_id=req.village_id,
            )
        names = "、".join(u.display_name for u in recipients) or "（无人可通知）"
        req.events.append(RequestEvent(
            at=now, actor_id=None, actor_label="督办", action=LEVEL_ACTIONS[level], from_status=req.status,
            to_status=None, note=f"超期{hours}小时，已通知：{names}",
        ))
        req.overdue_level = level
        if level == 3:
            req.supervised = True
        req.updated_at = now
        steps += 1
    return steps


def supervise_overdue(services: Services) -> int:
    """Job: escalate every overdue open request to the level it is due for; return the steps taken."""
    now = services.clock.now()
    settings = services.settings.ops
    due_hours = dict(services.settings.requests.due_hours)
    with services.session_factory() as session:
        ids = list(session.scalars(
            sa.select(Request.id).where(
                Request.status.in_(OPEN_STATUSES), Request.overdue_level < 3, Request.due_at <= now
            ).order_by(Request.id)
        ))
    steps = 0
    for request_id in ids:
        try:
            with transaction(services.session_factory) as session:
                req = session.get(Request, request_id)
                if req is not None and req.status in OPEN_STATUSES:
                    steps += supervise_request(session, req, now, settings, due_hours)
        except Exception:
            log.exception("supervision of request %s failed", request_id)
    return steps


@dataclass(frozen=True)
class Digest:
    """A staff member's open and overdue items."""

    open_count: int
    overdue_count: int
    supervised_count: int
    oldest: list[tuple[int, str, str, int]]  # (request id, type label, 小院, hours overdue)


def build_digest(session: Session, user: User, now: dt.datetime) -> Digest:
    """Count the open, overdue and 挂牌 requests in a staff member's scope (their own assignments included)."""
    rows = session.execute(
        sa.select(Request, Courtyard.name)
        .outerjoin(Courtyard, Request.courtyard_id == Courtyard.id)
        .where(request_scope(user), Request.status.in_(OPEN_STATUSES))
        .order_by(Request.due_at)
    ).all()
    overdue = [(r, c) for r, c in rows if r.due_at is not None and r.due_at <= now]
    oldest = [
        (r.id, type_label(r.type), c or "", max(0, int((now - (r.due_at or now)).total_seconds() // 3600)))
        for r, c in overdue[:3]
    ]
    return Digest(len(rows), len(overdue), sum(1 for r, _ in rows if r.supervised), oldest)


def render_digest(name: str, digest: Digest, locale: str = DEFAULT_LOCALE) -> str:
    """The short digest text in the reader's `locale`."""
    counts = {"name": name, "open": digest.open_count, "overdue": digest.overdue_count,
              "supervised": digest.supervised_count}
    text = translate(texts.DIGEST_SUPERVISED if digest.supervised_count else texts.DIGEST, locale, **counts)
    if digest.oldest:
        items = translate(texts.LIST_SEPARATOR, locale).join(
            translate(texts.DIGEST_ITEM_PLACE if c else texts.DIGEST_ITEM, locale, id=i, type=translate(t, locale),
                      place=c, hours=h)
            for i, t, c, h in digest.oldest)
        text += translate(texts.DIGEST_OLDEST, locale, items=items)
    return text


def send_morning_digests(services: Services) -> int:
    """Job: once per local day (from digest_hour), send every staff member with open items their digest."""
    now = services.clock.now()
    settings = services.settings.ops
    local = to_local(now)
    if not (settings.digest_hour <= local.hour < settings.digest_until_hour):
        return 0
    day = local.date().isoformat()
    sent = 0
    with transaction(services.session_factory) as session:
        users = list(session.scalars(
            sa.select(User).where(User.active.is_(True), User.role.in_(settings.digest_roles))
            .order_by(User.id)
        ))
        sent_today = set(session.scalars(sa.select(OutboxMessage.dedup_key).where(
            OutboxMessage.dedup_key.in_([f"digest:{u.id}:{day}" for u in users]))))
        for user in users:
            if f"digest:{user.id}:{day}" in sent_today:
                continue
            digest = build_digest(session, user, now)
            if digest.open_count == 0:
                continue
            enqueue_message(
                session, now=now, recipient=recipient_for_user(user), template="ops.digest",
                text=render_digest(user.display_name, digest, user.locale or DEFAULT_LOCALE),
                params={"open": digest.open_count, "overdue": digest.overdue_count, "date": day},
                priority=6, dedup_key=f"digest:{user.id}:{day}", village_id=user.village_id,
            )
            sent += 1
    return sent
