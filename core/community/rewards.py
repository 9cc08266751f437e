"""Rewards and redemptions (积分超市): atomic redemption, pickup codes, collect and cancel.

A redemption takes the points and one item of stock with conditional UPDATEs in one transaction,
so the balance and the stock never go below zero and 50 concurrent presses redeem at most what
the balance pays for. The 院长 is told through the outbox in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.community import texts
from core.community.photos import check_photo_url
from core.community.points import record_redemption_debit, refund_points, take_points
from core.db import rows_changed
from core.errors import InvalidInput, InvalidTransition, NotFound, ServiceError
from core.i18n import N_, SPOKEN_LOCALE, translate
from core.models.places import Courtyard, Household
from core.models.rewards import Redemption, Reward
from core.notify.outbox import enqueue_message, recipient_for_user
from core.people.audit import record_audit
from core.people.directory import courtyard_head, place_of_household, village_staff

CODE_ATTEMPTS = 30


class NotEnoughPoints(ServiceError):
    """The balance does not cover the reward."""

    code = "not_enough_points"
    status = 409


class OutOfStock(ServiceError):
    """The reward has no stock left."""

    code = "out_of_stock"
    status = 409


class AlreadyRedeemed(ServiceError):
    """The same confirm screen was submitted twice at once; the other submission won."""

    code = "already_redeemed"
    status = 409

    def __init__(self, redemption_id: int) -> None:
        super().__init__(N_("这次兑换已经提交过了"))
        self.redemption_id = redemption_id


def new_pickup_code(taken: set[str] | frozenset[str] = frozenset(), rng: Any = secrets) -> str:
    """A random 4-digit pickup code (0000–9999) not in `taken` (pure, injectable randomness)."""
    if len(taken) >= 10000:
        raise InvalidTransition(N_("取货码已用完"))
    while True:
        code = f"{rng.randbelow(10000):04d}"
        if code not in taken:
            return code


def balance_after(balance: int, cost: int) -> int:
    """What the confirm screen shows: the balance after paying `cost` (may be negative: then refuse)."""
    return balance - cost


def can_redeem(balance: int, cost: int, stock: int, active: bool = True) -> str | None:
    """Why a household cannot redeem (a short code), or None when it can (pure)."""
    if not active:
        return "inactive"
    if stock <= 0:
        return "out_of_stock"
    if cost > balance:
        return "not_enough_points"
    return None


def rewards_for_household(session: Session, household_id: int, *, include_inactive: bool = False) -> sa.Select:
    """A select of the rewards a household can see: its village's, and its own 小院's."""
    place = place_of_household(session, household_id)
    query = sa.select(Reward).where(
        Reward.village_id == place.village_id,
        sa.or_(Reward.courtyard_id.is_(None), Reward.courtyard_id == place.courtyard_id),
    )
    if not include_inactive:
        query = query.where(Reward.active.is_(True))
    return query.order_by(Reward.sort_order, Reward.cost, Reward.id)


def get_reward_for_household(session: Session, household_id: int, reward_id: int) -> Reward:
    """A reward this household may see; NotFound otherwise."""
    reward = session.scalar(rewards_for_household(session, household_id).where(Reward.id == reward_id))
    if reward is None:
        raise NotFound(N_("找不到这个奖品"))
    return reward


def create_reward(
    session: Session, *, now: dt.datetime, village_id: int, name: str, cost: int, stock: int,
    courtyard_id: int | None = None, description: str = "", photo_url: str = "", pickup_place: str = "",
    actor: Any = None, sort_order: int = 0, photo_hosts: tuple[str, ...] = (),
) -> Reward:
    """Add a reward to a village's (or one 小院's) catalogue (a photo only from our uploads or `photo_hosts`)."""
    photo_url = check_photo_url(photo_url, allowed_hosts=photo_hosts)
    if not name.strip():
        raise InvalidInput(N_("请填写奖品名称"))
    if cost <= 0:
        raise InvalidInput(N_("所需积分必须大于 0"))
    if stock < 0:
        raise InvalidInput(N_("库存不能为负"))
    reward = Reward(
        village_id=village_id, courtyard_id=courtyard_id, name=name.strip(), description=description.strip(),
        photo_url=photo_url.strip(), cost=cost, stock=stock, pickup_place=pickup_place.strip(), active=True,
        sort_order=sort_order, created_at=now, updated_at=now,
    )
    session.add(reward)
    session.flush()
    record_audit(session, at=now, actor=actor, action="reward.create", entity_type="reward", entity_id=reward.id)
    return reward


def update_reward(session: Session, *, now: dt.datetime, reward: Reward, actor: Any = None,
                  photo_hosts: tuple[str, ...] = (), **changes: Any) -> Reward:
    """Change a reward's name, cost, photo, active flag or pickup place (not its stock: see adjust_stock)."""
    allowed = {"name", "description", "photo_url", "cost", "pickup_place", "active", "sort_order"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(f"cannot change {sorted(unknown)}")
    if "cost" in changes and int(changes["cost"]) <= 0:
        raise InvalidInput(N_("所需积分必须大于 0"))
    if "photo_url" in changes and changes["photo_url"] != reward.photo_url:
        changes["photo_url"] = check_photo_url(changes["photo_url"], allowed_hosts=photo_hosts)
    for key, value in changes.items():
        setattr(reward, key, value)
    reward.updated_at = now
    record_audit(session, at=now, actor=actor, action="reward.update", entity_type="reward", entity_id=reward.id,
                 fields=sorted(changes))
    return reward


def adjust_stock(session: Session, *, now: dt.datetime, reward_id: int, change: int, actor: Any = None) -> int:
    """Add to (or take from) a reward's stock atomically; the stock never goes below zero."""
    result = session.execute(
        sa.update(Reward).where(Reward.id == reward_id, Reward.stock + change >= 0)
        .values(stock=Reward.stock + change, updated_at=now).execution_options(synchronize_session=False)
    )
    if rows_changed(result) != 1:
        raise InvalidInput(N_("库存不能为负"))
    record_audit(session, at=now, actor=actor, action="reward.stock", entity_type="reward", entity_id=reward_id,
                 change=change)
    stock = session.scalar(sa.select(Reward.stock).where(Reward.id == reward_id))
    return int(stock or 0)


def _pickup_place(session: Session, reward: Reward, courtyard_id: int) -> str:
    if reward.pickup_place:
        return reward.pickup_place
    return session.scalar(sa.select(Courtyard.pickup_place).where(Courtyard.id == courtyard_id)) or ""


def _tell_staff(session: Session, *, now: dt.datetime, redemption: Redemption, household_name: str,
                template: str, text: Callable[[str], str]) -> None:
    """Tell the 院长 (else the village staff); `text(locale)` renders the message for each reader."""
    head = courtyard_head(session, redemption.household_id)
    people = [head] if head is not None else village_staff(session, redemption.village_id)
    for user in people:
        recipient = recipient_for_user(user)
        enqueue_message(
            session, now=now, recipient=recipient, template=template, text=text(recipient.locale),
            params={"redemption_id": redemption.id, "household": household_name, "reward": redemption.reward_name,
                    "code": redemption.code},
            priority=6, subject=("redemption", redemption.id), village_id=redemption.village_id,
            dedup_key=f"{template}:{redemption.id}:{user.id}",
        )


def redeem(
    session: Session, *, now: dt.datetime, household_id: int, reward_id: int, request_key: str | None = None,
    source: str = "tv", rng: Any = secrets,
) -> Redemption:
    """Redeem one reward for a household: take points and stock, make a pickup code, tell the 院长.

    `request_key` (the confirm screen's nonce) makes a repeated submission return the first
    redemption instead of making a second one.
    """
    if request_key is not None:
        existing = session.scalar(sa.select(Redemption).where(
            Redemption.household_id == household_id, Redemption.request_key == request_key))
        if existing is not None:
            return existing
    reward = get_reward_for_household(session, household_id, reward_id)
    place = place_of_household(session, household_id)
    if not take_points(session, now=now, household_id=household_id, cost=reward.cost):
        raise NotEnoughPoints(N_("积分不够"))
    taken = session.execute(
        sa.update(Reward).where(Reward.id == reward.id, Reward.stock >= 1, Reward.active.is_(True))
        .values(stock=Reward.stock - 1, updated_at=now).execution_options(synchronize_session=False)
    )
    if rows_changed(taken) != 1:
        raise OutOfStock(N_("这个奖品已经兑完了"))
    redemption = _insert_with_code(session, now=now, household_id=household_id, reward=reward, place=place,
                                   request_key=request_key, source=source, rng=rng)
    record_redemption_debit(session, now=now, household_id=household_id, cost=reward.cost,
                            reason=f"兑换 {reward.name}", redemption_id=redemption.id)
    household_name = session.scalar(sa.select(Household.name).where(Household.id == household_id)) or ""
    _tell_staff(
        session, now=now, redemption=redemption, household_name=household_name, template="tv.redemption_new",
        text=lambda locale: translate(
            texts.REDEMPTION_NEW, locale, household=household_name, reward=reward.name, cost=reward.cost,
            code=redemption.code, place=redemption.pickup_place or translate(texts.DEFAULT_PICKUP_PLACE, locale)),
    )
    record_audit(session, at=now, actor=None, action="redemption.create", entity_type="redemption",
                 entity_id=redemption.id, household_id=household_id, reward_id=reward.id)
    return redemption


def _insert_with_code(session: Session, *, now: dt.datetime, household_id: int, reward: Reward, place: Any,
                      request_key: str | None, source: str, rng: Any) -> Redemption:
    taken = {code for code in session.scalars(sa.select(Redemption.open_code).where(
        Redemption.village_id == place.village_id, Redemption.open_code.is_not(None))) if code is not None}
    for _attempt in range(CODE_ATTEMPTS):
        code = new_pickup_code(taken, rng)
        redemption = Redemption(
            household_id=household_id, reward_id=reward.id, courtyard_id=place.courtyard_id,
            village_id=place.village_id, town_id=place.town_id, reward_name=reward.name, cost=reward.cost,
            code=code, open_code=code, pickup_place=_pickup_place(session, reward, place.courtyard_id),
            status="open", request_key=request_key, source=source, created_at=now,
        )
        try:
            with session.begin_nested():
                session.add(redemption)
                session.flush()
            return redemption
        except IntegrityError:
            if request_key is not None:
                other = session.scalar(sa.select(Redemption.id).where(
                    Redemption.household_id == household_id, Redemption.request_key == request_key))
                if other is not None:
                    raise AlreadyRedeemed(other) from None
            taken.add(code)  # another open redemption took this code meanwhile: try another
    raise InvalidTransition(N_("取货码生成失败，请稍后再试"))


def get_redemption_for_household(session: Session, household_id: int, redemption_id: int) -> Redemption:
    """A redemption of this household; NotFound for anyone else's."""
    redemption = session.scalar(sa.select(Redemption).where(
        Redemption.id == redemption_id, Redemption.household_id == household_id))
    if redemption is None:
        raise NotFound(N_("找不到这次兑换"))
    return redemption


def find_open_by_code(session: Session, *, village_id: int, code: str) -> Redemption:
    """The open redemption with this pickup code in a village."""
    code = code.strip()
    if len(code) != 4 or not code.isdigit():
        raise InvalidInput(N_("取货码是 4 位数字"))
    redemption = session.scalar(sa.select(Redemption).where(
        Redemption.village_id == village_id, Redemption.open_code == code))
    if redemption is None:
        raise NotFound(N_("没有这个取货码的待取兑换"))
    return redemption


def collect(session: Session, *, now: dt.datetime, redemption: Redemption, actor: Any = None) -> Redemption:
    """Mark an open redemption collected (the keeper handed the item over)."""
    if redemption.status != "open":
        raise InvalidTransition(N_("这次兑换不是待取状态"))
    redemption.status = "collected"
    redemption.open_code = None
    redemption.collected_at = now
    redemption.collected_by_id = getattr(actor, "id", None)
    session.flush()
    record_audit(session, at=now, actor=actor, action="redemption.collect", entity_type="redemption",
                 entity_id=redemption.id)
    return redemption


def cancel(session: Session, *, now: dt.datetime, redemption: Redemption, reason: str, actor: Any = None) -> Redemption:
    """Cancel an open redemption: refund the points (退还 entry) and put the item back in stock."""
    if redemption.status != "open":
        raise InvalidTransition(N_("只有待取的兑换可以取消"))
    if not reason.strip():
        raise InvalidInput(N_("请写明原因"))
    redemption.status = "cancelled"
    redemption.open_code = None
    redemption.cancelled_at = now
    redemption.cancelled_by_id = getattr(actor, "id", None)
    redemption.cancel_reason = reason.strip()
    session.execute(sa.update(Reward).where(Reward.id == redemption.reward_id)
                    .values(stock=Reward.stock + 1, updated_at=now).execution_options(synchronize_session=False))
    refund_points(session, now=now, household_id=redemption.household_id, amount=redemption.cost,
                  reason=f"取消兑换 {redemption.reward_name}：{reason.strip()}", redemption_id=redemption.id,
                  actor=actor)
    session.flush()
    record_audit(session, at=now, actor=actor, action="redemption.cancel", entity_type="redemption",
                 entity_id=redemption.id, reason=reason.strip())
    return redemption


def pickup_speech(redemption: Redemption) -> str:
    """What the TV reads aloud on the pickup code page (digits one by one, in the TV voice's Chinese).

    再听一遍 on a redemption that was collected or cancelled says so, never an old code.
    """
    if redemption.status == "collected":
        return translate(texts.COLLECTED_SPOKEN, SPOKEN_LOCALE, reward=redemption.reward_name)
    if redemption.status == "cancelled":
        return translate(texts.CANCELLED_SPOKEN, SPOKEN_LOCALE, reward=redemption.reward_name)
    return translate(texts.PICKUP_SPOKEN, SPOKEN_LOCALE, digits="，".join(redemption.code),
                     place=redemption.pickup_place or translate(texts.DEFAULT_PICKUP_PLACE, SPOKEN_LOCALE),
                     reward=redemption.reward_name)
