"""The test world builds on every database (a guard for the fixtures themselves)."""

from core.db import transaction
from core.people.directory import caregiver_chain, find_resident_by_phone
from tests.factories import build_world


def test_world_builds_and_resident_found_by_phone(session_factory, clock):
    """A resident is found by caller ID; their chain is in order."""
    with transaction(session_factory) as s:
        world = build_world(s, clock.now())
        rid = world.residents[0].id
    with transaction(session_factory) as s:
        assert find_resident_by_phone(s, "+8613800000000").id == rid
        assert [link.name for link in caregiver_chain(s, rid)] == ["王小明", "李院长", "赵医生"]
