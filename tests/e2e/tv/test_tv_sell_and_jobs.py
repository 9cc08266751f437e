"""帮我卖 and 找活干 from the TV home in real Chromium at 1280×720, by remote keys only: 7 → pick → confirm
(focus on 取消) → a double OK makes one request → its number read aloud; 6 → the jobs → Back to the tile."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from core.clock import to_local
from core.community import dayjobs
from core.db import transaction
from core.models.requests import Request
from core.models.staff import User
from tests.e2e.tv.conftest import pair_tv, wait_ready
from tests.e2e.tv.test_tv_browser import audit, focused

pytestmark = pytest.mark.slow


def _sell_requests(live) -> list[Request]:
    with live.services.session_factory() as session:
        return list(session.scalars(sa.select(Request).where(Request.type == "sell")))


def _open(page, pattern: str) -> None:
    page.wait_for_url(re.compile(pattern))
    wait_ready(page)


def test_home_7_picks_by_arrows_or_digit_confirms_once_and_reads_the_request_aloud(live_tv, tv_page):
    page = tv_page
    pair_tv(page, live_tv)
    assert page.inner_text("#tile-sell").split() == ["7", "帮我卖", "院长帮您卖"]
    page.keyboard.press("7")
    _open(page, r"/tv/sell$")
    assert focused(page) == "sell-1"
    audit(page)
    page.keyboard.press("ArrowRight")  # arrows choose ...
    assert focused(page) == "sell-2"
    page.keyboard.press("Enter")  # ... and OK opens the confirm screen
    _open(page, r"/tv/sell/2$")
    assert "帮我卖：鸡蛋" in page.inner_text("h1") and "院长会打电话问您卖多少、什么价" in page.inner_text("#callback")
    assert focused(page) == "cancel"  # focus starts on 取消
    audit(page)
    page.keyboard.press("Enter")  # OK on 取消: nothing asked, back on the same choice
    _open(page, r"/tv/sell\?f=sell-2$")
    assert focused(page) == "sell-2"
    page.keyboard.press("1")  # a digit picks directly
    _open(page, r"/tv/sell/1$")
    page.keyboard.press("Escape")  # so does Back
    _open(page, r"/tv/sell\?f=sell-1$")
    page.keyboard.press("1")
    _open(page, r"/tv/sell/1$")
    assert _sell_requests(live_tv) == []
    page.keyboard.press("ArrowRight")
    assert focused(page) == "confirm"
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # a quick double press
    _open(page, r"/tv/sell/requests/\d+$")
    [req] = _sell_requests(live_tv)
    assert req.details["goods"] == "花椒" and req.channel == "tv"
    assert page.inner_text("#request-number").strip() == str(req.id)
    assert "已经记下了：要卖花椒" in page.inner_text("h1") and "李院长 会打电话" in page.inner_text("#callback")
    assert focused(page) == "read-aloud"
    audit(page)
    with page.expect_response(re.compile(r"/audio$")) as info:
        page.keyboard.press("Enter")  # 读给我听
    assert info.value.status in (200, 206) and info.value.headers["content-type"] == "audio/wav"
    duration = page.wait_for_function(
        "() => { var a = document.getElementById('player');"
        " return a.readyState >= 1 && a.duration > 0 && a.duration; }", timeout=15000).json_value()
    assert duration > 2
    page.keyboard.press("Escape")
    _open(page, r"/tv/\?f=tile-sell$")
    assert focused(page) == "tile-sell"
    assert "院长在办 1 件" in page.inner_text("#tile-sell")
    page.keyboard.press("7")  # asking for the same item again says it is already with the 院长
    _open(page, r"/tv/sell$")
    assert "院长在办" in page.inner_text("#sell-1")
    page.keyboard.press("1")
    _open(page, r"/tv/sell/1$")
    assert "花椒已经托给院长了" in page.inner_text("#already") and focused(page) == "cancel"
    assert page.locator("#confirm").count() == 0
    assert len(_sell_requests(live_tv)) == 1


def test_home_6_opens_the_jobs_and_back_returns_to_the_tile(live_tv, tv_page):
    services = live_tv.services
    with transaction(services.session_factory) as session:
        cadre = session.scalar(sa.select(User).where(User.role == "village"))
        job = dayjobs.post_job(session, now=services.clock.now(), actor=cadre, village_id=cadre.village_id,
                               fields=dayjobs.JobFields(title="摘花椒", pay="100元/天", place="大坡花椒地",
                                                        work_date=to_local(services.clock.now()).date()
                                                        + dt.timedelta(days=1), workers=3))
        job_id = job.id
    page = tv_page
    pair_tv(page, live_tv)
    assert page.inner_text("#tile-jobs").split() == ["6", "找活干", "1", "个活在招人"]
    page.keyboard.press("6")
    _open(page, r"/tv/jobs$")
    assert focused(page) == f"job-{job_id}"
    audit(page)
    page.keyboard.press("Enter")
    _open(page, rf"/tv/jobs/{job_id}$")
    assert "摘花椒" in page.inner_text("h1")
    page.keyboard.press("Escape")
    _open(page, rf"/tv/jobs\?f=job-{job_id}$")
    page.keyboard.press("Escape")
    _open(page, r"/tv/\?f=tile-jobs$")
    assert focused(page) == "tile-jobs"
