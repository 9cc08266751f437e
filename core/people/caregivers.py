"""Caregiver chains: who is called, in which order, when a resident needs help — add, remove, reorder (audited).

Positions run 1..n without gaps; the 一键呼叫 dialler and alert escalation walk them in that order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.models.places import CAREGIVER_KINDS, CaregiverLink, Resident
from core.models.staff import User
from core.people import access
from core.people.audit import record_audit
from core.phones import InvalidPhone, normalise_phone

KNOWN_CHANNELS = ("dryrun", "twilio_sms", "wecom", "dingtalk", "webhook")


def parse_hour(raw: str | None) -> int | None:
    """An hour 0–23 from a form field; None when empty; InvalidInput otherwise."""
    if raw is None or not str(raw).strip():
        return None
    try:
        hour = int(str(raw).strip())
    except ValueError as exc:
        raise InvalidInput(N_("时间请填 0 到 23 之间的整点")) from exc
    if not 0 <= hour <= 23:
        raise InvalidInput(N_("时间请填 0 到 23 之间的整点"))
    return hour


def parse_phone(raw: str | None) -> str | None:
    """A phone number normalised to E.164 (landlines need their area code); InvalidInput when unusable."""
    try:
        return normalise_phone(raw)
    except InvalidPhone as exc:
        # Keep the msgid and its parameters, so each edge renders the reason in its reader's language.
        raise InvalidInput(exc.message, **exc.params) from exc


@dataclass(frozen=True)
class CaregiverFields:
    """One caregiver as a client sends it (the JSON API's chain): the arguments of `add_caregiver`."""

    kind: str
    name: str
    relation: str = ""
    phone: str | None = None
    channels: tuple[str, ...] = ()
    hours_start: int | None = None
    hours_end: int | None = None
    username: str = ""


def moved(ids: list[int], link_id: int, direction: str) -> list[int]:
    """The order of ids after moving one of them one step "up" or "down" (unchanged at the ends)."""
    if link_id not in ids or direction not in ("up", "down"):
        return list(ids)
    order = list(ids)
    i = order.index(link_id)
    j = i - 1 if direction == "up" else i + 1
    if 0 <= j < len(order):
        order[i], order[j] = order[j], order[i]
    return order


def _chain(session: Session, resident: Resident) -> list[CaregiverLink]:
    return list(session.scalars(
        sa.select(CaregiverLink).where(CaregiverLink.resident_id == resident.id).order_by(CaregiverLink.position)
    ))


def set_chain_order(session: Session, resident: Resident, ordered_ids: list[int]) -> list[CaregiverLink]:
    """Renumber a resident's chain to follow `ordered_ids` (which must be exactly its link ids)."""
    links = _chain(session, resident)
    by_id = {link.id: link for link in links}
    if sorted(ordered_ids) != sorted(by_id):
        raise InvalidInput(N_("顺序与照护人列表不符"))
    # Two steps so the (resident, position) unique constraint never sees a duplicate mid-update.
    for offset, link in enumerate(links, start=1):
        link.position = -offset
    session.flush()
    for position, link_id in enumerate(ordered_ids, start=1):
        by_id[link_id].position = position
    session.flush()
    session.expire(resident, ["caregivers"])
    return [by_id[i] for i in ordered_ids]


def _managed_resident(session: Session, actor: access.Viewer, resident_id: int) -> Resident:
    access.require_manager(actor)
    return access.get_resident_for(session, actor, resident_id)


def add_caregiver(
    session: Session, *, now: dt.datetime, actor: access.Viewer, resident_id: int, kind: str, name: str,
    relation: str = "", phone: str | None = None, channels: list[str] | None = None,
    hours_start: int | None = None, hours_end: int | None = None, username: str = "",
) -> CaregiverLink:
    """Append a caregiver to the end of a resident's chain (the actor must manage the resident).

    A linked account (`username`) must be one the actor may link (`access.linkable_accounts`).
    """
    resident = _managed_resident(session, actor, resident_id)
    if kind not in CAREGIVER_KINDS:
        raise InvalidInput(N_("未知的照护人类型"))
    name = name.strip()
    if not name:
        raise InvalidInput(N_("请填写照护人姓名"))
    for hour in (hours_start, hours_end):
        if hour is not None and not 0 <= hour <= 23:
            raise InvalidInput(N_("时间请填 0 到 23 之间的整点"))
    chosen = [c for c in (channels or []) if c in KNOWN_CHANNELS]
    user_id = None
    if username.strip():
        # One query and one message for "no such account" and "not yours to add": the answer must not
        # tell anyone which usernames exist elsewhere.
        user = session.scalar(sa.select(User).where(User.username == username.strip(),
                                                    access.linkable_accounts(actor, resident)))
        if user is None:
            raise InvalidInput(N_("找不到可以添加的这个账号：只能添加您管辖范围内的账号"))
        user_id = user.id
    last = session.scalar(
        sa.select(sa.func.max(CaregiverLink.position)).where(CaregiverLink.resident_id == resident.id)
    ) or 0
    link = CaregiverLink(
        resident_id=resident.id, position=last + 1, kind=kind, name=name[:80], relation=relation.strip()[:40],
        phone=parse_phone(phone), channels=chosen, hours_start=hours_start, hours_end=hours_end, user_id=user_id,
    )
    session.add(link)
    session.flush()
    session.expire(resident, ["caregivers"])
    record_audit(session, at=now, actor=actor, action="chain.add", entity_type="resident", entity_id=resident.id,
                 link_id=link.id, kind=link.kind)
    return link


def remove_caregiver(session: Session, *, now: dt.datetime, actor: access.Viewer, resident_id: int,
                     link_id: int) -> None:
    """Remove one caregiver from a resident's chain and close the gap."""
    resident = _managed_resident(session, actor, resident_id)
    link = session.get(CaregiverLink, link_id)
    if link is None or link.resident_id != resident.id:
        raise NotFound(N_("找不到这位照护人"))
    session.delete(link)
    session.flush()
    set_chain_order(session, resident, [other.id for other in _chain(session, resident)])
    record_audit(session, at=now, actor=actor, action="chain.remove", entity_type="resident", entity_id=resident.id,
                 link_id=link_id)


def move_caregiver(session: Session, *, now: dt.datetime, actor: access.Viewer, resident_id: int, link_id: int,
                   direction: str) -> None:
    """Move one caregiver a step "up" (called earlier) or "down" the chain."""
    resident = _managed_resident(session, actor, resident_id)
    if direction not in ("up", "down"):
        raise InvalidInput(N_("未知操作"))
    ids = [link.id for link in _chain(session, resident)]
    if link_id not in ids:
        raise NotFound(N_("找不到这位照护人"))
    set_chain_order(session, resident, moved(ids, link_id, direction))
    record_audit(session, at=now, actor=actor, action="chain.reorder", entity_type="resident",
                 entity_id=resident.id, link_id=link_id, direction=direction)
