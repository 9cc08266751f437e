"""Elder watches' own settings: the SOS numbers and phonebook a watch should hold (its wearer's caregiver
chain), the commands that bring it there (pure), and what the watch confirmed it holds.

A watch dials its SOS numbers itself when its SOS key is held, so they must follow the caregiver chain:
SOS1..3 are the first three caregivers with a phone number, in chain order; the phonebook (`PHB`) lists
up to five of them with their names. A setting counts as held only once the watch acknowledged it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.bands.registry import find_watch
from core.health import parse_iso
from core.models.devices import Band, WatchCommand
from core.people.directory import caregiver_chain

SOS_SLOTS = 3
PHONEBOOK_SIZE = 5


def wanted_contacts(session: Session, band: Band) -> list[tuple[str, str]]:
    """(phone, name) of the wearer's caregiver chain in order, each number once; empty when unassigned."""
    if band.resident_id is None:
        return []
    contacts: list[tuple[str, str]] = []
    for link in caregiver_chain(session, band.resident_id):
        phone = "".join(ch for ch in (link.phone or "") if ch.isdigit() or ch == "+")
        if phone and phone not in (p for p, _ in contacts):
            contacts.append((phone, link.name))
    return contacts


def _phonebook_content(contacts: list[tuple[str, str]]) -> str:
    """`PHB,<phone>,<name as UTF-16BE hex>,…` (the watches show Chinese names from UCS-2 hex)."""
    parts = ["PHB"]
    for phone, name in contacts[:PHONEBOOK_SIZE]:
        parts += [phone, name.encode("utf-16-be").hex().upper()]
    return ",".join(parts)


def settings_commands(contacts: list[tuple[str, str]], held: dict[str, Any]) -> list[str]:
    """The commands that bring a watch from what it holds to what the chain wants (pure; [] when in step).
    An emptied slot is cleared (`SOS3,`) only when the watch held a number there."""
    commands: list[str] = []
    held_sos = list(held.get("sos") or [])
    for slot in range(SOS_SLOTS):
        want = contacts[slot][0] if slot < len(contacts) else ""
        have = held_sos[slot] if slot < len(held_sos) else ""
        if want != have:
            commands.append(f"SOS{slot + 1},{want}")
    phonebook = _phonebook_content(contacts)
    if contacts and held.get("phb") != phonebook:
        commands.append(phonebook)
    return commands


def watch_commands_due(session: Session, device_id: str) -> list[str]:
    """The settings commands a connected watch needs now (none for an unknown or retired watch)."""
    band = find_watch(session, device_id)
    if band is None:
        return []
    return settings_commands(wanted_contacts(session, band), dict(band.device_settings or {}))


def record_watch_ack(session: Session, *, device_id: str, command: str, now: dt.datetime) -> bool:
    """Note that a watch acknowledged a settings command (`SOS2,<phone>` or `PHB,…`); False when it is not
    one (CR, UPLOAD, … change nothing the console shows)."""
    band = session.scalar(sa.select(Band).where(Band.device_id == device_id))
    kind = command.split(",", 1)[0]
    if band is None or not (kind == "PHB" or (kind.startswith("SOS") and kind[3:].isdigit())):
        return False
    held = dict(band.device_settings or {})
    if kind == "PHB":
        held["phb"] = command
    else:
        slot = int(kind[3:]) - 1
        if not 0 <= slot < SOS_SLOTS:
            return False
        sos = list(held.get("sos") or [])
        sos += [""] * (SOS_SLOTS - len(sos))
        sos[slot] = command.split(",", 1)[1] if "," in command else ""
        held["sos"] = sos
    held["confirmed_at"] = now.isoformat()
    band.device_settings = held
    session.flush()
    return True


def held_summary(band: Band) -> dict[str, Any]:
    """What the console shows for a watch: its confirmed SOS numbers and when it last confirmed a setting."""
    held = band.device_settings or {}
    return {"sos": [p for p in (held.get("sos") or []) if p], "confirmed_at": parse_iso(held.get("confirmed_at")),
            "phonebook": bool(held.get("phb"))}


def save_watch_command(session: Session, *, device_id: str, content: str, now: dt.datetime) -> None:
    """Keep a command for a watch until it acknowledges it (a newer one of the same kind replaces it)."""
    band_id = session.scalar(sa.select(Band.id).where(Band.device_id == device_id))
    if band_id is None:
        return
    kind = content.split(",", 1)[0]
    session.execute(sa.delete(WatchCommand).where(WatchCommand.band_id == band_id, WatchCommand.kind == kind))
    session.add(WatchCommand(band_id=band_id, kind=kind, content=content, created_at=now))
    session.flush()


def drop_watch_command(session: Session, *, device_id: str, kind: str) -> None:
    """The watch acknowledged a command of this kind: forget it."""
    band_ids = sa.select(Band.id).where(Band.device_id == device_id).scalar_subquery()
    session.execute(sa.delete(WatchCommand).where(WatchCommand.band_id == band_ids, WatchCommand.kind == kind))


def pending_watch_commands(session: Session) -> dict[str, dict[str, str]]:
    """Every active watch's unacknowledged commands, oldest first: device id → {kind: content}."""
    out: dict[str, dict[str, str]] = {}
    for device_id, kind, content in session.execute(
        sa.select(Band.device_id, WatchCommand.kind, WatchCommand.content).join(Band, Band.id == WatchCommand.band_id)
        .where(Band.active.is_(True)).order_by(WatchCommand.created_at, WatchCommand.id)
    ):
        out.setdefault(device_id, {})[kind] = content
    return out
