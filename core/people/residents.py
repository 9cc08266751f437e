"""Households and residents: staff add and correct them within their places (audited)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.i18n import N_
from core.models.places import Household, Resident
from core.people import access
from core.people.audit import record_audit
from core.people.caregivers import parse_phone


@dataclass(frozen=True)
class ResidentFields:
    """What staff may set on a resident, as typed into the form (validated by `validate`)."""

    name: str
    phone: str | None = None
    birth_year: str | int | None = None
    lives_alone: bool = False
    notes: str = ""

    def validate(self, now: dt.datetime) -> dict:
        """The column values: name required, phone normalised, birth year 1900..this year; InvalidInput otherwise."""
        name = (self.name or "").strip()
        if not name:
            raise InvalidInput(N_("请填写姓名"))
        return {"name": name[:80], "phone": parse_phone(self.phone),
                "birth_year": _birth_year(self.birth_year, now.year), "lives_alone": bool(self.lives_alone),
                "notes": (self.notes or "").strip()[:2000]}


def _birth_year(raw: str | int | None, now_year: int) -> int | None:
    text = "" if raw is None else str(raw).strip()
    if not text:
        return None
    if not text.isdigit() or not 1900 <= int(text) <= now_year:
        raise InvalidInput(N_("出生年份不对"))
    return int(text)


def _household_values(name: str, address: str, landline: str | None) -> dict:
    name = (name or "").strip()
    if not name:
        raise InvalidInput(N_("请填写户名"))
    return {"name": name[:80], "address": (address or "").strip()[:200], "landline": parse_phone(landline)}


def create_household(session: Session, *, now: dt.datetime, actor: access.Viewer, courtyard_id: int, name: str,
                     address: str = "", landline: str | None = None) -> Household:
    """Add a household to a 小院 the actor manages (NotFound for any other 小院)."""
    access.require_manager(actor)
    courtyard = access.get_courtyard_for(session, actor, courtyard_id)
    household = Household(courtyard_id=courtyard.id, created_at=now, **_household_values(name, address, landline))
    session.add(household)
    session.flush()
    record_audit(session, at=now, actor=actor, action="household.create", entity_type="household",
                 entity_id=household.id, courtyard_id=courtyard.id)
    return household


def edit_household(session: Session, *, now: dt.datetime, actor: access.Viewer, household_id: int, name: str,
                   address: str = "", landline: str | None = None) -> Household:
    """Change a household's name, address and landline (normalised with its area code)."""
    access.require_manager(actor)
    household = access.get_household_for(session, actor, household_id)
    for key, value in _household_values(name, address, landline).items():
        setattr(household, key, value)
    record_audit(session, at=now, actor=actor, action="household.edit", entity_type="household",
                 entity_id=household.id)
    return household


def create_resident(session: Session, *, now: dt.datetime, actor: access.Viewer, household_id: int,
                    fields: ResidentFields) -> Resident:
    """Add a resident to a household the actor manages."""
    access.require_manager(actor)
    household = access.get_household_for(session, actor, household_id)
    resident = Resident(household_id=household.id, created_at=now, **fields.validate(now))
    session.add(resident)
    session.flush()
    record_audit(session, at=now, actor=actor, action="resident.create", entity_type="resident",
                 entity_id=resident.id, household_id=household.id)
    return resident


def edit_resident(session: Session, *, now: dt.datetime, actor: access.Viewer, resident_id: int,
                  fields: ResidentFields) -> Resident:
    """Change a resident's details; the audit entry names the fields that changed."""
    access.require_manager(actor)
    resident = access.get_resident_for(session, actor, resident_id)
    values = fields.validate(now)
    changed = sorted(k for k, v in values.items() if getattr(resident, k) != v)
    for key, value in values.items():
        setattr(resident, key, value)
    record_audit(session, at=now, actor=actor, action="resident.edit", entity_type="resident", entity_id=resident.id,
                 fields=changed)
    return resident
