"""The one-key call screen in real Chromium: who rings now, Back says the call goes on, and at the end the
outcome with 再呼叫一次."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from core.models.helpcalls import HelpCall
from core.phone.dialler import sweep_help_calls
from tests.e2e.tv.conftest import pair_tv, wait_ready

pytestmark = pytest.mark.slow


def _let_nobody_answer(services) -> None:
    """Every leg times out, through every round (dry-run telephony, fake clock)."""
    for _ in range(40):
        with services.session_factory() as session:
            if session.scalar(sa.select(HelpCall.status).order_by(HelpCall.id.desc())) == "failed":
                return
        services.clock.advance(seconds=40)
        sweep_help_calls(services)
    raise AssertionError("the help call never ended")


def test_back_during_a_call_says_it_goes_on_and_the_end_offers_to_call_again(live_tv, tv_page):
    page = tv_page
    pair_tv(page, live_tv)
    page.keyboard.press("0")
    page.wait_for_url(re.compile(r"/tv/call/\d+$"), timeout=15000)  # the countdown ran out: the call started
    wait_ready(page)
    status_url = page.url
    page.wait_for_function("() => document.getElementById('current-step').textContent === '正在呼叫 王小明（儿子）'")
    assert page.is_visible("#call-goes-on") and "呼叫不会停止" in page.inner_text("#call-goes-on")
    assert not page.is_visible("#call-again")
    page.keyboard.press("Escape")  # Back during the call
    page.wait_for_url(re.compile(r"/tv/\?f=tile-call"))
    wait_ready(page)
    assert page.inner_text("#call-on").startswith("一键呼叫还在继续：正在呼叫 王小明（儿子）")
    page.keyboard.press("0")  # the call is still on: 0 shows it again
    page.wait_for_url(status_url)
    wait_ready(page)
    _let_nobody_answer(live_tv.services)
    page.wait_for_function("() => document.getElementById('call-title').textContent === '呼叫已结束'",
                           timeout=15000)
    assert page.inner_text("#current-step").startswith("没有联系上，已发消息给 王小明")
    assert page.is_visible("#call-again") and not page.is_visible("#call-goes-on")
    assert not page.is_visible("#cancel-call")
    assert page.evaluate("TvNav.current().id") == "call-again"
    for selector in ("#current-step", "#call-again", "#home"):  # the outcome and its actions are on screen
        box = page.locator(selector).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 720, selector
    page.keyboard.press("Enter")  # 再呼叫一次
    page.wait_for_url(re.compile(r"/tv/call$"))
    assert page.is_visible("#countdown")
