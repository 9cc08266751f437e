"""Who the phone line puts a caller through to: 2 找院长 and 0 找人工, each with fallback people.

2 rings the 院长 first; 0 rings someone else first (the village duty phone, else the town 指挥中心),
so the two keys never reach the same person first. When the first does not answer, the next is the
village duty phone, then the next in the 小院's staff list. A number is dialled at most once per call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models.places import Courtyard, Household, Village
from core.models.staff import User
from core.phones import try_normalise_phone

HEAD = "head"  # 2 找院长
HUMAN = "human"  # 0 找人工
PURPOSES = (HEAD, HUMAN)
STAFF_ORDER = ("courtyard_head", "grid_worker", "village")  # the 小院's staff list, nearest first


@dataclass(frozen=True)
class Person:
    """Someone the line may ring: a name for the prompt, the number, and what they are."""

    name: str
    phone: str
    kind: str  # head / duty / town / staff
    user_id: int | None = None


@dataclass(frozen=True)
class PlaceStaff:
    """Everyone who could take a call for a caller's place, before ordering."""

    head: Person | None
    duty: Person | None
    town: Person | None
    staff: Sequence[Person] = ()


def plan_transfer(purpose: str, place: PlaceStaff, *, dialled: Iterable[str] = ()) -> list[Person]:
    """The people to ring for `purpose`, in order, without duplicates or numbers this call already dialled (pure).

    HEAD: 院长 → duty phone → staff list. HUMAN: duty phone (else 指挥中心) → 指挥中心 → staff list, never the 院长
    first.
    """
    if purpose == HEAD:
        ordered = [place.head, place.duty, *place.staff, place.town]
    else:
        ordered = [place.duty, place.town, *place.staff, place.head]
    seen = set(dialled)
    out: list[Person] = []
    for person in ordered:
        if person is None or not person.phone or person.phone in seen:
            continue
        seen.add(person.phone)
        out.append(person)
    if purpose == HUMAN and place.head is not None and out and out[0].phone == place.head.phone and len(out) > 1:
        out = [*out[1:], out[0]]  # 0 must not reach the 院长 first when anyone else can be rung
    return out


def _person(user: User, kind: str) -> Person | None:
    phone = try_normalise_phone(user.phone)
    return Person(user.display_name, phone, kind, user.id) if phone else None


def place_staff(session: Session, *, household_id: int | None, village_id: int | None,
                duty_name: str = "值班人员", town_name: str = "指挥中心") -> PlaceStaff:
    """Who could take a call for a household (or, for an unknown caller, for the village whose number was dialled)."""
    courtyard = None
    if household_id is not None:
        courtyard = session.scalar(sa.select(Courtyard).join(Household, Household.courtyard_id == Courtyard.id)
                                   .where(Household.id == household_id))
        if courtyard is not None:
            village_id = courtyard.village_id
    village = session.get(Village, village_id) if village_id is not None else None
    head = None
    if courtyard is not None and courtyard.head_user_id is not None:
        user = session.get(User, courtyard.head_user_id)
        head = _person(user, HEAD) if user is not None and user.active else None
    duty_phone = try_normalise_phone(village.duty_phone) if village is not None else None
    duty = Person(duty_name, duty_phone, "duty") if duty_phone else None
    staff: list[Person] = []
    town = None
    if village is not None:
        users = list(session.scalars(sa.select(User).where(
            User.active.is_(True), User.role.in_(STAFF_ORDER),
            sa.or_(User.village_id == village.id,
                   User.courtyard_id == (courtyard.id if courtyard is not None else -1)),
        ).order_by(User.id)))
        own_courtyard = courtyard.id if courtyard is not None else None

        def rank(user: User) -> tuple[int, int, int]:
            return (0 if user.courtyard_id == own_courtyard and own_courtyard is not None else 1,
                    STAFF_ORDER.index(user.role), user.id)

        for user in sorted(users, key=rank):
            if head is not None and user.id == head.user_id:
                continue
            if user.role == "courtyard_head" and user.courtyard_id != own_courtyard:
                continue  # another 小院's head is nobody's fallback here
            person = _person(user, "staff")
            if person is not None:
                staff.append(person)
        centre = session.scalar(sa.select(User).where(User.town_id == village.town_id, User.role == "town",
                                                      User.active.is_(True), User.phone.is_not(None))
                                .order_by(User.id))
        if centre is not None:
            found = _person(centre, "town")
            town = Person(centre.display_name or town_name, found.phone, "town", centre.id) if found else None
    return PlaceStaff(head=head, duty=duty, town=town, staff=staff)
