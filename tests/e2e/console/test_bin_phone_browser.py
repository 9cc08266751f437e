"""爱环境 in a real phone browser (Chromium, 360×640): the label page's buttons are huge and two taps report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from core.clock import FakeClock
from core.community import bins as bin_service
from core.container import Services
from core.db import make_engine, make_session_factory, transaction
from core.models import Base
from core.models.requests import Request
from core.settings import load_settings
from tests.factories import build_world
from tests.processes import serving

pytestmark = pytest.mark.slow


@pytest.fixture
def live_bins(tmp_path) -> Iterator[SimpleNamespace]:
    """The app on a loopback port with one bin in 椒香小院."""
    from xiaoyuan.app import create_app

    settings = load_settings(environ={}, overrides={"data": {"dir": str(tmp_path / "var")}})
    engine = make_engine(f"sqlite:///{tmp_path / 'bins.db'}")
    Base.metadata.create_all(engine)
    clock = FakeClock(dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC))
    factory = make_session_factory(engine)
    services = Services(settings=settings, session_factory=factory, clock=clock)
    with transaction(factory) as session:
        world = build_world(session, clock.now())
        token = bin_service.add_bin(session, now=clock.now(), actor=world.users["admin"],
                                    courtyard_id=world.courtyards[0].id, name="村口一号桶", location="村口").token
    try:
        with serving(create_app(services)) as url:
            yield SimpleNamespace(url=url, services=services, token=token)
    finally:
        engine.dispose()


def _phone(chromium: Any) -> Any:
    return chromium.new_context(viewport={"width": 360, "height": 640}, locale="zh-CN", has_touch=True,
                                is_mobile=True)


def test_a_passer_by_reports_a_full_bin_in_two_taps(chromium, live_bins):
    """S13 on a phone: the four buttons fill the width and are thumb-sized; 满了 reports; a neighbour adds one."""
    first = _phone(chromium)
    page = first.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_bins.url}/q/{live_bins.token}")
    buttons = page.locator("button.big")
    assert buttons.all_inner_texts() == ["满了", "坏了", "有异味", "其他"]
    for index in range(4):
        box = buttons.nth(index).bounding_box()
        assert box is not None and box["height"] >= 80 and box["width"] >= 300
    buttons.nth(0).tap()
    page.wait_for_selector("text=1 次报告")
    first.close()
    second = _phone(chromium)
    neighbour = second.new_page()
    neighbour.goto(f"{live_bins.url}/q/{live_bins.token}")
    assert "已有 1 次报告" in neighbour.inner_text("body")
    neighbour.locator("button.big", has_text="有异味").tap()
    neighbour.wait_for_selector("text=2 次报告")
    second.close()
    assert errors == []
    with live_bins.services.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count(Request.id))) == 1


def _png(width: int, height: int) -> bytes:
    """A real PNG of one colour, made without an imaging library."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\x2e\x7d\x32" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's start-of-frame segment."""
    import struct

    at = 2
    while at < len(data):
        marker, length = data[at + 1], struct.unpack(">H", data[at + 2:at + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return width, height
        at += 2 + length
    raise AssertionError("no start of frame")


def test_a_photo_is_made_small_on_the_phone_then_reported_with_the_tap(chromium, live_bins):
    """The camera field takes a 2400×1800 photo; the page's script redraws it as a JPEG of at most 1600 px before the
    tap sends it, so a slow connection carries a fraction of the camera's file; the staff side has it on the request."""
    from pathlib import Path

    from core.models.bins import BinPhoto

    context = _phone(chromium)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_bins.url}/q/{live_bins.token}")
    original = _png(2400, 1800)
    page.set_input_files("#photo", files=[{"name": "IMG_2041.png", "mimeType": "image/png", "buffer": original}])
    page.wait_for_selector("#photo[data-shrunk]")
    page.locator("button.big", has_text="满了").tap()
    page.wait_for_selector("text=照片已收到")
    assert "1 次报告" in page.inner_text("body")
    context.close()
    assert errors == []
    with live_bins.services.session_factory() as s:
        photo = s.scalar(sa.select(BinPhoto))
    stored = (Path(live_bins.services.settings.data_dir) / photo.file).read_bytes()
    assert photo.file.endswith(".jpg") and stored[:3] == b"\xff\xd8\xff"
    assert _jpeg_size(stored) == (1600, 1200)
