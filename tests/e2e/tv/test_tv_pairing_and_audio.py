"""The TV in real Chromium: the pairing code refreshes itself before it expires; 正在朗读… clears when the
audio ends; 再听一遍 on a collected pickup code says it was collected."""

from __future__ import annotations

import re

import pytest

from core.community import points as pts
from core.community import rewards as rw
from core.community.tvboxes import pair_box
from core.db import transaction
from tests.e2e.tv.conftest import pair_tv, wait_ready

pytestmark = pytest.mark.slow


def test_pairing_screen_shows_a_new_code_before_the_old_one_expires(live_tv, tv_page):
    page = tv_page
    page.goto(f"{live_tv.url}/tv/")
    wait_ready(page)
    first = page.inner_text("#pair-code").strip()
    assert re.fullmatch(r"\d{6}", first)
    live_tv.services.clock.advance(minutes=9, seconds=5)  # 55 s left on the shown code
    page.wait_for_function("(old) => document.getElementById('pair-code').textContent.trim() !== old", arg=first,
                           timeout=15000)
    fresh = page.inner_text("#pair-code").strip()
    assert re.fullmatch(r"\d{6}", fresh) and fresh != first
    assert fresh in page.get_attribute("#pair-code", "aria-label")
    live_tv.services.clock.advance(minutes=1)  # the first code has expired now; the shown one works
    with transaction(live_tv.services.session_factory) as session:
        pair_box(session, now=live_tv.services.clock.now(), code=fresh, household_id=live_tv.world.households[0],
                 actor="installer")
    page.wait_for_selector("#tile-call", timeout=15000)


def _skip_to_the_end(page) -> None:
    """Wait until the player really plays, then jump close to the end (the speech is several seconds)."""
    page.wait_for_function("() => { var a = document.getElementById('player');"
                           " return a.duration > 0 && !a.paused && a.currentTime > 0; }", timeout=15000)
    page.evaluate("() => { var a = document.getElementById('player'); a.currentTime = a.duration - 0.2; }")


def test_reading_state_clears_when_the_audio_ends(live_tv, tv_page):
    page = tv_page
    pair_tv(page, live_tv)
    page.goto(f"{live_tv.url}/tv/notices/{live_tv.world.notice_id}")
    wait_ready(page)
    assert page.evaluate("TvNav.current().id") == "read-aloud"
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('audio-state').textContent === '正在朗读…'")
    _skip_to_the_end(page)
    page.wait_for_function("() => document.getElementById('player').ended", timeout=15000)
    page.wait_for_function("() => document.getElementById('audio-state').textContent === ''")


def test_replay_on_a_collected_pickup_code_says_it_was_collected(live_tv, tv_page):
    page = tv_page
    pair_tv(page, live_tv)
    clock = live_tv.services.clock
    with transaction(live_tv.services.session_factory) as session:
        pts.award_points(session, now=clock.now(), household_id=live_tv.world.households[0], delta=100,
                         category="环境卫生", reason="检查优秀")
        redemption = rw.redeem(session, now=clock.now(), household_id=live_tv.world.households[0],
                               reward_id=live_tv.world.oil_id)
        redemption_id, code, village_id = redemption.id, redemption.code, redemption.village_id
    with transaction(live_tv.services.session_factory) as session:
        collected = rw.collect(session, now=clock.now(), redemption=rw.find_open_by_code(
            session, village_id=village_id, code=code))
        said = rw.pickup_speech(collected)
    assert "已经领取" in said
    wav = live_tv.services.tts.synthesize(said).read_bytes()  # the cached WAV 再听一遍 must serve
    with page.expect_response(re.compile(r"/audio")) as info:  # the player preloads what 再听一遍 plays
        page.goto(f"{live_tv.url}/tv/redemptions/{redemption_id}")
    wait_ready(page)
    assert info.value.status in (200, 206)
    assert info.value.header_value("content-range") in (None, f"bytes 0-{len(wav) - 1}/{len(wav)}")
    assert "已经领取" in page.inner_text("h1")
    assert page.evaluate("document.getElementById('player').autoplay") is False
    assert page.evaluate("TvNav.current().id") == "replay"
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('audio-state').textContent === '正在朗读…'")
    _skip_to_the_end(page)
    page.wait_for_function("() => document.getElementById('audio-state').textContent === ''", timeout=15000)
