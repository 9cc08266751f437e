"""Labels kept in Python dictionaries (request types, notice categories, reminder kinds) reach English readers.

The 院长's SMS follows their account's language; the TV is Chinese unless its URL says ?lang=en, and then
every link on the page keeps lang=en so the next screen is English too.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from core.clock import LOCAL_TZ, to_local
from core.community.notices import post_notice
from core.db import transaction
from core.models.outbox import OutboxMessage
from core.models.staff import User
from core.requests import workorders as request_service
from core.requests.reminders import create_reminder
from tests.factories import build_world
from tests.integration.tv.conftest import pair_client

LANG_ATTR = re.compile(r'<html lang="([^"]+)"')
TV_LINK = re.compile(r'(?:href|action|data-[a-z]+)="(/tv/[^"]*)"')


def _text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


@pytest.mark.parametrize(("locale", "wanted", "unwanted"), [("en", "(Repair)", "维修"), ("zh", "（维修）", "Repair")])
def test_new_request_sms_names_the_type_in_the_heads_language(session_factory, clock, locale, wanted, unwanted):
    """An English-speaking 院长 reads "New request #N (Repair)", not the Chinese type name inside English text."""
    with transaction(session_factory) as session:
        world = build_world(session, clock.now())
        session.get(User, world.users["head_a"].id).locale = locale
        resident_id, head_id = world.residents[0].id, world.users["head_a"].id
    with transaction(session_factory) as session:
        request_service.submit_request(
            session, now=clock.now(), due_hours={"repair": 24}, resident_id=resident_id, type="repair",
            channel="phone", text="我家水管爆了",
        )
    with session_factory() as session:
        text = session.scalars(sa.select(OutboxMessage.text).where(OutboxMessage.recipient_user_id == head_id)).one()
    assert wanted in text
    assert unwanted not in text
    assert "我家水管爆了" in text  # the elder's own words are never translated


@pytest.fixture
def paired(app, services):
    """A TV client (box cookie) paired to 王奶奶's household, with a policy notice and a medicine reminder today."""
    now = services.clock.now()
    with transaction(services.session_factory) as session:
        world = build_world(session, now)
        household_id, resident_id = world.households[0].id, world.residents[0].id
        post_notice(session, now=now, title="新农合缴费", body="本月底前缴费。", category="policy",
                    audience="town", town_id=world.town.id)
        evening = dt.datetime.combine(to_local(now).date(), dt.time(19), tzinfo=LOCAL_TZ)
        create_reminder(session, now=now, actor=None, kind="medication", text="晚饭后吃降压药", at=evening,
                        resident_id=resident_id)
    client = app.test_client()
    pair_client(client, services, household_id)
    return client


def test_tv_home_in_english_keeps_lang_on_every_link(paired):
    """?lang=en shows the tiles and today's reminder kind in English, and every TV link carries lang=en."""
    html = _text(paired.get("/tv/?lang=en"))
    assert LANG_ATTR.search(html).group(1) == "en"
    for label in ("Call for help", "Points board", "I'm fine", "Notices"):
        assert label in html, label
    assert "一键呼叫" not in html and "积分榜" not in html
    assert "19:00 Medicine: 晚饭后吃降压药" in html
    assert 'data-reading="Reading aloud…"' in html  # what app.js shows while the audio plays
    links = TV_LINK.findall(html)
    assert {"/tv/ranking?lang=en", "/tv/notices?lang=en", "/tv/checkin?lang=en"} <= set(links)
    assert all("lang=en" in link for link in links if not link.startswith("/tv/static/")), links


def test_tv_stays_chinese_without_lang(paired):
    """Elders who ask for nothing get Chinese, lang="zh-CN", and links without a lang parameter."""
    html = _text(paired.get("/tv/"))
    assert LANG_ATTR.search(html).group(1) == "zh-CN"
    assert "一键呼叫" in html and "Call for help" not in html
    assert "19:00 用药：晚饭后吃降压药" in html
    assert 'data-reading="正在朗读…"' in html
    assert not [link for link in TV_LINK.findall(html) if "lang=" in link]


def test_english_stays_english_after_a_button_press(paired):
    """Pressing 我很好 on an English page posts to a lang=en URL, so the answer screen is English too."""
    home = _text(paired.get("/tv/?lang=en"))
    form = re.search(r'<form[^>]*action="(/tv/checkin[^"]*)"><input type="hidden" name="t" value="([^"]+)"', home)
    action, token = form.groups()
    assert "lang=en" in action
    done = _text(paired.post(action, data={"t": token}))
    assert LANG_ATTR.search(done).group(1) == "en"
    assert "收到了" not in done
    assert 'href="/tv/?f=tile-checkin&amp;lang=en"' in done


def test_tv_notice_category_and_date_follow_the_language(paired):
    """The notice list names the category and the day in the reader's language."""
    english = _text(paired.get("/tv/notices?lang=en"))
    assert "Policy: 新农合缴费" in english
    assert "Nov 26" in english and "11月26日" not in english
    chinese = _text(paired.get("/tv/notices"))
    assert "政策：新农合缴费" in chinese
    assert "11月26日" in chinese
    notice_link = re.search(r'href="(/tv/notices/\d+\?lang=en)"', english).group(1)
    detail = _text(paired.get(notice_link))
    assert "Policy: 新农合缴费" in detail and "Nov 26" in detail


def test_tv_error_screen_follows_the_language(paired):
    """A refused action (a post without the box's form token) explains itself in the page's language."""
    english = paired.post("/tv/checkin?lang=en", data={})
    assert english.status_code == 403
    assert "This TV cannot do that" in english.get_data(as_text=True)
    chinese = paired.post("/tv/checkin", data={})
    assert "这台电视不能做这件事" in chinese.get_data(as_text=True)


def test_tv_sell_and_jobs_in_english_while_the_request_stays_chinese(paired, services):
    """帮我卖 and 找活干 speak English on a ?lang=en TV, down to the configured items; the 院长's request is Chinese."""
    from core.models.requests import Request

    home = _text(paired.get("/tv/?lang=en"))
    assert "Find work" in home and "Help me sell" in home and "帮我卖" not in home and "找活干" not in home
    choose = _text(paired.get("/tv/sell?lang=en"))
    for item in ("Peppercorns", "Eggs", "Chickens", "Vegetables", "Other"):
        assert f'<span class="label">{item}</span>' in choose, item
    assert "What do you want to sell?" in choose and "花椒" not in choose
    confirm = _text(paired.get("/tv/sell/1?lang=en"))
    assert "Help me sell: Peppercorns" in confirm and "how much and at what price" in confirm
    action, token, key = re.search(r'<form[^>]*action="(/tv/sell/1[^"]*)"><input type="hidden" name="t" '
                                   r'value="([^"]+)"><input type="hidden" name="k" value="([^"]+)">', confirm).groups()
    assert "lang=en" in action
    done = paired.post(action, data={"t": token, "k": key})
    page = _text(paired.get(done.headers["Location"]))
    assert LANG_ATTR.search(page).group(1) == "en"
    assert "Noted: you want to sell Peppercorns" in page and "Request number" in page
    assert "李院长 will call to ask how much and at what price." in page  # the 院长's name is data
    again = _text(paired.get(paired.post(action, data={"t": token, "k": "another-screen"}).headers["Location"]))
    assert "Peppercorns is already with 李院长" in again
    with services.session_factory() as session:
        req = session.scalar(sa.select(Request).where(Request.type == "sell"))
    assert req.text.startswith("帮我卖：花椒") and req.details["goods"] == "花椒"


def test_each_request_reads_its_own_language(paired):
    """Templates read the catalogue once per request: English, Chinese, English again one after another each
    come out in their own language (nothing of one request's catalogue is kept for the next)."""
    first, second, third = (_text(paired.get(url)) for url in ("/tv/?lang=en", "/tv/", "/tv/?lang=en"))
    assert "Call for help" in first and "一键呼叫" not in first
    assert "一键呼叫" in second and "Call for help" not in second
    assert "Call for help" in third and "一键呼叫" not in third
