"""The i18n tests run on SQLite only (the English catalogue is compiled by tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def session_factory(sqlite_session_factory):
    """SQLite only: what is translated does not depend on the database, so one run is enough."""
    return sqlite_session_factory
