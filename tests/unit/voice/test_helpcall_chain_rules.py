"""Pure rules of the one-key call: the household's merged chain and the time to press 1."""

from __future__ import annotations

from core.phone.dialler import keypress_deadline_s
from core.phone.helpcalls import merge_chains

SON = {"name": "儿子", "phone": "+8613800001111", "kind": "family", "user_id": None, "position": 1}
DAUGHTER = {"name": "女儿", "phone": "13800002222", "kind": "family", "user_id": None, "position": 1}
HEAD = {"name": "李院长", "phone": "+8613900000000", "kind": "courtyard_head", "user_id": 7, "position": 2}
DOCTOR = {"name": "村医", "phone": None, "kind": "doctor", "user_id": None, "position": 3}
DUTY = {"name": "村值班电话", "phone": "+8613900000099", "kind": "duty", "user_id": None}


def test_members_first_contacts_come_before_anyones_second():
    merged = merge_chains([[SON, HEAD, DOCTOR], [DAUGHTER, HEAD]], [HEAD, DUTY])
    assert [e["name"] for e in merged] == ["儿子", "女儿", "李院长", "村医", "村值班电话"]
    assert [e["position"] for e in merged] == [1, 2, 3, 4, 5]


def test_the_same_person_is_rung_once_by_number_or_account():
    head_by_local_number = {**HEAD, "phone": "139 0000 0000", "user_id": None}
    head_account_without_phone = {**HEAD, "phone": None}
    merged = merge_chains([[SON, HEAD], [head_by_local_number, head_account_without_phone]])
    assert [e["name"] for e in merged] == ["儿子", "李院长"]


def test_no_chains_still_give_the_head_and_the_duty_phone():
    assert [e["kind"] for e in merge_chains([], [HEAD, DUTY])] == ["courtyard_head", "duty"]


def test_the_time_to_press_1_covers_every_repeat_of_the_prompt():
    prompt = "王奶奶一键呼叫求助，按1接通。椒香小院1号户的王奶奶需要帮助，请按1。"
    once = keypress_deadline_s(prompt, repeat=1, timeout_s=5)
    thrice = keypress_deadline_s(prompt, repeat=3, timeout_s=5)
    assert thrice > 3 * (len(prompt) / 4 + 5) and thrice > once
