"""Rewards and redemptions on a real database, including real concurrent threads."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from core.community import points as pts
from core.community import rewards as rw
from core.db import transaction
from core.errors import InvalidTransition, ServiceError
from core.models.outbox import OutboxMessage
from core.models.rewards import Redemption, Reward


def _setup(factory, now, world_ids, *, points: int, cost: int, stock: int, households=(0,)):
    with transaction(factory) as session:
        for index in households:
            pts.award_points(session, now=now, household_id=world_ids.households[index], delta=points,
                           category="环境卫生", reason="检查优秀")
        return rw.create_reward(session, now=now, village_id=world_ids.villages[0], name="5升菜籽油", cost=cost,
                               stock=stock).id


def _race(factory, now, attempts):
    """Run redeem() attempts (household_id, reward_id) in real threads released together."""
    barrier = threading.Barrier(len(attempts))
    results: list[object] = []
    lock = threading.Lock()

    def attempt(household_id: int, reward_id: int) -> None:
        barrier.wait()
        try:
            with transaction(factory) as session:
                outcome: object = rw.redeem(session, now=now, household_id=household_id, reward_id=reward_id).id
        except ServiceError as exc:
            outcome = exc.code
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=attempt, args=a) for a in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_redeem_takes_points_and_stock_tells_the_head_and_gives_a_code(session_factory, clock, world_ids):
    reward_id = _setup(session_factory, clock.now(), world_ids, points=95, cost=85, stock=2)
    with transaction(session_factory) as session:
        redemption = rw.redeem(session, now=clock.now(), household_id=world_ids.households[0], reward_id=reward_id)
        assert len(redemption.code) == 4 and redemption.code.isdigit()
        assert redemption.pickup_place == "高瓷村积分超市"
    with transaction(session_factory) as session:
        assert pts.balance(session, world_ids.households[0]) == 10
        assert session.get(Reward, reward_id).stock == 1
        message = session.scalar(sa.select(OutboxMessage).where(OutboxMessage.template == "tv.redemption_new"))
        assert message.recipient_user_id == world_ids.users["head_a"]
        assert redemption.code in message.text
        with pytest.raises(rw.NotEnoughPoints):
            rw.redeem(session, now=clock.now(), household_id=world_ids.households[0], reward_id=reward_id)


def test_collect_by_code_and_cancel_with_refund(session_factory, clock, world_ids):
    reward_id = _setup(session_factory, clock.now(), world_ids, points=100, cost=30, stock=5)
    with transaction(session_factory) as session:
        first = rw.redeem(session, now=clock.now(), household_id=world_ids.households[0], reward_id=reward_id)
        second = rw.redeem(session, now=clock.now(), household_id=world_ids.households[0], reward_id=reward_id)
        assert first.code != second.code
        codes = (first.code, second.code)
    with transaction(session_factory) as session:
        found = rw.find_open_by_code(session, village_id=world_ids.villages[0], code=codes[0])
        rw.collect(session, now=clock.now(), redemption=found)
        with pytest.raises(InvalidTransition):
            rw.cancel(session, now=clock.now(), redemption=found, reason="晚了")
        other = rw.find_open_by_code(session, village_id=world_ids.villages[0], code=codes[1])
        rw.cancel(session, now=clock.now(), redemption=other, reason="不要了")
    with transaction(session_factory) as session:
        assert pts.balance(session, world_ids.households[0]) == 70
        assert session.get(Reward, reward_id).stock == 4
        assert [e.category for e in pts.history(session, world_ids.households[0])][:1] == ["退还"]
        with pytest.raises(ServiceError):
            rw.find_open_by_code(session, village_id=world_ids.villages[0], code=codes[0])  # collected: not open


def test_fifty_concurrent_redemptions_with_balance_for_one_redeem_once(session_factory, clock, world_ids):
    reward_id = _setup(session_factory, clock.now(), world_ids, points=95, cost=85, stock=100)
    results = _race(session_factory, clock.now(), [(world_ids.households[0], reward_id)] * 50)
    assert len(results) == 50
    assert sum(isinstance(r, int) for r in results) == 1
    assert {r for r in results if not isinstance(r, int)} == {"not_enough_points"}
    with transaction(session_factory) as session:
        assert pts.balance(session, world_ids.households[0]) == 10
        assert session.get(Reward, reward_id).stock == 99
        assert session.scalar(sa.select(sa.func.count(Redemption.id))) == 1


def test_stock_race_never_goes_below_zero(session_factory, clock, world_ids):
    reward_id = _setup(session_factory, clock.now(), world_ids, points=100, cost=10, stock=2, households=(0, 1, 2))
    attempts = [(world_ids.households[i % 3], reward_id) for i in range(30)]
    results = _race(session_factory, clock.now(), attempts)
    assert sum(isinstance(r, int) for r in results) == 2
    with transaction(session_factory) as session:
        assert session.get(Reward, reward_id).stock == 0
        total = sum(pts.balance(session, world_ids.households[i]) for i in range(3))
        assert total == 300 - 20


def test_same_confirm_screen_twice_makes_one_redemption(session_factory, clock, world_ids):
    reward_id = _setup(session_factory, clock.now(), world_ids, points=200, cost=10, stock=5)
    with transaction(session_factory) as session:
        a = rw.redeem(session, now=clock.now(), household_id=world_ids.households[0], reward_id=reward_id,
                     request_key="k1")
    with transaction(session_factory) as session:
        b = rw.redeem(session, now=clock.now(), household_id=world_ids.households[0], reward_id=reward_id,
                     request_key="k1")
        assert a.id == b.id
        assert pts.balance(session, world_ids.households[0]) == 190


def test_reward_of_another_village_is_invisible(session_factory, clock, world_ids):
    reward_id = _setup(session_factory, clock.now(), world_ids, points=100, cost=10, stock=5, households=(3,))
    with transaction(session_factory) as session:
        with pytest.raises(ServiceError) as info:
            rw.redeem(session, now=clock.now(), household_id=world_ids.households[3], reward_id=reward_id)
        assert info.value.code == "not_found"
