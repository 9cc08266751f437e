"""`xiaoyuan demo` seeds every area: a TV that opens straight to a paired home, points, wristbands, requests."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
import sqlalchemy as sa

from core.community import points as points_service
from core.community.tvboxes import hash_token
from core.demo import area_seeders, seed_demo
from core.demo.community import DEMO_PENDING_TV_TOKEN, DEMO_TV_TOKEN
from core.models.alerts import Alert
from core.models.devices import Band
from core.models.helpcalls import HelpCall
from core.models.notices import Notice
from core.models.ops import Reminder
from core.models.places import Courtyard, Resident, Village
from core.models.points import PointEntry
from core.models.requests import Request
from core.models.rewards import Redemption, Reward
from core.models.tvbox import TvBox

COUNTED = (PointEntry, Reward, Redemption, Notice, TvBox, Band, Alert, HelpCall, Reminder, Request)


@pytest.fixture
def seeded(services):
    """The demo village on the test database."""
    summary = seed_demo(services)
    assert summary["households"] == 40
    return services


def _counts(session) -> dict[str, int]:
    return {model.__name__: session.scalar(sa.select(sa.func.count()).select_from(model)) for model in COUNTED}


def test_the_demo_tv_url_opens_a_paired_home_with_balance_and_todays_meeting(seeded, app) -> None:
    """The URL `make run` prints shows a household's home at once: name, points and the 9:00 云坝会."""
    client = app.test_client(use_cookies=False)
    page = client.get(f"/tv/?t={DEMO_TV_TOKEN}").get_data(as_text=True)
    assert "椒香小院1号" in page and "这台电视还没有配对" not in page
    assert "积分 95 分" in page  # enough for 5 L 菜籽油 (85) with 10 left, as in the oil scenario
    assert re.search(r"今天开会.{0,20}09:00.{0,5}今天上午9点在椒香小院开云坝会", page)
    assert len(re.findall(r'class="tile[ "]', page)) <= 6
    waiting = client.get(f"/tv/?t={DEMO_PENDING_TV_TOKEN}").get_data(as_text=True)
    assert re.search(r'id="pair-code"[^>]*>\d{6}<', waiting)
    with seeded.session_factory() as session:  # only hashes are stored, as for any box
        stored = set(session.scalars(sa.select(TvBox.token_hash)))
        assert hash_token(DEMO_TV_TOKEN) in stored and DEMO_TV_TOKEN not in stored


def test_ranking_ledger_rewards_and_notices_cover_the_village(seeded) -> None:
    """Every household has two months of points; deductions, a reversal, rewards with stock, all notice kinds."""
    now = seeded.clock.now()
    with seeded.session_factory() as session:
        boards = [points_service.ranking(session, now=now, scope="village", scope_id=v, period="all")
                  for v in session.scalars(sa.select(Village.id))]
        rows = [row for board in boards for row in board]
        assert len(rows) >= 40 and all(row.points != 0 for row in rows)
        entries = list(session.scalars(sa.select(PointEntry)))
        assert {e.category for e in entries} >= {"环境卫生", "参加会议", "扣分", "冲正"}
        assert len({e.created_at.date() for e in entries}) > 20  # spread over the last two months
        assert min(e.created_at for e in entries) >= now - dt.timedelta(days=62)
        assert any("云坝会" in e.reason for e in entries)
        rewards = {r.name: (r.cost, r.stock) for r in session.scalars(sa.select(Reward))}
        assert rewards["肥皂"][0] == 5 and rewards["大米"][0] == 50 and rewards["5 L 菜籽油"][0] == 85
        assert all(stock > 0 for _cost, stock in rewards.values())
        redemptions = list(session.scalars(sa.select(Redemption)))
        assert {r.status for r in redemptions} == {"open", "collected"}
        assert all(r.open_code and len(r.open_code) == 4 for r in redemptions if r.status == "open")
        categories = set(session.scalars(sa.select(Notice.category)))
        assert categories == {"notice", "experience", "policy", "meeting", "jobs"}


def test_every_resident_living_alone_wears_a_registered_band(seeded) -> None:
    """Bands SIM0001… (the simulator's names) belong to the residents living alone, each with a site."""
    with seeded.session_factory() as session:
        alone = set(session.scalars(sa.select(Resident.id).where(Resident.lives_alone.is_(True))))
        bands = list(session.scalars(sa.select(Band).order_by(Band.id)))
        assert alone and {b.resident_id for b in bands} == alone
        assert bands[0].device_id == "SIM0001" and all(b.site and b.site != "default" for b in bands)
        assert all(b.mqtt_password_hash.startswith("$7$") for b in bands)
        first_alone = session.scalar(sa.select(Resident).where(Resident.lives_alone.is_(True))
                                     .order_by(Resident.id).limit(1))
        assert bands[0].resident_id == first_alone.id
        sos = session.scalar(sa.select(Alert).where(Alert.type == "sos"))
        assert sos.status == "resolved" and sos.resolution_note
        calls = list(session.scalars(sa.select(HelpCall)))
        assert calls and all(call.legs for call in calls)
        assert any(len(call.legs) >= 2 and call.legs[0].status == "no_answer" for call in calls)


def test_requests_in_every_state_and_reminders_for_today(seeded) -> None:
    """The console has something in every column; today's meeting reminder is for 椒香小院."""
    with seeded.session_factory() as session:
        states = set(session.scalars(sa.select(Request.status)))
        assert states >= {"new", "assigned", "in_progress", "resolved", "evaluated", "closed"}
        meeting = session.scalar(sa.select(Reminder).where(Reminder.kind == "meeting"))
        courtyard = session.get(Courtyard, meeting.courtyard_id)
        assert courtyard.name == "椒香小院"


def test_seeding_the_areas_again_duplicates_nothing(seeded) -> None:
    """Running the area seeders a second time (e.g. after an interrupted demo) adds no rows."""
    with seeded.session_factory() as session:
        before = _counts(session)
    for seeder in area_seeders():
        seeder(seeded)
    with seeded.session_factory() as session:
        assert _counts(session) == before


def test_demo_people_use_the_configured_default_channels(services, session_factory):
    """With XIAOYUAN_NOTIFY_DEFAULT_CHANNELS=wecom the demo's staff and caregivers are told by wecom, not dry-run."""
    from core.models.places import CaregiverLink
    from core.models.staff import User

    notify = services.settings.notify.model_copy(update={"default_channels": ("wecom", "twilio_sms")})
    settings = services.settings.model_copy(update={"notify": notify})
    seed_demo(dataclasses.replace(services, settings=settings))
    with session_factory() as session:
        users = {tuple(c) for c in session.scalars(sa.select(User.channels))}
        links = {tuple(c) for c in session.scalars(sa.select(CaregiverLink.channels))}
    assert users == {("wecom", "twilio_sms")} and links == {("wecom", "twilio_sms")}


def test_demo_people_are_dry_run_by_default(seeded, session_factory):
    """Nothing configured: the default channel is dry-run, so the demo sends nothing for real."""
    from core.models.places import CaregiverLink
    from core.models.staff import User

    with session_factory() as session:
        channels = {tuple(c) for c in session.scalars(sa.select(User.channels))}
        channels |= {tuple(c) for c in session.scalars(sa.select(CaregiverLink.channels))}
    assert channels == {("dryrun",)}
