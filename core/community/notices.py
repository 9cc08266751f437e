"""Notices for the TV: post and edit (staff), list what a household may see, unread markers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, UTC, as_utc
from core.community.photos import check_photo_url
from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.models.notices import AUDIENCES, NOTICE_CATEGORIES, Notice, NoticeRead
from core.people.audit import record_audit
from core.people.directory import place_of_household

CATEGORY_LABELS = {"notice": N_("通知"), "experience": N_("经验宣传"), "policy": N_("政策"), "meeting": N_("会议"),
                   "jobs": N_("招工")}
AUDIENCE_LABELS = {"town": N_("全镇"), "village": N_("全村"), "courtyard": N_("本小院")}


def validate_notice(*, title: str, category: str, audience: str, publish_from: dt.datetime,
                    publish_until: dt.datetime | None) -> None:
    """Check a notice's fields before it is saved (pure)."""
    if not title.strip():
        raise InvalidInput(N_("请填写标题"))
    if len(title) > 120:
        raise InvalidInput(N_("标题太长"))
    if category not in NOTICE_CATEGORIES:
        raise InvalidInput(N_("未知类别：%(category)s"), category=category)
    if audience not in AUDIENCES:
        raise InvalidInput(N_("未知范围：%(audience)s"), audience=audience)
    if publish_until is not None and as_utc(publish_until) <= as_utc(publish_from):
        raise InvalidInput(N_("结束时间要晚于开始时间"))


def _place_ids(audience: str, *, town_id: int | None, village_id: int | None,
               courtyard_id: int | None) -> tuple[int | None, int | None]:
    if audience == "town":
        return None, None
    if audience == "village":
        if village_id is None:
            raise InvalidInput(N_("请选择村"))
        return village_id, None
    if courtyard_id is None or village_id is None:
        raise InvalidInput(N_("请选择小院"))
    return village_id, courtyard_id


def post_notice(
    session: Session, *, now: dt.datetime, title: str, body: str, category: str, audience: str, town_id: int,
    village_id: int | None = None, courtyard_id: int | None = None, publish_from: dt.datetime | None = None,
    publish_until: dt.datetime | None = None, pinned: bool = False, photo_url: str = "",
    event_at: dt.datetime | None = None, actor: Any = None, photo_hosts: tuple[str, ...] = (),
) -> Notice:
    """Post a notice for a town, a village or a 小院 (a photo only from our uploads or `photo_hosts`)."""
    photo_url = check_photo_url(photo_url, allowed_hosts=photo_hosts)
    publish_from = publish_from or now
    validate_notice(title=title, category=category, audience=audience, publish_from=publish_from,
                    publish_until=publish_until)
    village_id, courtyard_id = _place_ids(audience, town_id=town_id, village_id=village_id, courtyard_id=courtyard_id)
    notice = Notice(
        title=title.strip(), body=body.strip(), category=category, audience=audience, town_id=town_id,
        village_id=village_id, courtyard_id=courtyard_id, photo_url=photo_url.strip(), event_at=event_at,
        publish_from=publish_from, publish_until=publish_until, pinned=pinned, withdrawn=False,
        created_by_id=getattr(actor, "id", None), created_at=now, updated_at=now,
    )
    session.add(notice)
    session.flush()
    record_audit(session, at=now, actor=actor, action="notice.post", entity_type="notice", entity_id=notice.id)
    return notice


def edit_notice(session: Session, *, now: dt.datetime, notice: Notice, actor: Any = None,
                photo_hosts: tuple[str, ...] = (), **changes: Any) -> Notice:
    """Change a notice's text, category, window, pin or withdrawn flag (audience stays)."""
    allowed = {"title", "body", "category", "publish_from", "publish_until", "pinned", "photo_url", "event_at",
               "withdrawn"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(f"cannot change {sorted(unknown)}")
    merged = {k: changes.get(k, getattr(notice, k)) for k in ("title", "category", "publish_from", "publish_until")}
    validate_notice(audience=notice.audience, **merged)
    if "photo_url" in changes and changes["photo_url"] != notice.photo_url:
        changes["photo_url"] = check_photo_url(changes["photo_url"], allowed_hosts=photo_hosts)
    for key, value in changes.items():
        setattr(notice, key, value.strip() if isinstance(value, str) else value)
    notice.updated_at = now
    record_audit(session, at=now, actor=actor, action="notice.edit", entity_type="notice", entity_id=notice.id,
                 fields=sorted(changes))
    return notice


def _visible_clause(place: Any, now: Any) -> sa.ColumnElement[bool]:
    return sa.and_(
        Notice.withdrawn.is_(False),
        Notice.publish_from <= now,
        sa.or_(Notice.publish_until.is_(None), Notice.publish_until > now),
        Notice.town_id == place.town_id,
        sa.or_(
            Notice.audience == "town",
            sa.and_(Notice.audience == "village", Notice.village_id == place.village_id),
            sa.and_(Notice.audience == "courtyard", Notice.courtyard_id == place.courtyard_id),
        ),
    )


def notices_for_household(session: Session, *, now: dt.datetime, household_id: int,
                          place: Any = None) -> sa.Select[Notice, dt.datetime | None]:
    """A select of (Notice, read_at) a household may see now: pinned first, then newest."""
    place = place or place_of_household(session, household_id)
    return (
        sa.select(Notice, NoticeRead.read_at)
        .outerjoin(NoticeRead, sa.and_(NoticeRead.notice_id == Notice.id, NoticeRead.household_id == household_id))
        .where(_visible_clause(place, now))
        .order_by(Notice.pinned.desc(), Notice.publish_from.desc(), Notice.id.desc())
    )


def unread_count(session: Session, *, now: dt.datetime, household_id: int, place: Any = None) -> int:
    """How many visible notices this household has not opened."""
    place = place or place_of_household(session, household_id)
    return int(session.scalar(unread_count_query(now, household_id, place)) or 0)


def unread_count_query(now: Any, household_id: Any, place: Any) -> sa.Select[Any]:
    """The select counting a household's unread visible notices; the arguments may be values or SQL expressions
    (`place` needs `town_id`, `village_id` and `courtyard_id`)."""
    unread = ~sa.exists().where(NoticeRead.notice_id == Notice.id, NoticeRead.household_id == household_id)
    return sa.select(sa.func.count(Notice.id)).where(_visible_clause(place, now), unread)


def get_notice_for_household(session: Session, *, now: dt.datetime, household_id: int, notice_id: int) -> Notice:
    """A notice this household may see now; NotFound otherwise."""
    place = place_of_household(session, household_id)
    notice = session.scalar(sa.select(Notice).where(Notice.id == notice_id, _visible_clause(place, now)))
    if notice is None:
        raise NotFound(N_("找不到这条通知"))
    return notice


def mark_read(session: Session, *, now: dt.datetime, household_id: int, notice_id: int) -> None:
    """Remember that this household opened the notice (idempotent)."""
    if session.get(NoticeRead, (notice_id, household_id)) is not None:
        return
    try:
        with session.begin_nested():
            session.add(NoticeRead(notice_id=notice_id, household_id=household_id, read_at=now))
            session.flush()
    except IntegrityError:
        pass  # opened twice at the same moment: already marked


def local_day_bounds(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the local (Asia/Shanghai) day containing `now`, in UTC."""
    local = as_utc(now).astimezone(LOCAL_TZ)
    start = dt.datetime(local.year, local.month, local.day, tzinfo=LOCAL_TZ)
    return start.astimezone(UTC), (start + dt.timedelta(days=1)).astimezone(UTC)


def todays_meeting(session: Session, *, now: dt.datetime, household_id: int, place: Any = None) -> Notice | None:
    """A meeting notice (会议) this household can see whose meeting is today, local time."""
    start, end = local_day_bounds(now)
    place = place or place_of_household(session, household_id)
    return session.scalar(
        sa.select(Notice).where(
            _visible_clause(place, now), Notice.category == "meeting",
            Notice.event_at >= start, Notice.event_at < end,
        ).order_by(Notice.event_at, Notice.id)
    )


def speech_text(notice: Notice) -> str:
    """What 读给我听 reads: category, title, then body."""
    label = CATEGORY_LABELS.get(notice.category, "通知")
    return f"{label}。{notice.title}。{notice.body}".strip()


def notices_in_scope(session: Session, place_clause: Any) -> sa.Select:
    """A select of notices for the console, given a clause on Notice's place columns."""
    return sa.select(Notice).where(place_clause).order_by(Notice.created_at.desc(), Notice.id.desc())
