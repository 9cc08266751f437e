"""`xiaoyuan demo` seeds every area: a TV that opens straight to a paired home, points, wristbands, requests."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import stat

import pytest
import sqlalchemy as sa

from core.community import points as points_service
from core.community.tvboxes import hash_token, revoke_box
from core.db import make_engine, make_session_factory, transaction
from core.demo import area_seeders, seed_demo
from core.demo.community import demo_tokens
from core.demo.people import DEMO_USERNAMES
from core.models import Base
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
from core.people.access import OPERATOR
from core.people.users import reset_password
from core.settings import load_settings
from xiaoyuan.banner import banner_lines
from xiaoyuan.checks import check_security

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
    tokens = demo_tokens(seeded.settings.data_dir)  # what the banner prints: random, kept in the data dir
    page = client.get(f"/tv/?t={tokens['paired']}").get_data(as_text=True)
    assert "椒香小院1号" in page and "这台电视还没有配对" not in page
    assert "积分 95 分" in page  # enough for 5 L 菜籽油 (85) with 10 left, as in the oil scenario
    assert re.search(r"今天开会.{0,20}09:00.{0,5}今天上午9点在椒香小院开云坝会", page)
    assert len(re.findall(r'class="tile[ "]', page)) == 9  # the home's tiles, two rows (tests/integration/tv)
    waiting = client.get(f"/tv/?t={tokens['pending']}").get_data(as_text=True)
    assert re.search(r'id="pair-code"[^>]*>\d{6}<', waiting)
    with seeded.session_factory() as session:  # only hashes are stored, as for any box
        stored = set(session.scalars(sa.select(TvBox.token_hash)))
        assert hash_token(tokens["paired"]) in stored and tokens["paired"] not in stored


def test_demo_tv_tokens_are_random_and_kept_private(services) -> None:
    """The demo token was a fixed string in the repository: anyone could open the demo home on any install."""
    seed_demo(services)
    tokens = demo_tokens(services.settings.data_dir)
    assert set(tokens) == {"paired", "pending"}
    assert all(len(token) >= 32 for token in tokens.values())
    assert "demo-tv-jiaoxiang-1-xiaoyuan" not in tokens.values()
    mode = stat.S_IMODE(os.stat(services.settings.data_dir / "demo-tv-tokens.json").st_mode)
    assert mode == 0o600


def test_check_and_banner_warn_when_demo_secrets_are_exposed(services, tmp_path) -> None:
    """Demo logins with the printed password on a service others can reach (or that phones people) is loud."""
    url = f"sqlite:///{tmp_path / 'exposed.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    exposed = type(services)(settings=services.settings, session_factory=make_session_factory(engine),
                             clock=services.clock)

    def settings(host: str = "127.0.0.1", provider: str = "dryrun"):
        return load_settings(environ={}, overrides={
            "data": {"dir": str(services.settings.data_dir)}, "database": {"url": url},
            "web": {"host": host}, "telephony": {"provider": provider}})

    def loud(lines: list[str]) -> list[str]:
        return [line for line in lines if line.startswith("!! ")]

    assert check_security(settings(host="0.0.0.0")) == []  # no demo yet: nothing to say
    seed_demo(exposed)
    assert check_security(settings()) == []  # on a laptop the demo is the point
    assert not loud(banner_lines(settings()))
    public = check_security(settings(host="0.0.0.0"))
    assert public and public[0].level == "error"
    assert "yuanzhang1" in public[0].message and "0.0.0.0" in public[0].message
    assert loud(banner_lines(settings(host="0.0.0.0")))
    assert check_security(settings(provider="twilio"))
    tokens = demo_tokens(services.settings.data_dir)
    assert any(tokens["paired"] in line for line in banner_lines(settings()))
    with transaction(exposed.session_factory) as session:  # the operator cleans up
        for name in DEMO_USERNAMES:
            reset_password(session, now=services.clock.now(), actor=OPERATOR, username=name, new="a-real-secret-42")
        for box_id in session.scalars(sa.select(TvBox.id).where(TvBox.label.like("%演示电视"))).all():
            revoke_box(session, now=services.clock.now(), box_id=box_id)
    assert check_security(settings(host="0.0.0.0")) == []
    engine.dispose()


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


def test_the_demo_staff_names_say_their_role_once_in_the_console(seeded, app) -> None:
    """The 院长's name already says 院长 ("林凤英（椒香小院院长）"): the console showed "（院长）" after it again,
    in the header of every page and in the 改派给 list."""
    from core.models.requests import Request as WorkOrder
    from core.models.staff import User
    from tests.integration.console.conftest import login_as

    client = app.test_client()
    with seeded.session_factory() as session:
        users = {u.username: u for u in session.scalars(sa.select(User))}
        request_id = session.scalars(sa.select(WorkOrder.id).where(
            WorkOrder.courtyard_id == users["yuanzhang1"].courtyard_id, WorkOrder.status.in_(("new", "assigned"))))\
            .first()
    head = users["yuanzhang1"]
    assert "院长）" in head.display_name  # the demo's name for a 院长
    login_as(client, head)
    home = client.get("/console/").get_data(as_text=True)
    assert f'<span class="who">{head.display_name}\n' in home
    detail = client.get(f"/console/requests/{request_id}").get_data(as_text=True)
    assert f">{head.display_name}</option>" in detail and "院长）（院长）" not in detail
    login_as(client, users["cun1"])  # a name without the role keeps it: 桂花村村委（村干部）
    assert f'<span class="who">{users["cun1"].display_name}（村干部）' in client.get("/console/").get_data(as_text=True)
