"""The staff console in real Chromium: the app on a loopback server with a lived-in world, phone-sized pages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from core.clock import FakeClock
from core.container import Services
from core.db import make_engine, make_session_factory, transaction
from core.models import Base
from core.models.places import Resident
from core.phone.helpcalls import start_help_call
from core.requests.workorders import submit_request
from core.settings import load_settings
from tests.e2e.tv.conftest import seed_tv_world
from tests.factories import PASSWORD
from tests.processes import serving

PHONE = {"width": 390, "height": 844}


@dataclass
class LiveConsole:
    """The app served on a free loopback port."""

    url: str
    services: Services


@pytest.fixture
def live_console(tmp_path) -> Iterator[LiveConsole]:
    """The whole app (SQLite, dry-run telephony) with requests (some overdue), a help call and points."""
    from core.phone.telephony.factory import make_telephony
    from xiaoyuan.app import create_app

    settings = load_settings(environ={}, overrides={"data": {"dir": str(tmp_path / "var")}})
    engine = make_engine(f"sqlite:///{tmp_path / 'console.db'}")
    Base.metadata.create_all(engine)
    clock = FakeClock(dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC))
    factory = make_session_factory(engine)
    services = Services(settings=settings, session_factory=factory, clock=clock)
    services.telephony = make_telephony(settings, factory, clock)
    with transaction(factory) as session:
        seed_tv_world(session, clock.now() - dt.timedelta(days=2), households_per_courtyard=4)
    with transaction(factory) as session:
        residents = list(session.scalars(sa.select(Resident).order_by(Resident.id)))
        for index, resident in enumerate(residents[:6]):
            submit_request(session, now=clock.now() - dt.timedelta(hours=30 * (index % 2)),
                           due_hours=settings.requests.due_hours, resident_id=resident.id, type="repair",
                           channel="tv", text=f"厨房的水管漏水了，地上全是水，请尽快派人来看看 {index}")
        start_help_call(session, now=clock.now(), household_id=residents[0].household_id)
    try:
        with serving(create_app(services)) as url:
            yield LiveConsole(url=url, services=services)
    finally:
        engine.dispose()


def sign_in(context: Any, live: LiveConsole, username: str) -> Any:
    """A page in `context` signed in through the login form."""
    page = context.new_page()
    page.goto(f"{live.url}/console/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}/console/")
    return page


@pytest.fixture
def phone(chromium) -> Iterator[Any]:
    """A 390x844 phone browser context (touch, Chinese)."""
    context = chromium.new_context(viewport=PHONE, locale="zh-CN", has_touch=True, is_mobile=True,
                                   device_scale_factor=2)
    yield context
    context.close()
