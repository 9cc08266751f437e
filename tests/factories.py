"""Small, explicit test data: one town, two villages, a 小院 each, households, residents, staff."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from core.models.places import CaregiverLink, Courtyard, Household, Resident, Town, Village
from core.models.staff import User
from core.people.users import create_user

PASSWORD = "correct-horse-9"


@dataclass
class World:
    """Ids of everything built, by short names."""

    town: Town
    villages: list[Village] = field(default_factory=list)
    courtyards: list[Courtyard] = field(default_factory=list)
    households: list[Household] = field(default_factory=list)
    residents: list[Resident] = field(default_factory=list)
    users: dict[str, User] = field(default_factory=dict)


def build_world(session: Session, now: dt.datetime, households_per_courtyard: int = 3) -> World:
    """Town 安富 with villages 高瓷村 and 通安村, courtyards 椒香小院 (A) and 荷花小院 (B).

    Users: admin, town, village_a, grid_a, head_a, head_b, carer_a (caregiver of resident 0).
    Resident 0 (王奶奶) lives alone in household 0 with a phone and a caregiver chain:
    son (family) → 院长 A → village doctor.
    """
    town = Town(name="安富街道")
    session.add(town)
    session.flush()
    world = World(town=town)
    for i, (vname, cname) in enumerate((("高瓷村", "椒香小院"), ("通安村", "荷花小院"))):
        village = Village(town_id=town.id, name=vname)
        session.add(village)
        session.flush()
        courtyard = Courtyard(village_id=village.id, name=cname, pickup_place=f"{vname}积分超市")
        session.add(courtyard)
        session.flush()
        world.villages.append(village)
        world.courtyards.append(courtyard)
        head = create_user(
            session, now=now, username=f"head_{'ab'[i]}", password=PASSWORD, role="courtyard_head",
            display_name=f"{'李张'[i]}院长", phone=f"1390000000{i}", courtyard_id=courtyard.id,
            village_id=village.id, town_id=town.id,
        )
        courtyard.head_user_id = head.id
        world.users[f"head_{'ab'[i]}"] = head
        for h in range(households_per_courtyard):
            household = Household(courtyard_id=courtyard.id, name=f"{cname}{h + 1}号户", created_at=now,
                                  landline=f"+8623467100{i}{h}")
            session.add(household)
            session.flush()
            world.households.append(household)
            resident = Resident(
                household_id=household.id, name=("王奶奶" if (i, h) == (0, 0) else f"居民{i}{h}"),
                phone=(f"+861380000{i}{h:03d}" if h != 2 else None), birth_year=1944 + h,
                lives_alone=(h == 0), created_at=now,
            )
            session.add(resident)
            session.flush()
            world.residents.append(resident)
    a, b = world.villages
    world.users["admin"] = create_user(session, now=now, username="admin", password=PASSWORD, role="admin")
    world.users["town"] = create_user(session, now=now, username="town", password=PASSWORD, role="town",
                                      town_id=town.id, phone="13900000010")
    world.users["village_a"] = create_user(session, now=now, username="village_a", password=PASSWORD,
                                           role="village", town_id=town.id, village_id=a.id, phone="13900000011")
    world.users["grid_a"] = create_user(session, now=now, username="grid_a", password=PASSWORD, role="grid_worker",
                                        town_id=town.id, village_id=a.id, phone="13900000012")
    world.users["carer_a"] = create_user(session, now=now, username="carer_a", password=PASSWORD, role="caregiver",
                                         phone="13800001111")
    first = world.residents[0]
    session.add_all([
        CaregiverLink(resident_id=first.id, position=1, kind="family", name="王小明", relation="儿子",
                      phone="+8613800001111", channels=["dryrun"], user_id=world.users["carer_a"].id),
        CaregiverLink(resident_id=first.id, position=2, kind="courtyard_head", name="李院长",
                      phone="+8613900000000", channels=["dryrun"], user_id=world.users["head_a"].id),
        CaregiverLink(resident_id=first.id, position=3, kind="doctor", name="赵医生", relation="村医",
                      phone="+8613900000020", channels=["dryrun"]),
    ])
    session.flush()
    return world
