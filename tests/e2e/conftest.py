"""What every browser test shares: Debian's Chromium through one Playwright for the whole session.

Playwright's sync API keeps an event loop running in the main thread while it is open, so a second
session fixture that starts it fails every test after it ("using Playwright Sync API inside the
asyncio loop"): the TV, console and phone-page tests all use this one. For the same reason it is
closed when the last browser test is done (package scope), so that later tests may run `asyncio.run`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
