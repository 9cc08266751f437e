"""Fixtures for the TV area: a small world, paired TV clients, helpers to read codes from pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from core.community.tvboxes import pair_box
from core.db import transaction
from tests.factories import build_world


@dataclass
class Ids:
    """Plain ids of the test world (safe to use across sessions and threads)."""

    households: list[int]
    courtyards: list[int]
    villages: list[int]
    town: int
    users: dict[str, int]
    residents: list[int]


@pytest.fixture
def world_ids(session_factory, clock) -> Ids:
    """build_world committed; returns ids only."""
    with transaction(session_factory) as session:
        world = build_world(session, clock.now())
        return Ids(
            households=[h.id for h in world.households], courtyards=[c.id for c in world.courtyards],
            villages=[v.id for v in world.villages], town=world.town.id,
            users={k: u.id for k, u in world.users.items()}, residents=[r.id for r in world.residents],
        )


CODE_RE = re.compile(r'id="pair-code"[^>]*>(\d{6})<')


def pair_client(client: Any, services: Any, household_id: int) -> str:
    """Open /tv/ as a new box, read its code and pair it to a household; returns the box token."""
    first = client.get("/tv/")
    assert first.status_code == 302
    token = first.headers["Location"].split("t=", 1)[1]
    page = client.get(first.headers["Location"])
    code = CODE_RE.search(page.get_data(as_text=True)).group(1)
    with transaction(services.session_factory) as session:
        pair_box(session, now=services.clock.now(), code=code, household_id=household_id, actor="installer")
    return token


@pytest.fixture
def tv_client(app, services, world_ids):
    """A Flask client whose box (cookie) is paired to household 0 (王奶奶's); dry-run telephony."""
    from core.phone.telephony.factory import make_telephony

    services.telephony = make_telephony(services.settings, services.session_factory, services.clock)
    client = app.test_client()
    client.tv_token = pair_client(client, services, world_ids.households[0])
    return client
