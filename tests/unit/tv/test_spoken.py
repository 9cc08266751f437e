"""语音导读 words: numbers said the way villagers say them; the clip text of a focused tile or row."""

from __future__ import annotations

import pytest

from core.community.spoken import MAX_CLIP_CHARS, chinese_number, clip_text, speak_numbers


@pytest.mark.parametrize(("n", "said"), [
    (0, "零"), (7, "七"), (10, "十"), (12, "十二"), (32, "三十二"), (100, "一百"), (105, "一百零五"),
    (110, "一百一十"), (1010, "一千零一十"), (10000, "一万"), (20500, "二万零五百"), (100000, "十万"),
    (1000000, "一百万"), (100000000, "一亿"), (-5, "负五"),
])
def test_whole_numbers_are_said_in_chinese(n, said):
    assert chinese_number(n) == said


@pytest.mark.parametrize(("shown", "said"), [
    ("积分 32 分", "积分三十二分"),
    ("本月本院第 3 名（共 8 户）", "本月本院第三名（共八户）"),
    ("第 2 名", "第二名"),
    ("2 条新通知", "两条新通知"),
    ("今天开会 09:30", "今天开会九点半"),
    ("19:05 开会", "十九点零五分开会"),
    ("14:00", "十四点"),
    ("取货码 012345", "取货码零一二三四五"),
    ("电话 13800138000", "电话一三八零零一三八零零零"),
    ("12000分", "一万二千分"),
    ("+10 分", "加十分"),
    ("-5分", "减五分"),
    ("12.5斤", "十二点五斤"),
    ("2026年", "二零二六年"),
    ("打八折 50%", "打八折百分之五十"),
    ("没有数字", "没有数字"),
])
def test_numbers_in_screen_text_are_spoken_naturally(shown, said):
    assert speak_numbers(shown) == said


def test_a_tile_says_its_label_and_sub_line_without_the_key_digit():
    assert clip_text(["一键呼叫", "叫家人和院长"]) == "一键呼叫，叫家人和院长"
    assert clip_text(["通知", "3 条新的", ""]) == "通知，三条新的"


def test_a_ranking_row_says_rank_name_points_and_reasons():
    row = "第 3 名|王奶奶家（我家）|32 分|门前屋后干净整洁；参加义务修路"
    assert clip_text(row) == "第三名，王奶奶家（我家），三十二分，门前屋后干净整洁；参加义务修路"


def test_clip_text_drops_empty_and_repeated_parts_and_is_short():
    assert clip_text("  大字 | | 大字 |换字号 ") == "大字，换字号"
    assert clip_text("") == ""
    assert len(clip_text("很长的通知" * 100)) == MAX_CLIP_CHARS
