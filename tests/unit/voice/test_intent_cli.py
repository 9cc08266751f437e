"""`xiaoyuan voice intent "TEXT"`: staff try a phrasing and see what the phone line would understand."""

from __future__ import annotations

import json

from click.testing import CliRunner

from xiaoyuan.cli import _load_command_modules, cli


def _run(*args: str) -> str:
    _load_command_modules()
    result = CliRunner().invoke(cli, ["voice", "intent", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_json_shows_intent_confidence_fields_and_read_back() -> None:
    shown = json.loads(_run("帮 我 卖 二十 斤 花 椒", "--json"))
    assert shown["intent"] == "sell" and shown["label"] == "帮我卖" and shown["emergency"] is False
    assert shown["fields"] == {"item": "花椒", "amount": 20, "unit": "斤"}
    assert 0 < shown["confidence"] <= 1
    assert shown["readback"] == "您是说：要卖20斤花椒，对吗？对请按1，不对请按2。"


def test_json_marks_an_emergency() -> None:
    shown = json.loads(_run("遭 跘 倒 了", "--json"))
    assert shown["intent"] == "help" and shown["emergency"] is True and shown["label"] == "紧急求助"


def test_json_for_nothing_understood_has_no_intent() -> None:
    shown = json.loads(_run("喂 喂", "--json"))
    assert shown["intent"] is None and shown["fields"] == {} and shown["readback"] is None


def test_plain_output_is_a_readable_chinese_line_and_the_read_back() -> None:
    lines = _run("帮我打给村上的干部").splitlines()
    assert lines == ["意图：找人（find_head），置信度 1.00，字段：找谁=村干部",
                     "读回：您是要找村干部，对吗？对请按1，不对请按2。"]
    assert _run("嗯 啊 那个").startswith("没有听懂")
