"""Demo data for the TV area: two months of points, rewards, redemptions, notices, TV boxes, check-ins.

Called by `xiaoyuan demo` after the places and people exist (it finds them by the demo's names).
One box is paired and another waits with a pairing code. Their tokens are random, as for any box
(only the hashes are in the database); the plain tokens are kept in `{data dir}/demo-tv-tokens.json`
(mode 0600) so that `make run` can print URLs that open straight to them. Seeding again changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, UTC, to_local
from core.community import checkins, notices, points, rewards, tvboxes
from core.container import Services
from core.db import transaction
from core.models.places import Courtyard, Household, Resident, Village
from core.models.points import PointEntry
from core.models.rewards import Reward
from core.models.tvbox import TvBox
from core.private_files import write_private

DEMO_BOX_LABEL = "演示电视"  # the paired demo box (椒香小院1号, lives alone)
DEMO_PENDING_BOX_LABEL = "待配对的演示电视"  # a box still showing its pairing code
DEMO_TOKENS_FILE = "demo-tv-tokens.json"
DEMO_COURTYARD = "椒香小院"

# (category, reason, points): what a 院长 writes after an inspection, a meeting or a good deed.
GOOD_DEEDS = [
    ("环境卫生", "环境卫生检查：门前屋后干净整洁", 5),
    ("环境卫生", "环境卫生检查：垃圾分类做得好", 5),
    ("环境卫生", "清理房前沟渠", 3),
    ("参加会议", "参加云坝会", 2),
    ("参加会议", "参加院坝会议，带头发言", 3),
    ("志愿服务", "帮独居老人挑水劈柴", 4),
    ("志愿服务", "义务打扫村道", 3),
    ("志愿服务", "帮邻居抢收玉米", 4),
    ("孝老爱亲", "照顾生病的婆婆，邻里称赞", 5),
    ("移风易俗", "儿子婚事简办，不收礼金", 10),
]
DEDUCTIONS = [
    ("扣分", "柴草乱堆，检查未整改", -3),
    ("扣分", "垃圾倒进河沟", -5),
]
# The paired demo household: 95 points, so "5 L 菜籽油 85 分" leaves 10 (SCENARIOS S4).
DEMO_HOUSEHOLD_HISTORY = [
    (58, "环境卫生", "环境卫生检查：门前屋后干净整洁", 5), (52, "参加会议", "参加云坝会", 2),
    (45, "志愿服务", "帮独居老人挑水劈柴", 4), (38, "环境卫生", "环境卫生检查：垃圾分类做得好", 5),
    (31, "移风易俗", "带头不办坝坝宴", 10), (27, "孝老爱亲", "每天给隔壁张婆婆送饭", 20),
    (21, "参加会议", "参加云坝会", 2), (16, "志愿服务", "义务打扫村道", 3),
    (9, "环境卫生", "环境卫生检查：门前屋后干净整洁", 5), (6, "扣分", "柴草乱堆，检查未整改", -3),
    (4, "志愿服务", "帮邻居抢收玉米", 4), (2, "孝老爱亲", "照顾生病的侄儿一周", 38),
]
REWARDS = [  # name, cost, stock, description
    ("肥皂", 5, 60, "雕牌肥皂一块"), ("食盐", 6, 40, "加碘食盐 400 克"), ("牙膏", 8, 30, "中华牙膏一支"),
    ("毛巾", 12, 25, "纯棉毛巾一条"), ("洗衣粉", 15, 30, "洗衣粉 1 千克"), ("挂面", 18, 20, "挂面 2 千克"),
    ("大米", 50, 15, "大米 10 斤"), ("5 L 菜籽油", 85, 8, "压榨菜籽油 5 升"), ("电饭煲", 300, 1, "3 升电饭煲"),
]


def _local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=LOCAL_TZ).astimezone(UTC)


def _past(now: dt.datetime, days_ago: int, hour: int, rng: random.Random) -> dt.datetime:
    """A local daytime moment `days_ago` days before now (never in the future)."""
    day = to_local(now).date() - dt.timedelta(days=days_ago)
    return min(_local(day, hour, rng.randint(0, 59)), now - dt.timedelta(minutes=5))


def demo_households(session: Session) -> list[Household]:
    """The demo's households, in id order."""
    return list(session.scalars(sa.select(Household).order_by(Household.id)))


def _demo_household(session: Session) -> Household | None:
    """The first household of 椒香小院 whose resident lives alone (the paired demo TV)."""
    return session.scalar(
        sa.select(Household).join(Courtyard, Household.courtyard_id == Courtyard.id)
        .join(Resident, Resident.household_id == Household.id)
        .where(Courtyard.name == DEMO_COURTYARD, Resident.lives_alone.is_(True), Resident.erased.is_(False))
        .order_by(Household.id).limit(1)
    )


def seed_points(session: Session, *, now: dt.datetime, settings: Any, demo_household_id: int) -> int:
    """Two months of ledger entries for every household, a few deductions and one reversal."""
    rng = random.Random(20261126)
    categories = points.point_categories(settings)
    written = 0
    mistaken: PointEntry | None = None
    for household in demo_households(session):
        if household.id == demo_household_id:
            for days_ago, category, reason, delta in DEMO_HOUSEHOLD_HISTORY:
                points.award_points(session, now=_past(now, days_ago, 10, rng), household_id=household.id,
                                    delta=delta, category=category, reason=reason, actor="院长",
                                    categories=categories)
                written += 1
            continue
        for days_ago in sorted(rng.sample(range(1, 60), rng.randint(4, 9)), reverse=True):
            category, reason, delta = rng.choice(GOOD_DEEDS)
            entry = points.award_points(session, now=_past(now, days_ago, rng.randint(8, 17), rng),
                                        household_id=household.id, delta=delta, category=category, reason=reason,
                                        actor="院长", categories=categories)
            written += 1
            if mistaken is None and days_ago > 20 and delta == 5:
                mistaken = entry
        if rng.random() < 0.2:
            category, reason, delta = rng.choice(DEDUCTIONS)
            points.award_points(session, now=_past(now, rng.randint(3, 40), 15, rng), household_id=household.id,
                                delta=delta, category=category, reason=reason, actor="院长", categories=categories)
            written += 1
    if mistaken is not None:
        points.reverse_entry(session, now=mistaken.created_at + dt.timedelta(days=1), entry_id=mistaken.id,
                             reason="记错了户，冲正后补记给邻居", actor="院长")
        written += 1
    return written


def seed_rewards(session: Session, *, now: dt.datetime) -> dict[str, int]:
    """A 积分超市 catalogue per village, one open redemption (pickup code) and one collected."""
    created = 0
    villages = list(session.scalars(sa.select(Village).order_by(Village.id)))
    for village in villages:
        for order, (name, cost, stock, description) in enumerate(REWARDS):
            rewards.create_reward(session, now=now - dt.timedelta(days=60), village_id=village.id, name=name,
                                  cost=cost, stock=stock, description=description, sort_order=order)
            created += 1
    redemptions = 0
    demo = _demo_household(session)
    demo_id = demo.id if demo is not None else None
    candidates = sorted((h for h in demo_households(session) if h.id != demo_id),
                        key=lambda h: (-points.balance(session, h.id), h.id))
    wanted = [("肥皂", now - dt.timedelta(hours=20), False), ("毛巾", now - dt.timedelta(days=6), True)]
    for household, (reward_name, when, collected) in zip(candidates, wanted, strict=False):
        reward = session.scalar(rewards.rewards_for_household(session, household.id).where(Reward.name == reward_name))
        if reward is None or points.balance(session, household.id) < reward.cost:
            continue
        redemption = rewards.redeem(session, now=when, household_id=household.id, reward_id=reward.id,
                                    request_key=f"demo-{reward.id}", source="tv")
        if collected:
            rewards.collect(session, now=when + dt.timedelta(days=1), redemption=redemption)
        redemptions += 1
    return {"rewards": created, "redemptions": redemptions}


def seed_notices(session: Session, *, now: dt.datetime) -> int:
    """Notices of every category, including today's 9:00 云坝会 in 椒香小院 and a 招工 notice."""
    courtyard = session.scalars(sa.select(Courtyard).where(Courtyard.name == DEMO_COURTYARD)).one()
    village = session.get_one(Village, courtyard.village_id)
    today = to_local(now).date()
    town_id = village.town_id
    posted = [
        notices.post_notice(
            session, now=now - dt.timedelta(days=2), title=f"今天上午9点在{DEMO_COURTYARD}开云坝会",
            body=f"各位乡亲：今天上午9点在{DEMO_COURTYARD}院坝开云坝会，商量冬季防火、垃圾分类和村道维修。"
                 "请每户来一个人，带上板凳。行动不便的老人，院长会上门听意见。",
            category="meeting", audience="courtyard", town_id=town_id, village_id=village.id,
            courtyard_id=courtyard.id, event_at=_local(today, 9), pinned=True,
            publish_from=now - dt.timedelta(days=2), publish_until=_local(today + dt.timedelta(days=1), 0)),
        notices.post_notice(
            session, now=now - dt.timedelta(days=5), title="镇上柑橘园招采摘工",
            body="青石镇柑橘园招采摘工 20 名，每天 120 元，管午饭，干一天结一天。年龄 65 岁以下、身体健康即可。"
                 "想去的请告诉院长或打村委电话报名。",
            category="jobs", audience="town", town_id=town_id, publish_from=now - dt.timedelta(days=5)),
        notices.post_notice(
            session, now=now - dt.timedelta(days=3), title="冬季用火用电安全提醒",
            body="天冷了，烤火请开窗通风，不要把衣物搭在电热器上；出门前关好电源和火塘。",
            category="notice", audience="village", town_id=town_id, village_id=village.id,
            publish_from=now - dt.timedelta(days=3)),
        notices.post_notice(
            session, now=now - dt.timedelta(days=9), title="竹林小院垃圾分类的好办法",
            body="竹林小院每户门口放两个桶：能卖的、不能卖的。院长每周收一次可回收物，卖的钱给小院买扫帚。"
                 "三个月下来，院坝干净了，大家的积分也涨了。",
            category="experience", audience="town", town_id=town_id, publish_from=now - dt.timedelta(days=9)),
        notices.post_notice(
            session, now=now - dt.timedelta(days=12), title="2027 年城乡居民医保开始缴费",
            body="2027 年度城乡居民医疗保险开始缴费，每人 400 元，年底前缴清。65 岁以上老人可请网格员代办。",
            category="policy", audience="town", town_id=town_id, publish_from=now - dt.timedelta(days=12)),
    ]
    return len(posted)


def seed_tv_boxes(session: Session, *, now: dt.datetime, household_id: int) -> dict[str, str]:
    """The paired demo box and one box still showing a pairing code; their (random) tokens by role."""
    config = tvboxes.TvConfig()
    box, paired_token = tvboxes.register_box(session, now=now - dt.timedelta(days=30), config=config)
    code = tvboxes.current_code(session, now=now - dt.timedelta(days=30), box=box, config=config)
    tvboxes.pair_box(session, now=now - dt.timedelta(days=30), code=code.code, household_id=household_id,
                     actor="installer")
    box.label = DEMO_BOX_LABEL
    box.last_seen_at = now
    pending, pending_token = tvboxes.register_box(session, now=now, config=config)
    pending.label = DEMO_PENDING_BOX_LABEL
    tvboxes.current_code(session, now=now, box=pending, config=config)
    session.flush()
    return {"paired": paired_token, "pending": pending_token}


def save_demo_tokens(data_dir: Path, tokens: dict[str, str]) -> Path:
    """Keep the demo boxes' plain tokens for the start-up banner, readable by the owner only."""
    return write_private(data_dir / DEMO_TOKENS_FILE, json.dumps(tokens).encode("utf-8"))


def demo_tokens(data_dir: Path) -> dict[str, str]:
    """The demo boxes' tokens saved by `xiaoyuan demo` ({} when there is no demo)."""
    try:
        loaded = json.loads((data_dir / DEMO_TOKENS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in loaded.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(
        loaded, dict) else {}


def seed_checkins(session: Session, *, now: dt.datetime, skip_household_id: int) -> int:
    """This morning's 我很好 from about half of the residents living alone (never the paired demo home)."""
    start_of_day = _local(to_local(now).date(), 0)
    households = list(session.scalars(
        sa.select(Resident.household_id).where(Resident.lives_alone.is_(True), Resident.erased.is_(False))
        .order_by(Resident.household_id)))
    done = 0
    for index, household_id in enumerate(households):
        if household_id == skip_household_id or index % 2:
            continue
        at = max(start_of_day, now - dt.timedelta(minutes=20 + 17 * index))
        _row, created = checkins.check_in(session, now=at, household_id=household_id)
        done += created
    return done


def seed_demo(services: Services) -> dict[str, int]:
    """Seed the TV area's demo data (no-op when the demo TV box already exists)."""
    now = services.clock.now()
    with transaction(services.session_factory) as session:
        if session.scalar(sa.select(TvBox.id).where(TvBox.label == DEMO_BOX_LABEL)):
            return {}
        household = _demo_household(session)
        if household is None:
            return {}
        summary = {"point_entries": seed_points(session, now=now, settings=services.settings,
                                                demo_household_id=household.id)}
        summary.update(seed_rewards(session, now=now))
        summary["notices"] = seed_notices(session, now=now)
        tokens = seed_tv_boxes(session, now=now, household_id=household.id)
        summary["tv_boxes"] = len(tokens)
        summary["checkins"] = seed_checkins(session, now=now, skip_household_id=household.id)
    save_demo_tokens(services.settings.data_dir, tokens)
    return summary
