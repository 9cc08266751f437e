"""People services do their own checks and audit: caregiver chains, households and residents, accounts, tokens."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.db import transaction
from core.errors import InvalidInput, NotFound
from core.models.audit import AuditEntry
from core.models.places import CaregiverLink, Courtyard
from core.models.staff import ApiToken, User
from core.people import caregivers, residents, users
from tests.factories import build_world


@pytest.fixture
def world(services, clock):
    with transaction(services.session_factory) as session:
        return build_world(session, clock.now())


def _audit(services) -> list[tuple[str, str, dict]]:
    with services.session_factory() as session:
        return [tuple(row) for row in session.execute(
            sa.select(AuditEntry.action, AuditEntry.actor_label, AuditEntry.detail).order_by(AuditEntry.id))]


def _chain(services, resident_id: int) -> list[str]:
    with services.session_factory() as session:
        return list(session.scalars(sa.select(CaregiverLink.name).where(CaregiverLink.resident_id == resident_id)
                                    .order_by(CaregiverLink.position)))


def test_chain_edits_keep_positions_and_are_audited_by_the_editor(services, clock, world):
    rid = world.residents[0].id
    with transaction(services.session_factory) as s:
        head = s.get(User, world.users["head_a"].id)
        link = caregivers.add_caregiver(s, now=clock.now(), actor=head, resident_id=rid, kind="family", name="王小红",
                                        phone="138 0000 2222", hours_start=8, hours_end=20)
    assert _chain(services, rid) == ["王小明", "李院长", "赵医生", "王小红"]
    with transaction(services.session_factory) as s:
        head = s.get(User, world.users["head_a"].id)
        caregivers.move_caregiver(s, now=clock.now(), actor=head, resident_id=rid, link_id=link.id, direction="up")
        caregivers.remove_caregiver(s, now=clock.now(), actor=head, resident_id=rid,
                                    link_id=s.scalar(sa.select(CaregiverLink.id).where(CaregiverLink.name == "赵医生")))
    assert _chain(services, rid) == ["王小明", "李院长", "王小红"]
    assert [(a, who) for a, who, _ in _audit(services)] == [
        ("chain.add", "head_a"), ("chain.reorder", "head_a"), ("chain.remove", "head_a")]


def test_a_head_cannot_touch_the_chain_of_another_courtyards_resident(services, clock, world):
    with transaction(services.session_factory) as s, pytest.raises(NotFound):
        caregivers.add_caregiver(s, now=clock.now(), actor=s.get(User, world.users["head_b"].id),
                                 resident_id=world.residents[0].id, kind="family", name="陌生人")
    assert _chain(services, world.residents[0].id) == ["王小明", "李院长", "赵医生"]
    assert _audit(services) == []


def test_a_head_may_link_only_accounts_of_their_area_and_cannot_probe_usernames(services, clock, world):
    """A 院长 could add any village's account to a chain (giving it access) and learn which usernames exist."""
    from core.errors import InvalidInput
    from core.people.users import create_user

    rid = world.residents[1].id  # courtyard A, village A
    with transaction(services.session_factory) as s:
        create_user(s, now=clock.now(), username="carer_b", password="long-enough-1", role="caregiver",
                    town_id=world.town.id, village_id=world.villages[1].id)  # registered in village B
        create_user(s, now=clock.now(), username="carer_a2", password="long-enough-1", role="caregiver",
                    town_id=world.town.id, village_id=world.villages[0].id)  # registered in village A
    refusals = []
    for username in ("head_b", "carer_b", "no-such-user"):
        with transaction(services.session_factory) as s, pytest.raises(InvalidInput) as refused:
            caregivers.add_caregiver(s, now=clock.now(), actor=s.get(User, world.users["head_a"].id),
                                     resident_id=rid, kind="family", name="某人", username=username)
        refusals.append(str(refused.value.message))
    assert len(set(refusals)) == 1  # the same words whether the account exists elsewhere or not at all
    for username in ("grid_a", "carer_a2", "carer_a"):  # own village's staff and caregivers, 王奶奶's son
        with transaction(services.session_factory) as s:
            caregivers.add_caregiver(s, now=clock.now(), actor=s.get(User, world.users["head_a"].id),
                                     resident_id=rid, kind="family", name=username, username=username)
    with transaction(services.session_factory) as s:  # the town's command centre manages village B's accounts
        caregivers.add_caregiver(s, now=clock.now(), actor=s.get(User, world.users["town"].id),
                                 resident_id=rid, kind="family", name="carer_b", username="carer_b")


def test_households_and_residents_are_created_in_scope_validated_and_audited(services, clock, world):
    with transaction(services.session_factory) as s:
        head = s.get(User, world.users["head_a"].id)
        household = residents.create_household(s, now=clock.now(), actor=head, courtyard_id=world.courtyards[0].id,
                                               name=" 新户 ", landline="023-4671 2345")
        resident = residents.create_resident(s, now=clock.now(), actor=head, household_id=household.id,
                                             fields=residents.ResidentFields(name="刘爷爷", birth_year="1940"))
        residents.edit_resident(s, now=clock.now(), actor=head, resident_id=resident.id,
                                fields=residents.ResidentFields(name="刘爷爷", birth_year="1941", lives_alone=True))
    assert (household.name, household.landline) == ("新户", "+862346712345")
    actions = [(a, d) for a, _, d in _audit(services)]
    assert actions[0][0] == "household.create" and actions[1][0] == "resident.create"
    assert actions[2] == ("resident.edit", {"fields": ["birth_year", "lives_alone"]})
    with transaction(services.session_factory) as s:
        head = s.get(User, world.users["head_a"].id)
        with pytest.raises(NotFound):
            residents.create_household(s, now=clock.now(), actor=head, courtyard_id=world.courtyards[1].id, name="x")
        with pytest.raises(InvalidInput):
            residents.create_resident(s, now=clock.now(), actor=head, household_id=household.id,
                                      fields=residents.ResidentFields(name="小孩", birth_year="2999"))


def test_accounts_are_created_within_the_creators_area_and_a_head_without_a_courtyard_gets_it(services, clock, world):
    with transaction(services.session_factory) as s:
        s.get(Courtyard, world.courtyards[0].id).head_user_id = None
    with transaction(services.session_factory) as s:
        village_a = s.get(User, world.users["village_a"].id)
        new_head = users.create_account(s, now=clock.now(), creator=village_a, username="head_new",
                                        password="long-enough-1", role="courtyard_head",
                                        courtyard_id=world.courtyards[0].id)
        with pytest.raises(InvalidInput):  # 荷花小院 is in another village
            users.create_account(s, now=clock.now(), creator=village_a, username="x", password="long-enough-1",
                                 role="courtyard_head", courtyard_id=world.courtyards[1].id)
        with pytest.raises(InvalidInput):  # never above one's own level
            users.create_account(s, now=clock.now(), creator=village_a, username="y", password="long-enough-1",
                                 role="town")
    with services.session_factory() as s:
        assert s.get(Courtyard, world.courtyards[0].id).head_user_id == new_head.id
    assert [(a, who, d) for a, who, d in _audit(services)] == [("user.create", "village_a", {"role": "courtyard_head"})]


def test_nobody_deactivates_their_own_account_and_tokens_are_audited(services, clock, world):
    with transaction(services.session_factory) as s:
        village_a = s.get(User, world.users["village_a"].id)
        with pytest.raises(InvalidInput):
            users.set_account_active(s, now=clock.now(), actor=village_a, user_id=village_a.id, active=False)
        with pytest.raises(NotFound):  # 荷花小院's 院长 is outside village A
            users.set_account_active(s, now=clock.now(), actor=village_a, user_id=world.users["head_b"].id,
                                     active=False)
        users.set_account_active(s, now=clock.now(), actor=village_a, user_id=world.users["grid_a"].id, active=False)
        users.issue_api_token(s, now=clock.now(), user=village_a, name="  ")
        token_id = s.scalar(sa.select(ApiToken.id))
        users.revoke_api_token(s, now=clock.now(), user=village_a, token_id=token_id)
        with pytest.raises(NotFound):
            users.revoke_api_token(s, now=clock.now(), user=s.get(User, world.users["head_a"].id), token_id=token_id)
    assert [(a, d) for a, _, d in _audit(services)] == [
        ("user.active", {"active": False}), ("token.create", {"name": "api"}), ("token.revoke", {})]
