"""语音导读 in real Chromium at 1280×720: the blue key or the home tile switches it on; each arrow key plays the
newly focused element's clip through one <audio>, the next move replaces it; switched off, nothing is requested."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from tests.e2e.tv.conftest import pair_tv, wait_ready

pytestmark = pytest.mark.slow

BLUE = "() => document.body.dispatchEvent(new KeyboardEvent('keydown', {keyCode: 406, which: 406, bubbles: true}))"


def _guide_src(page) -> str:
    return unquote(page.evaluate("() => { var a = document.getElementById('guide-player'); "
                                 "return a ? a.getAttribute('src') : ''; }") or "")


def _wait_playing(page, words: str) -> None:
    """The guide player holds the clip of `words` and really plays it."""
    page.wait_for_function(
        "(w) => { var a = document.getElementById('guide-player');"
        " return a && decodeURIComponent(a.getAttribute('src')).indexOf(w) >= 0 && !a.paused && a.currentTime > 0; }",
        arg=words, timeout=20000)


def test_blue_key_switches_the_guide_on_and_each_move_speaks_and_cuts_the_last(live_tv, tv_page):
    page = tv_page
    pair_tv(page, live_tv)
    assert page.evaluate("document.body.getAttribute('data-say')") is None
    with page.expect_navigation():
        page.evaluate(BLUE)
    wait_ready(page)
    assert page.evaluate("TvNav.current().id") == "tile-call"  # back on the same page, same focus
    assert "现在开着" in page.inner_text("#tile-voice")
    _wait_playing(page, "一键呼叫|叫家人和院长")  # the page opens by saying where the focus is
    assert "|积分 " in _guide_src(page)  # after the household's name, points and rank (once)
    page.keyboard.press("ArrowRight")
    assert page.evaluate("TvNav.current().id") == "tile-ranking"
    assert "x=积分榜" in _guide_src(page)  # the clip starts with the key press, without the intro
    _wait_playing(page, "积分榜")
    page.keyboard.press("ArrowRight")
    assert "x=兑换|积分换东西" in _guide_src(page)  # the next move replaces the clip at once
    _wait_playing(page, "兑换")
    assert page.evaluate("document.getElementsByTagName('audio').length") == 1  # one player for the guide


def test_home_tile_switches_the_guide_and_it_is_remembered_on_other_pages(live_tv, tv_page):
    page = tv_page
    pair_tv(page, live_tv)
    page.evaluate("TvNav.focus(document.getElementById('tile-voice'))")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    wait_ready(page)
    assert page.evaluate("TvNav.current().id") == "tile-voice"
    _wait_playing(page, "语音导读|现在开着")
    page.goto(f"{live_tv.url}/tv/ranking")
    wait_ready(page)
    _wait_playing(page, "名|")  # the household's own row: 第N名，name，points
    assert "第" in _guide_src(page) and "分" in _guide_src(page)
    page.keyboard.press("ArrowDown")
    page.wait_for_function("() => document.getElementById('guide-player').getAttribute('src').indexOf('x=') > 0")


# Counts in the page every way a clip can start: an <audio> made by script, a src set on one, play(). Key
# handlers run to their end before page.keyboard.press returns, so the count can be read at once.
COUNT_CLIPS = """
window.__clips = 0;
(function () {
  var create = Document.prototype.createElement;
  var set = Element.prototype.setAttribute;
  var play = HTMLMediaElement.prototype.play;
  Document.prototype.createElement = function (name) {
    if (String(name).toLowerCase() === 'audio') { window.__clips++; }
    return create.apply(this, arguments);
  };
  Element.prototype.setAttribute = function (name) {
    if (this.tagName === 'AUDIO' && String(name).toLowerCase() === 'src') { window.__clips++; }
    return set.apply(this, arguments);
  };
  HTMLMediaElement.prototype.play = function () { window.__clips++; return play.apply(this, arguments); };
}());
"""


def test_with_the_guide_off_nothing_is_requested_or_played(live_tv, tv_page):
    page = tv_page
    page.add_init_script(COUNT_CLIPS)
    said: list[str] = []
    page.on("request", lambda request: said.append(request.url) if "/tv/say" in request.url else None)
    pair_tv(page, live_tv)
    for key in ("ArrowRight", "ArrowDown", "ArrowLeft", "ArrowUp"):
        page.keyboard.press(key)
    assert page.evaluate("window.__clips") == 0
    page.goto(f"{live_tv.url}/tv/ranking")
    wait_ready(page)
    focused = page.evaluate("TvNav.current().id")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("TvNav.current().id") != focused  # the key was handled…
    assert page.evaluate("window.__clips") == 0  # …and started no clip, so nothing can be on its way
    assert said == []
    assert page.evaluate("document.getElementById('guide-player')") is None
    with page.expect_navigation():  # the count does see the guide: switched on, the page speaks at once
        page.evaluate(BLUE)
    wait_ready(page)
    page.wait_for_function("() => window.__clips > 0")
