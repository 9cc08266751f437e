"""Households and residents: staff add and correct them within their places (audited)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.i18n import N_
from core.models.places import Courtyard, Household, Resident
from core.people import access
from core.people.audit import record_audit
from core.people.caregivers import CaregiverFields, add_caregiver, parse_phone


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


def _household_number(session: Session, courtyard: Courtyard, raw: str | None) -> str | None:
    """A 户号, unique within the 小院's village (the roster import's key); None when not given."""
    number = (raw or "").strip()
    if not number:
        return None
    if len(number) > 20:
        raise InvalidInput(N_("户号太长（最多20个字）"))
    taken = session.scalar(
        sa.select(Household.id).join(Courtyard, Household.courtyard_id == Courtyard.id)
        .where(Courtyard.village_id == courtyard.village_id, Household.number == number).limit(1))
    if taken is not None:
        raise InvalidInput(N_("这个村已经有户号%(number)s了"), number=number)
    return number


def create_household(session: Session, *, now: dt.datetime, actor: access.Viewer, courtyard_id: int, name: str,
                     address: str = "", landline: str | None = None, number: str | None = None) -> Household:
    """Add a household to a 小院 the actor manages (NotFound for any other 小院); a 户号 is unique per village."""
    access.require_manager(actor)
    courtyard = access.get_courtyard_for(session, actor, courtyard_id)
    values = _household_values(name, address, landline)
    values["number"] = _household_number(session, courtyard, number)
    household = Household(courtyard_id=courtyard.id, created_at=now, **values)
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
                    fields: ResidentFields, chain: Sequence[CaregiverFields] = ()) -> Resident:
    """Add a resident to a household the actor manages, with their caregiver chain in calling order."""
    access.require_manager(actor)
    household = access.get_household_for(session, actor, household_id)
    resident = Resident(household_id=household.id, created_at=now, **fields.validate(now))
    session.add(resident)
    session.flush()
    record_audit(session, at=now, actor=actor, action="resident.create", entity_type="resident",
                 entity_id=resident.id, household_id=household.id)
    for carer in chain:
        add_caregiver(session, now=now, actor=actor, resident_id=resident.id, kind=carer.kind, name=carer.name,
                      relation=carer.relation, phone=carer.phone, channels=list(carer.channels),
                      hours_start=carer.hours_start, hours_end=carer.hours_end, username=carer.username)
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
