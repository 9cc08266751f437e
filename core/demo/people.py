"""Demo places and people: one town, two villages, four 小院, households, residents, caregiver chains, staff."""

from __future__ import annotations

import random

from core.container import Services
from core.db import transaction
from core.models.places import CaregiverLink, Courtyard, Household, Resident, Town, Village
from core.models.staff import User
from core.people.users import create_user

DEMO_PASSWORD = "xiaoyuan-demo"
# Every account the demo creates (all with DEMO_PASSWORD): `xiaoyuan check` looks for them.
DEMO_USERNAMES = ("admin", "zhihui", "cun1", "cun2", "wangge1", "wangge2", "cunyi1", "cunyi2", "yuanzhang1",
                  "yuanzhang2", "yuanzhang3", "yuanzhang4")
SURNAMES = "王李张刘陈杨黄赵周吴徐孙胡朱高林何郭马罗"
GIVEN = ["秀英", "桂兰", "玉兰", "建国", "德明", "淑芬", "文华", "国强", "志明", "素珍", "明芳", "永福", "金凤",
         "长生", "凤英", "有才", "春花", "福贵", "翠兰", "大山"]
LAYOUT = {
    "桂花村": ["椒香小院", "竹林小院"],
    "荷塘村": ["荷花小院", "石榴小院"],
}
HOUSEHOLDS_PER_COURTYARD = 10


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def seed_places_and_people(services: Services) -> dict[str, int]:
    """Town, villages, 小院, households, residents, caregiver chains and staff of every role."""
    rng = random.Random(20261126)
    now = services.clock.now()
    # The configured channels (XIAOYUAN_NOTIFY_DEFAULT_CHANNELS): with a real provider the demo really sends.
    channels = list(services.settings.notify.default_channels)
    counts = {"households": 0, "residents": 0, "users": 0}
    with transaction(services.session_factory) as s:
        town = Town(name="青石镇")
        s.add(town)
        s.flush()

        def user(username: str, role: str, name: str, phone: str, *, town_id: int | None = None,
                 village_id: int | None = None, courtyard_id: int | None = None) -> User:
            counts["users"] += 1
            return create_user(s, now=now, username=username, password=DEMO_PASSWORD, role=role,
                               display_name=name, phone=phone, channels=channels, town_id=town_id,
                               village_id=village_id, courtyard_id=courtyard_id)

        user("admin", "admin", "系统管理员", "13700000000")
        user("zhihui", "town", "青石镇指挥中心", "13700000001", town_id=town.id)
        phone_seq = 100
        for v_index, (vname, courtyards) in enumerate(LAYOUT.items()):
            village = Village(town_id=town.id, name=vname, duty_phone=f"+861370000005{v_index}")
            s.add(village)
            s.flush()
            user(f"cun{v_index + 1}", "village", f"{vname}村委", f"1370000001{v_index}",
                 town_id=town.id, village_id=village.id)
            grid = user(f"wangge{v_index + 1}", "grid_worker", f"{vname}网格员", f"1370000002{v_index}",
                        town_id=town.id, village_id=village.id)
            doctor = user(f"cunyi{v_index + 1}", "caregiver", f"{vname}村医", f"1370000003{v_index}")
            for c_index, cname in enumerate(courtyards):
                courtyard = Courtyard(village_id=village.id, name=cname, pickup_place=f"{vname}积分超市")
                s.add(courtyard)
                s.flush()
                head_no = v_index * 2 + c_index + 1
                head = user(f"yuanzhang{head_no}", "courtyard_head", f"{_name(rng)}（{cname}院长）",
                            f"1370000004{head_no}", town_id=town.id, village_id=village.id, courtyard_id=courtyard.id)
                courtyard.head_user_id = head.id
                for h in range(HOUSEHOLDS_PER_COURTYARD):
                    family = _name(rng)
                    household = Household(courtyard_id=courtyard.id, name=f"{family[0]}家（{cname}{h + 1}号）",
                                          address=f"{vname}{cname}{h + 1}号", created_at=now,
                                          landline=f"+8623467{head_no}{h:03d}")
                    s.add(household)
                    s.flush()
                    counts["households"] += 1
                    lives_alone = h % 3 == 0
                    members = 1 if lives_alone else 2
                    for m in range(members):
                        phone_seq += 1
                        resident = Resident(
                            household_id=household.id, name=family[0] + rng.choice(GIVEN) if m else family,
                            phone=f"+86139{phone_seq:08d}" if m == 0 and h % 2 == 0 else None,
                            birth_year=rng.randint(1936, 1958), lives_alone=lives_alone and m == 0, created_at=now,
                        )
                        s.add(resident)
                        s.flush()
                        counts["residents"] += 1
                        if m == 0:
                            phone_seq += 1
                            s.add_all([
                                CaregiverLink(resident_id=resident.id, position=1, kind="family",
                                              name=family[0] + rng.choice(GIVEN), relation=rng.choice(["儿子", "女儿"]),
                                              phone=f"+86138{phone_seq:08d}", channels=channels),
                                CaregiverLink(resident_id=resident.id, position=2, kind="courtyard_head",
                                              name=head.display_name, phone=head.phone, channels=channels,
                                              user_id=head.id),
                                CaregiverLink(resident_id=resident.id, position=3, kind="doctor",
                                              name=doctor.display_name, relation="村医", phone=doctor.phone,
                                              channels=channels, user_id=doctor.id),
                                CaregiverLink(resident_id=resident.id, position=4, kind="grid_worker",
                                              name=grid.display_name, phone=grid.phone, channels=channels,
                                              user_id=grid.id, hours_start=8, hours_end=20),
                            ])
        s.flush()
    return counts
