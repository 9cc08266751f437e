"""Pure rules of the TV area: ledger validation, ranking, redemption, pairing codes, call steps, check-in time."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from core.clock import LOCAL_TZ, UTC
from core.community import checkins as ci
from core.community import points as pts
from core.community import rewards as rw
from core.community import tvboxes as tvb
from core.errors import InvalidInput
from core.phone import helpcalls as hc
from core.settings import load_settings

CATS = pts.DEFAULT_CATEGORIES


class FixedRng:
    """randbelow() returning a fixed sequence, to make collisions happen on purpose."""

    def __init__(self, values: list[int]) -> None:
        self.values = list(values)

    def randbelow(self, n: int) -> int:
        return self.values.pop(0) % n


@pytest.mark.parametrize("delta,category,reason", [
    (0, "环境卫生", "x"), (5, "不存在", "x"), (5, "兑换", "x"), (5, "退还", "x"), (5, "环境卫生", " "),
    (1001, "环境卫生", "x"), (True, "环境卫生", "x"), (2.5, "环境卫生", "x"),
])
def test_ledger_refuses_bad_awards(delta, category, reason):
    with pytest.raises(InvalidInput):
        pts.validate_award(delta, category, reason, CATS)


def test_ledger_accepts_awards_and_deductions():
    pts.validate_award(5, "环境卫生", "门前干净", CATS)
    pts.validate_award(-5, "扣分", "垃圾乱倒", CATS)


def test_ranking_ties_share_a_rank_and_order_is_stable():
    rows = pts.sort_board([(3, "c", 10), (1, "a", 20), (2, "b", 10), (4, "d", 0)])
    assert [(rank, row[0]) for rank, row in pts.assign_ranks(rows)] == [(1, 1), (2, 2), (2, 3), (4, 4)]


def test_progress_board_lists_only_rises_biggest_first():
    board = pts.improvement_board({1: 30, 2: 10, 3: 5}, {1: 25, 2: 0, 3: 9}, {1: "甲", 2: "乙", 3: "丙", 4: "丁"})
    assert [(r.household_id, r.improvement, r.rank) for r in board] == [(2, 10, 1), (1, 5, 2)]


def test_month_bounds_follow_local_calendar():
    # 2026-11-30 20:00 UTC is already 1 December in Shanghai
    start, end = pts.month_bounds(dt.datetime(2026, 11, 30, 20, 0, tzinfo=UTC))
    assert start == dt.datetime(2026, 12, 1, tzinfo=LOCAL_TZ) and end == dt.datetime(2027, 1, 1, tzinfo=LOCAL_TZ)
    start, _ = pts.month_bounds(dt.datetime(2026, 1, 15, tzinfo=UTC), months_back=1)
    assert start == dt.datetime(2025, 12, 1, tzinfo=LOCAL_TZ)


def test_redemption_rules():
    assert rw.can_redeem(95, 85, 3) is None
    assert rw.balance_after(95, 85) == 10
    assert rw.can_redeem(84, 85, 3) == "not_enough_points"
    assert rw.can_redeem(100, 85, 0) == "out_of_stock"
    assert rw.can_redeem(100, 85, 3, active=False) == "inactive"


def test_pickup_code_is_four_digits_and_skips_codes_in_use():
    assert rw.new_pickup_code(rng=FixedRng([7])) == "0007"
    assert rw.new_pickup_code({"0007", "0008"}, rng=FixedRng([7, 8, 9])) == "0009"
    codes = {rw.new_pickup_code() for _ in range(200)}
    assert all(len(c) == 4 and c.isdigit() for c in codes)


def test_pickup_speech_reads_digits_one_by_one():
    speech = rw.pickup_speech(SimpleNamespace(code="0427", pickup_place="高瓷村积分超市", reward_name="菜籽油",
                                              status="open"))
    assert "0，4，2，7" in speech and "高瓷村积分超市" in speech


def test_replaying_a_collected_or_cancelled_redemption_says_so_not_the_old_code():
    collected = rw.pickup_speech(SimpleNamespace(code="0427", pickup_place="高瓷村积分超市", reward_name="菜籽油",
                                                 status="collected"))
    assert "已经领取" in collected and "菜籽油" in collected and "0，4，2，7" not in collected
    cancelled = rw.pickup_speech(SimpleNamespace(code="0427", pickup_place="", reward_name="菜籽油",
                                                 status="cancelled"))
    assert "取消" in cancelled and "退还" in cancelled and "0，4，2，7" not in cancelled


def test_pairing_code_rules():
    assert tvb.new_pairing_code(FixedRng([42])) == "000042"
    assert tvb.normalise_code(" 123-456 ") == "123456"
    for bad in ("12345", "1234567", "12a456", ""):
        with pytest.raises(InvalidInput):
            tvb.normalise_code(bad)
    now = dt.datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    code = SimpleNamespace(used_at=None, expires_at=now + dt.timedelta(minutes=10))
    assert tvb.code_is_usable(code, now)
    assert not tvb.code_is_usable(code, now + dt.timedelta(minutes=10))
    assert not tvb.code_is_usable(SimpleNamespace(used_at=now, expires_at=code.expires_at), now)
    assert tvb.hash_token("abc") != "abc" and len(tvb.hash_token("abc")) == 64


def _leg(id_, position, name, status, round_=1):
    return SimpleNamespace(id=id_, position=position, name=name, status=status, round=round_)


CHAIN = [{"position": 1, "name": "王小明", "kind": "family", "relation": "儿子"},
         {"position": 2, "name": "李院长", "kind": "courtyard_head", "relation": "院长"}]


def test_help_call_steps_in_words():
    assert hc.describe_steps(status="pending", legs=[], chain=CHAIN, reached_name=None) == \
        ["正在准备呼叫 王小明（儿子）"]
    ringing = hc.describe_steps(status="calling", legs=[_leg(1, 1, "王小明", "ringing")], chain=CHAIN,
                                reached_name=None)
    assert ringing == ["正在呼叫 王小明（儿子）"]
    legs = [_leg(1, 1, "王小明", "no_answer"), _leg(2, 2, "李院长", "ringing")]
    second = hc.describe_steps(status="calling", legs=legs, chain=CHAIN, reached_name=None)
    assert second == ["王小明（儿子） 无人接听，正在呼叫下一位", "正在呼叫 李院长"]
    legs = [_leg(1, 1, "王小明", "no_answer"), _leg(2, 2, "李院长", "accepted")]
    bridged = hc.describe_steps(status="bridged", legs=legs, chain=CHAIN, reached_name="李院长")
    assert bridged[-2:] == ["李院长 已接听", "已接通"]


def test_help_call_steps_never_say_the_head_was_told_while_the_head_still_rings():
    """Issue 13 item 4: "已通知院长" appeared while the 院长's phone was still ringing."""
    legs = [_leg(1, 1, "王小明", "no_answer"), _leg(2, 2, "李院长", "ringing")]
    steps = hc.describe_steps(status="calling", legs=legs, chain=CHAIN, reached_name=None)
    assert steps[-1] == "正在呼叫 李院长" and not any("已通知" in step for step in steps)


def test_a_second_round_rings_the_same_person_again_and_names_who_got_a_message():
    round_one = [_leg(1, 1, "王小明", "no_answer"), _leg(2, 2, "李院长", "no_answer")]
    waiting = hc.describe_steps(status="failed_round", legs=round_one, chain=CHAIN, reached_name=None,
                                told=["王小明", "李院长"])
    assert waiting == ["王小明（儿子） 无人接听，正在呼叫下一位", "李院长 无人接听",
                       "这一轮没有人接听，已发消息给 王小明、李院长，稍后再打一次"]
    again = hc.describe_steps(status="calling", legs=[*round_one, _leg(3, 1, "王小明", "ringing", 2)], chain=CHAIN,
                              reached_name=None, told=["王小明", "李院长"])
    assert again[-2:] == ["这一轮没有人接听，已发消息给 王小明、李院长，稍后再打一次", "再打一次给 王小明（儿子）"]
    assert "正在呼叫下一位" not in again[1]  # the last of a round is not followed by a "next person"


def test_no_family_means_no_message_to_family_is_claimed():
    only_head = [{"position": 1, "name": "李院长", "kind": "courtyard_head", "relation": "院长"}]
    legs = [_leg(1, 1, "李院长", "no_answer"), _leg(2, 1, "李院长", "no_answer", 2)]
    failed = hc.describe_steps(status="failed", legs=legs, chain=only_head, reached_name=None, told=["李院长"],
                               ended=True)
    assert failed[-1] == "没有联系上，已发消息给 李院长"
    assert not any("家人" in step for step in failed)
    nobody = hc.describe_steps(status="failed", legs=[], chain=[], reached_name=None, told=[], ended=True)
    assert nobody == ["没有联系上"]


def test_the_end_of_a_talk_is_said():
    legs = [_leg(1, 1, "王小明", "accepted")]
    assert hc.describe_steps(status="bridged", legs=legs, chain=CHAIN, reached_name="王小明", ended=True)[-1] == \
        "和 王小明 的通话已结束"


def test_picked_up_without_a_keypress_is_not_called_answered():
    """Voicemail also picks up: until someone presses 1 the TV must not say 已接听."""
    steps = hc.describe_steps(status="calling", legs=[_leg(1, 1, "王小明", "answered")], chain=CHAIN,
                              reached_name=None)
    assert steps == ["王小明（儿子） 的电话接起了，正在确认"]


def test_checkin_deadline_is_local_time():
    ten = ci.parse_deadline("10:00")
    assert not ci.deadline_passed(dt.datetime(2026, 11, 26, 1, 59, tzinfo=UTC), ten)  # 09:59 in Shanghai
    assert ci.deadline_passed(dt.datetime(2026, 11, 26, 2, 0, tzinfo=UTC), ten)
    assert ci.local_date(dt.datetime(2026, 11, 26, 17, 0, tzinfo=UTC)) == dt.date(2026, 11, 27)
    with pytest.raises(InvalidInput):
        ci.parse_deadline("ten")


def test_tv_config_reads_the_tv_section():
    settings = load_settings(environ={}, overrides={"tv": {"checkin_deadline": "09:30", "point_categories": ["x"]}})
    config = tvb.TvConfig.from_settings(settings)
    assert config.checkin_deadline == "09:30" and config.pairing_code_minutes == 10
