"""Caregiver-chain editing used by the console: add, remove and reorder links, keeping positions 1..n."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from core.models.places import CAREGIVER_KINDS, CaregiverLink, Resident
from core.models.staff import User
from core.phones import InvalidPhone, normalise_phone

KNOWN_CHANNELS = ("dryrun", "twilio_sms", "wecom", "dingtalk", "webhook")


def parse_hour(raw: str | None) -> int | None:
    """An hour 0–23 from a form field; None when empty; InvalidInput otherwise."""
    if raw is None or not str(raw).strip():
        return None
    try:
        hour = int(str(raw).strip())
    except ValueError as exc:
        raise InvalidInput("时间请填 0 到 23 之间的整点 / hours are 0–23") from exc
    if not 0 <= hour <= 23:
        raise InvalidInput("时间请填 0 到 23 之间的整点 / hours are 0–23")
    return hour


def parse_phone(raw: str | None) -> str | None:
    """A phone number normalised to E.164 (landlines need their area code); InvalidInput when unusable."""
    try:
        return normalise_phone(raw)
    except InvalidPhone as exc:
        raise InvalidInput(str(exc)) from exc


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


def set_chain_order(session: Session, resident: Resident, ordered_ids: list[int]) -> list[CaregiverLink]:
    """Renumber a resident's chain to follow `ordered_ids` (which must be exactly its link ids)."""
    links = list(session.scalars(
        sa.select(CaregiverLink).where(CaregiverLink.resident_id == resident.id).order_by(CaregiverLink.position)
    ))
    by_id = {link.id: link for link in links}
    if sorted(ordered_ids) != sorted(by_id):
        raise InvalidInput("顺序与照护人列表不符 / order does not match the chain")
    # Two steps so the (resident, position) unique constraint never sees a duplicate mid-update.
    for offset, link in enumerate(links, start=1):
        link.position = -offset
    session.flush()
    for position, link_id in enumerate(ordered_ids, start=1):
        by_id[link_id].position = position
    session.flush()
    session.expire(resident, ["caregivers"])
    return [by_id[i] for i in ordered_ids]


def add_link(session: Session, resident: Resident, *, kind: str, name: str, relation: str = "",
             phone: str | None = None, channels: list[str] | None = None, hours_start: int | None = None,
             hours_end: int | None = None, username: str = "") -> CaregiverLink:
    """Append a caregiver to the end of a resident's chain."""
    if kind not in CAREGIVER_KINDS:
        raise InvalidInput(f"未知的照护人类型 / unknown kind: {kind}")
    name = name.strip()
    if not name:
        raise InvalidInput("请填写照护人姓名 / a name is required")
    chosen = [c for c in (channels or []) if c in KNOWN_CHANNELS]
    user_id = None
    if username.strip():
        user = session.scalar(sa.select(User).where(User.username == username.strip(), User.active.is_(True)))
        if user is None:
            raise InvalidInput("找不到这个账号 / no such user")
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
    return link


def remove_link(session: Session, resident: Resident, link_id: int) -> CaregiverLink:
    """Remove one link from a resident's chain and close the gap."""
    link = session.get(CaregiverLink, link_id)
    if link is None or link.resident_id != resident.id:
        raise NotFound("找不到这位照护人 / caregiver not found")
    session.delete(link)
    session.flush()
    remaining = list(session.scalars(
        sa.select(CaregiverLink.id).where(CaregiverLink.resident_id == resident.id).order_by(CaregiverLink.position)
    ))
    set_chain_order(session, resident, remaining)
    return link
