"""The points ledger on a real database: append-only, reversals, batch awards, balance = sum, rankings."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core.community import points as pts
from core.community import rewards as rw
from core.db import transaction
from core.errors import InvalidInput, InvalidTransition
from core.models.points import PointAccount, PointEntry
from core.models.rewards import Redemption


def _award(factory, now, household_id, delta, reason="好", category="环境卫生"):
    with transaction(factory) as session:
        return pts.award_points(session, now=now, household_id=household_id, delta=delta, category=category,
                              reason=reason).id


def _account(session, household_id):
    return session.scalar(sa.select(PointAccount.balance).where(PointAccount.household_id == household_id))


def test_balance_is_the_sum_and_corrections_are_reversal_entries(session_factory, clock, world_ids):
    h = world_ids.households[0]
    first = _award(session_factory, clock.now(), h, 10)
    _award(session_factory, clock.now(), h, -3, category="扣分", reason="乱堆柴火")
    with transaction(session_factory) as session:
        reversal = pts.reverse_entry(session, now=clock.now(), entry_id=first, reason="记错户了")
        assert reversal.delta == -10 and reversal.category == "冲正"
    with transaction(session_factory) as session:
        assert pts.balance(session, h) == -3 == _account(session, h)
        original = session.get(PointEntry, first)
        assert original.delta == 10  # never edited
        with pytest.raises(InvalidTransition):
            pts.reverse_entry(session, now=clock.now(), entry_id=first, reason="再来一次")
        assert [e.delta for e in pts.history(session, h)] == [-10, -3, 10]


def test_staff_cannot_write_system_categories_or_missing_reasons(session_factory, clock, world_ids):
    with transaction(session_factory) as session:
        with pytest.raises(InvalidInput):
            pts.award_points(session, now=clock.now(), household_id=world_ids.households[0], delta=100,
                           category="兑换", reason="偷偷加分")
        with pytest.raises(InvalidInput):
            pts.award_points(session, now=clock.now(), household_id=world_ids.households[0], delta=5,
                           category="环境卫生", reason="  ")


def test_batch_award_for_a_courtyard_is_all_or_nothing(session_factory, clock, world_ids):
    a1, a2, a3, b1 = world_ids.households[0], world_ids.households[1], world_ids.households[2], world_ids.households[3]
    with transaction(session_factory) as session:
        with pytest.raises(InvalidInput):
            pts.award_batch(session, now=clock.now(), courtyard_id=world_ids.courtyards[0], category="环境卫生", lines=[
                pts.BatchLine(a1, 5, "干净"), pts.BatchLine(b1, 5, "别的院"),
            ])
    with transaction(session_factory) as session:
        assert session.scalar(sa.select(sa.func.count(PointEntry.id))) == 0
        result = pts.award_batch(session, now=clock.now(), courtyard_id=world_ids.courtyards[0], category="环境卫生",
                               lines=[pts.BatchLine(a1, 5, "干净"), pts.BatchLine(a2, 5, "干净"),
                                      pts.BatchLine(a3, -5, "垃圾乱倒", category="扣分")])
        assert len(result.entries) == 3 and len({e.batch_id for e in result.entries}) == 1
    with transaction(session_factory) as session:
        board = pts.ranking(session, now=clock.now(), scope="courtyard", scope_id=world_ids.courtyards[0])
        assert [(r.household_id, r.points, r.rank) for r in board] == [(a1, 5, 1), (a2, 5, 1), (a3, -5, 3)]


def test_month_all_time_progress_and_village_boards(session_factory, clock, world_ids):
    h = world_ids.households
    last_month = clock.now() - dt.timedelta(days=31)
    _award(session_factory, last_month, h[0], 50, "上月大扫除")
    _award(session_factory, last_month, h[1], 5)
    _award(session_factory, clock.now(), h[1], 20, "义务修路", "志愿服务")
    _award(session_factory, clock.now(), h[0], 10)
    _award(session_factory, clock.now(), h[3], 30)  # the other village
    with transaction(session_factory) as session:
        month = pts.ranking(session, now=clock.now(), scope="courtyard", scope_id=world_ids.courtyards[0])
        assert [(r.household_id, r.points) for r in month[:2]] == [(h[1], 20), (h[0], 10)]
        alltime = pts.ranking(session, now=clock.now(), scope="courtyard", scope_id=world_ids.courtyards[0],
                            period="all")
        assert alltime[0].household_id == h[0] and alltime[0].points == 60
        progress = pts.ranking(session, now=clock.now(), scope="courtyard", scope_id=world_ids.courtyards[0],
                             period="progress")
        assert [(r.household_id, r.improvement) for r in progress] == [(h[1], 15)]
        village = pts.ranking(session, now=clock.now(), scope="village", scope_id=world_ids.villages[0])
        assert h[3] not in [r.household_id for r in village]
        page = pts.with_reasons(session, month[:1])
        assert page[0].reasons == ("志愿服务：义务修路", "环境卫生：好")  # newest first, two at most
        assert pts.household_rank(session, now=clock.now(), household_id=h[0]) == (2, 3)


def test_redeeming_oil_does_not_push_the_first_household_down_the_board(session_factory, clock, world_ids):
    """李家: 1st with 69 分 earned this month stays 1st showing 69 分 after taking 5 L oil (85 分)."""
    li, h1, h2 = world_ids.households[:3]
    last_month = clock.now() - dt.timedelta(days=31)
    _award(session_factory, last_month, li, 40, "上月大扫除")
    _award(session_factory, clock.now(), li, 74, "门前屋后干净整洁")
    _award(session_factory, clock.now(), li, -5, "乱堆柴火", "扣分")  # penalties still count
    _award(session_factory, clock.now(), h1, 50)
    _award(session_factory, clock.now(), h2, 30)
    with transaction(session_factory) as session:
        oil = rw.create_reward(session, now=clock.now(), village_id=world_ids.villages[0], name="5升菜籽油",
                               cost=85, stock=5)
        redemption = rw.redeem(session, now=clock.now(), household_id=li, reward_id=oil.id)
    with transaction(session_factory) as session:
        assert pts.balance(session, li) == 24  # spending moves the balance ...
        month = pts.ranking(session, now=clock.now(), scope="courtyard", scope_id=world_ids.courtyards[0])
        assert [(r.household_id, r.points, r.rank) for r in month] == [(li, 69, 1), (h1, 50, 2), (h2, 30, 3)]
        assert pts.household_rank(session, now=clock.now(), household_id=li) == (1, 3)  # ... never the board
        village = pts.ranking(session, now=clock.now(), scope="village", scope_id=world_ids.villages[0])
        assert (village[0].household_id, village[0].points) == (li, 69)
        alltime = pts.ranking(session, now=clock.now(), scope="courtyard", scope_id=world_ids.courtyards[0],
                              period="all")
        assert (alltime[0].household_id, alltime[0].points) == (li, 109)
        progress = pts.ranking(session, now=clock.now(), scope="courtyard", scope_id=world_ids.courtyards[0],
                               period="progress")
        assert {r.household_id: r.improvement for r in progress} == {li: 29, h1: 50, h2: 30}
        rw.cancel(session, now=clock.now(), redemption=session.get(Redemption, redemption.id), reason="不要了")
    with transaction(session_factory) as session:
        assert pts.balance(session, li) == 109
        month = pts.ranking(session, now=clock.now(), scope="courtyard", scope_id=world_ids.courtyards[0])
        assert (month[0].household_id, month[0].points) == (li, 69)  # the refund earns nothing either


def test_a_reversed_award_counts_in_no_period(session_factory, clock, world_ids):
    """冲正 this month of last month's mistaken award: last month loses it, this month is not charged."""
    h0, h1 = world_ids.households[:2]
    mistaken = _award(session_factory, clock.now() - dt.timedelta(days=31), h0, 40, "记错户了")
    _award(session_factory, clock.now(), h0, 10)
    _award(session_factory, clock.now(), h1, 5)
    with transaction(session_factory) as session:
        pts.reverse_entry(session, now=clock.now(), entry_id=mistaken, reason="应记给别户")
    with transaction(session_factory) as session:
        month = pts.ranking(session, now=clock.now(), scope="courtyard", scope_id=world_ids.courtyards[0])
        assert [(r.household_id, r.points) for r in month[:2]] == [(h0, 10), (h1, 5)]
        progress = pts.ranking(session, now=clock.now(), scope="courtyard", scope_id=world_ids.courtyards[0],
                               period="progress")
        assert {r.household_id: r.improvement for r in progress} == {h0: 10, h1: 5}
        assert pts.balance(session, h0) == 10
