"""Fixtures for the scheduled-operations tests: a built world on the test database."""

from __future__ import annotations

import pytest

from core.db import transaction
from tests.factories import build_world


@pytest.fixture
def world(services, clock):
    """The standard test world (two villages, six households, staff) committed to the database."""
    with transaction(services.session_factory) as session:
        built = build_world(session, clock.now())
    return built
