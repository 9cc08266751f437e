"""Reusable e2e pieces for the TV: demo-like data, the app on a real loopback server, Chromium."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from core.clock import FakeClock
from core.community import notices as nt
from core.community import points as pts
from core.community import rewards as rw
from core.container import Services
from core.db import make_engine, make_session_factory, transaction
from core.models import Base
from core.settings import load_settings
from tests.factories import build_world
from tests.processes import serving


@dataclass
class TvWorld:
    """Ids an e2e test needs."""

    households: list[int]
    oil_id: int
    notice_id: int
    meeting_id: int


def seed_tv_world(session: Any, now: dt.datetime, households_per_courtyard: int = 8) -> TvWorld:
    """A village with a points board, a catalogue and notices (also used by bench/tv.py and the screenshot)."""
    world = build_world(session, now, households_per_courtyard=households_per_courtyard)
    hh = [h.id for h in world.households]
    reasons = ["门前屋后干净整洁", "参加义务修路", "照顾邻居老人", "按时参加院坝会", "垃圾分类做得好"]
    for index, household_id in enumerate(hh):
        pts.award_points(session, now=now - dt.timedelta(days=35), household_id=household_id, delta=10 + index,
                       category="参加会议", reason="上月院坝会")
        pts.award_points(session, now=now - dt.timedelta(hours=index + 1), household_id=household_id,
                       delta=5 * ((index * 7) % 9) + 5, category="环境卫生", reason=reasons[index % len(reasons)])
    pts.award_points(session, now=now, household_id=hh[0], delta=80, category="孝老爱亲", reason="照顾邻居老人")
    oil = rw.create_reward(session, now=now, village_id=world.villages[0].id, name="5升菜籽油", cost=85, stock=10)
    rw.create_reward(session, now=now, village_id=world.villages[0].id, name="香皂", cost=5, stock=40)
    rw.create_reward(session, now=now, village_id=world.villages[0].id, name="10斤大米", cost=50, stock=20)
    notice = nt.post_notice(session, now=now, title="冬季用火安全", category="notice", audience="village",
                           town_id=world.town.id, village_id=world.villages[0].id,
                           body="天气转冷，请大家注意用火用电安全。出门前关好炉火，不要在屋里烧炭取暖。")
    meeting = nt.post_notice(session, now=now, title="本周六上午9点在椒香小院开云坝会", category="meeting",
                            audience="courtyard", town_id=world.town.id, village_id=world.villages[0].id,
                            courtyard_id=world.courtyards[0].id, body="请每户派一人参加，商量修路的事。",
                            event_at=now + dt.timedelta(hours=1))
    return TvWorld(households=hh, oil_id=oil.id, notice_id=notice.id, meeting_id=meeting.id)


@dataclass
class LiveTv:
    """The app served on a free loopback port."""

    url: str
    services: Services
    world: TvWorld


@pytest.fixture
def live_tv(tmp_path) -> Iterator[LiveTv]:
    """The whole app (SQLite, dry-run telephony, real TTS) on a werkzeug server thread."""
    from core.phone.telephony.factory import make_telephony
    from core.tts import TtsService
    from xiaoyuan.app import create_app

    settings = load_settings(environ={}, overrides={"data": {"dir": str(tmp_path / "var")},
                                                    "tv": {"help_call_cancel_seconds": 2, "status_poll_seconds": 1}})
    engine = make_engine(f"sqlite:///{tmp_path / 'tv.db'}")
    Base.metadata.create_all(engine)
    clock = FakeClock(dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC))  # 09:00 in Shanghai
    factory = make_session_factory(engine)
    services = Services(settings=settings, session_factory=factory, clock=clock)
    services.telephony = make_telephony(settings, factory, clock)
    services.tts = TtsService.from_settings(settings)
    with transaction(factory) as session:
        world = seed_tv_world(session, clock.now())
    try:
        with serving(create_app(services)) as url:
            yield LiveTv(url=url, services=services, world=world)
    finally:
        services.tts.close()
        engine.dispose()


@pytest.fixture
def tv_page(chromium) -> Iterator[Any]:
    """A 1280x720 page, like a set-top box screen."""
    context = chromium.new_context(viewport={"width": 1280, "height": 720}, locale="zh-CN")
    page = context.new_page()
    yield page
    context.close()


def wait_ready(page: Any) -> None:
    """Wait until the page's key handler is installed (app.js sets TvApp.ready last).

    A key sent between navigation and that moment is lost: the known "Back before the handler" flake.
    """
    page.wait_for_function("() => window.TvApp && window.TvApp.ready === true")


def pair_tv(page: Any, live: LiveTv, household_index: int = 0) -> None:
    """Open /tv/ as a new box, pair it to a household and wait for its home, ready for keys."""
    from core.community.tvboxes import pair_box

    page.goto(f"{live.url}/tv/")
    code = page.inner_text("#pair-code").strip()
    with transaction(live.services.session_factory) as session:
        pair_box(session, now=live.services.clock.now(), code=code,
                 household_id=live.world.households[household_index], actor="installer")
    page.wait_for_selector("#tile-call", timeout=15000)  # the pairing screen polls and opens home by itself
    wait_ready(page)
