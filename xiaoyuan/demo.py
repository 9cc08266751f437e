"""`xiaoyuan demo`: a believable, entirely fictional village for demos and first runs."""

from __future__ import annotations

import datetime as dt
import logging
import random

from core.container import Services
from core.db import transaction
from core.models.places import CaregiverLink, Courtyard, Household, Resident, Town, Village
from core.people.users import create_user
from core.requests import workorders as req_svc

log = logging.getLogger(__name__)

DEMO_PASSWORD = "xiaoyuan-demo"
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
    counts = {"households": 0, "residents": 0, "users": 0}
    with transaction(services.session_factory) as s:
        town = Town(name="青石镇")
        s.add(town)
        s.flush()

        def user(username: str, role: str, name: str, phone: str, **scope: int) -> object:
            counts["users"] += 1
            return create_user(s, now=now, username=username, password=DEMO_PASSWORD, role=role,
                               display_name=name, phone=phone, channels=["dryrun"], **scope)

        user("admin", "admin", "系统管理员", "13700000000")
        user("zhihui", "town", "青石镇指挥中心", "13700000001", town_id=town.id)
        phone_seq = 100
        for v_index, (vname, courtyards) in enumerate(LAYOUT.items()):
            village = Village(town_id=town.id, name=vname)
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
                                              phone=f"+86138{phone_seq:08d}", channels=["dryrun"]),
                                CaregiverLink(resident_id=resident.id, position=2, kind="courtyard_head",
                                              name=head.display_name, phone=head.phone, channels=["dryrun"],
                                              user_id=head.id),
                                CaregiverLink(resident_id=resident.id, position=3, kind="doctor",
                                              name=doctor.display_name, relation="村医", phone=doctor.phone,
                                              channels=["dryrun"], user_id=doctor.id),
                                CaregiverLink(resident_id=resident.id, position=4, kind="grid_worker",
                                              name=grid.display_name, phone=grid.phone, channels=["dryrun"],
                                              user_id=grid.id, hours_start=8, hours_end=20),
                            ])
        s.flush()
    return counts


REQUEST_SAMPLES = [
    ("environment", "垃圾箱满了，麻烦来清一下", "new"),
    ("repair", "我家水管爆了", "assigned"),
    ("sell", "帮我卖三十个土鸡蛋", "in_progress"),
    ("find_head", "找院长商量低保的事", "resolved"),
    ("job", "想找点零工做", "evaluated"),
    ("help", "腿疼，想请人帮忙买药", "closed"),
    ("environment", "路灯不亮了", "assigned"),
    ("repair", "屋顶漏雨", "in_progress"),
]


def seed_requests(services: Services) -> int:
    """Requests in every state, moved through the real services so timelines are real."""
    import sqlalchemy as sa

    now = services.clock.now()
    due = services.settings.requests.due_hours
    with transaction(services.session_factory) as s:
        residents = list(s.scalars(sa.select(Resident).order_by(Resident.id)))
        for index, (kind, text, target) in enumerate(REQUEST_SAMPLES):
            resident = residents[(index * 7) % len(residents)]
            created = now - dt.timedelta(hours=30 - index * 3)
            # The "new" sample is an unregistered caller: nobody to assign it to until staff pick it up.
            req = req_svc.submit_request(s, now=created, due_hours=due,
                                         resident_id=None if target == "new" else resident.id, type=kind,
                                         channel=("phone", "tv", "console")[index % 3], text=text,
                                         system_label="demo")
            later = created + dt.timedelta(hours=1)
            if target in ("in_progress", "resolved", "evaluated", "closed"):
                req_svc.start_request(s, now=later, actor=None, request_id=req.id)
            if target in ("resolved", "evaluated", "closed"):
                req_svc.resolve_request(s, now=later + dt.timedelta(hours=2), actor=None, request_id=req.id,
                                        note="已上门处理 / handled on site")
            if target == "evaluated":
                req_svc.evaluate_request(s, now=later + dt.timedelta(hours=3), actor=None, request_id=req.id,
                                         satisfaction="satisfied")
            if target == "closed":
                req_svc.close_request(s, now=later + dt.timedelta(hours=3), actor=None, request_id=req.id,
                                      note="居民已确认 / confirmed by the resident")
    return len(REQUEST_SAMPLES)


def seed_demo(services: Services) -> dict[str, int]:
    """Everything a demo needs: places, people and requests, then each area's own part."""
    summary = seed_places_and_people(services)
    summary["requests"] = seed_requests(services)
    for area_seeder in _area_seeders():
        try:
            summary.update(area_seeder(services) or {})
        except Exception:
            log.exception("demo seeding failed for %s", area_seeder.__module__)
    return summary


def _area_seeders() -> list:
    """The `seed_demo(services)` functions of the TV, wristband and scheduled-operations areas."""
    from core.demo import bands as demo_devices
    from core.demo import community as demo_tv
    from core.demo import ops as demo_ops

    return [demo_tv.seed_demo, demo_devices.seed_demo, demo_ops.seed_demo]
