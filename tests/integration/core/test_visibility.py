"""Who sees what, rule by rule, through the core functions the console, the API and the CLI share.

The world: town 安富 with village A (椒香小院, head_a) and village B (荷花小院, head_b); residents 0–2 in A,
3–5 in B; carer_a cares for resident 0. Each test names the rule a user would notice when it broke.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
import sqlalchemy as sa

from core.bands.alerts import raise_alert
from core.bands.escalation import EscalationConfig
from core.bands.registry import add_band
from core.bands.visibility import alert_query, band_scope, get_alert_for
from core.community import notices, points, rewards
from core.community.visibility import (
    find_open_redemption_for,
    get_reward_for,
    may_edit_notice,
    notice_place,
    notice_scope,
    redemption_scope,
    reward_scope,
)
from core.db import transaction
from core.errors import NotFound, PermissionDenied
from core.models.audit import AuditEntry
from core.models.calls import CallLog
from core.models.devices import Band
from core.models.notices import Notice
from core.models.ops import Reminder
from core.models.outbox import OutboxMessage
from core.models.rewards import Redemption, Reward
from core.models.staff import User
from core.notify.outbox import Recipient, enqueue_message
from core.notify.visibility import outbox_query
from core.people.access import OPERATOR, audit_scope, get_courtyard_for, scoped_courtyards, staff_covering, user_scope
from core.people.audit import record_audit
from core.phone.calls import open_call_log
from core.phone.visibility import call_scope
from core.requests.reminders import create_reminder
from core.requests.visibility import get_request_for, reminder_scope, report_scope, request_query
from core.requests.workorders import assign_request, submit_request
from tests.factories import build_world

ROLES = ("admin", "town", "village_a", "grid_a", "head_a", "head_b", "carer_a")


@pytest.fixture
def world(services, clock):
    """The test world, committed."""
    with transaction(services.session_factory) as session:
        return build_world(session, clock.now())


def _ids(services, query) -> set[int]:
    """The ids of the rows a select of one entity finds."""
    with services.session_factory() as session:
        return {row.id for row in session.scalars(query)}


def _user(services, world, name: str) -> User:
    with services.session_factory() as session:
        return session.get(User, world.users[name].id)


# --- wristband alerts and bands -------------------------------------------------------------------

@pytest.fixture
def alert_ids(services, clock, world):
    """An SOS for every resident (by index) and one from a band nobody wears (key None)."""
    config = EscalationConfig.from_settings(services.settings)
    made = {}
    with transaction(services.session_factory) as session:
        for i, resident in enumerate(world.residents):
            alert, _ = raise_alert(session, now=clock.now(), config=config, alert_type="sos", severity="critical",
                                   resident_id=resident.id)
            made[i] = alert.id
        band, _ = add_band(session, now=clock.now(), device_id="SPARE01")
        stray, _ = raise_alert(session, now=clock.now(), config=config, alert_type="sos", severity="critical",
                               resident_id=None, band_id=band.id, device_id="SPARE01")
        made[None] = stray.id
    return made


@pytest.mark.parametrize(("role", "visible"), [
    ("admin", {0, 1, 2, 3, 4, 5, None}),  # only admins see alerts of bands nobody wears
    ("town", {0, 1, 2, 3, 4, 5}),
    ("village_a", {0, 1, 2}),
    ("grid_a", {0, 1, 2}),
    ("head_a", {0, 1, 2}),  # a 院长 sees only their 小院's alerts
    ("head_b", {3, 4, 5}),
    ("carer_a", {0}),  # a caregiver only the residents they care for
])
def test_alerts_are_seen_by_the_people_of_their_place(services, world, alert_ids, role, visible):
    user = _user(services, world, role)
    assert _ids(services, alert_query(user)) == {alert_ids[k] for k in visible}
    with services.session_factory() as session:
        outside = set(alert_ids) - visible
        for key in outside:
            with pytest.raises(NotFound):
                get_alert_for(session, user, alert_ids[key])


def test_the_cli_operator_sees_every_alert_and_filters_active_ones(services, world, alert_ids):
    assert _ids(services, alert_query(OPERATOR)) == set(alert_ids.values())
    assert _ids(services, alert_query(OPERATOR, status="active")) == set(alert_ids.values())
    assert _ids(services, alert_query(OPERATOR, status="resolved")) == set()
    assert _ids(services, alert_query(OPERATOR, status="no-such-status")) == set()


@pytest.mark.parametrize(("role", "sees_spare"), [
    ("admin", True), ("town", True), ("village_a", True), ("grid_a", False), ("head_a", False), ("carer_a", False),
])
def test_unassigned_bands_are_for_the_staff_who_register_bands(services, clock, world, role, sees_spare):
    with transaction(services.session_factory) as session:
        worn, _ = add_band(session, now=clock.now(), device_id="WORN01", resident_id=world.residents[0].id)
        spare, _ = add_band(session, now=clock.now(), device_id="SPARE01")
    user = _user(services, world, role)
    visible = _ids(services, sa.select(Band).where(band_scope(user)))
    assert (spare.id in visible) is sees_spare
    assert worn.id in visible  # every one of these roles sees 王奶奶


# --- requests, reminders, reports -----------------------------------------------------------------

@pytest.fixture
def request_ids(services, clock, world):
    """One request per resident (auto-assigned to their 院长)."""
    made = {}
    with transaction(services.session_factory) as session:
        for i, resident in enumerate(world.residents):
            req = submit_request(session, now=clock.now(), due_hours=services.settings.requests.due_hours,
                                 resident_id=resident.id, type="repair", channel="tv", text=f"漏水 {i}")
            made[i] = req.id
    return made


def test_a_request_handed_to_someone_outside_its_place_is_visible_to_them(services, clock, world, request_ids):
    head_b = _user(services, world, "head_b")
    with transaction(services.session_factory) as session:
        assign_request(session, now=clock.now(), actor=session.get(User, world.users["town"].id),
                       request_id=request_ids[0], assignee_id=world.users["town"].id)
    with services.session_factory() as session:
        with pytest.raises(NotFound):
            get_request_for(session, head_b, request_ids[0])
    town = _user(services, world, "town")
    assert request_ids[0] in _ids(services, request_query(town, now=clock.now(), mine=True))


@pytest.mark.parametrize(("role", "visible"), [
    ("admin", {0, 1, 2, 3, 4, 5}), ("town", {0, 1, 2, 3, 4, 5}), ("village_a", {0, 1, 2}),
    ("head_a", {0, 1, 2}), ("head_b", {3, 4, 5}), ("carer_a", {0}),
])
def test_requests_are_seen_by_the_people_of_their_place(services, clock, world, request_ids, role, visible):
    user = _user(services, world, role)
    assert _ids(services, request_query(user, now=clock.now())) == {request_ids[k] for k in visible}
    assert _ids(services, request_query(user, now=clock.now(), status="open")) == {request_ids[k] for k in visible}
    assert _ids(services, request_query(user, now=clock.now(), status="closed")) == set()


def test_the_list_filters_mean_the_same_for_every_surface(services, clock, world, request_ids):
    head = _user(services, world, "head_a")
    now = clock.now()
    assert _ids(services, request_query(head, now=now, resident_id=world.residents[1].id)) == {request_ids[1]}
    assert _ids(services, request_query(head, now=now, overdue=True)) == set()
    later = now + dt.timedelta(days=30)
    assert _ids(services, request_query(head, now=later, overdue=True)) == {request_ids[i] for i in (0, 1, 2)}
    assert _ids(services, request_query(head, now=later, overdue=False)) == set()
    assert _ids(services, request_query(head, now=now, status="bogus")) == set()


def test_reminders_of_a_courtyard_and_of_a_resident_reach_the_right_people(services, clock, world):
    at = clock.now() + dt.timedelta(days=1)
    with transaction(services.session_factory) as session:
        village_a = session.get(User, world.users["village_a"].id)
        meeting = create_reminder(session, now=clock.now(), actor=village_a, kind="meeting", text="院坝会", at=at,
                                  courtyard_id=world.courtyards[0].id)
        pills = create_reminder(session, now=clock.now(), actor=village_a, kind="medication", text="吃药", at=at,
                                resident_id=world.residents[0].id)
        other = create_reminder(session, now=clock.now(), actor=None, kind="meeting", text="B 的会", at=at,
                                courtyard_id=world.courtyards[1].id)
    def seen(role: str) -> set[int]:
        return _ids(services, sa.select(Reminder).where(reminder_scope(_user(services, world, role))))

    assert seen("head_a") == {meeting.id, pills.id}
    assert seen("head_b") == {other.id}
    assert seen("carer_a") == {pills.id}  # a caregiver sees their resident's reminders, not the 小院's meetings
    assert seen("town") == {meeting.id, pills.id, other.id}


def test_reports_cover_the_village_or_town_a_person_works_for(services, world):
    a, b = world.villages
    u = {role: _user(services, world, role) for role in ROLES}
    with services.session_factory() as session:
        assert report_scope(session, u["village_a"]) == (a.id, None)
        assert report_scope(session, u["grid_a"], a.id) == (a.id, None)
        with pytest.raises(NotFound):
            report_scope(session, u["village_a"], b.id)  # another village's report
        assert report_scope(session, u["town"]) == (None, world.town.id)
        assert report_scope(session, u["town"], b.id) == (b.id, None)
        assert report_scope(session, u["admin"], b.id) == (b.id, None)
        for role in ("head_a", "carer_a"):
            with pytest.raises(NotFound):
                report_scope(session, u[role])


# --- accounts, audit, outbox ----------------------------------------------------------------------

def test_staff_manage_the_accounts_of_their_place_and_below(services, world):
    def names(role: str) -> set[str]:
        with services.session_factory() as session:
            return set(session.scalars(sa.select(User.username).where(user_scope(_user(services, world, role)))))

    everyone = set(world.users)
    assert names("admin") == everyone
    assert names("town") == everyone - {"admin", "carer_a"}  # carer_a has no place yet
    assert names("village_a") == {"village_a", "grid_a", "head_a"}
    assert names("head_a") == {"head_a"}  # a 院长 manages only their own account


def test_the_audit_trail_shows_what_the_viewers_staff_did(services, clock, world):
    with transaction(services.session_factory) as session:
        for name in ("head_a", "head_b"):
            record_audit(session, at=clock.now(), actor=session.get(User, world.users[name].id), action="test",
                         entity_type="user", entity_id=None)
        record_audit(session, at=clock.now(), actor="system", action="test", entity_type="user", entity_id=None)

    def labels(role: str) -> list[str]:
        with services.session_factory() as session:
            return sorted(session.scalars(sa.select(AuditEntry.actor_label).where(
                audit_scope(_user(services, world, role)))))

    assert labels("village_a") == ["head_a"]
    assert labels("admin") == ["head_a", "head_b", "system"]


def test_outbox_rows_are_seen_about_ones_area_or_addressed_to_oneself(services, clock, world, request_ids):
    with transaction(services.session_factory) as session:
        to_town = enqueue_message(session, now=clock.now(), recipient=Recipient(
            name="镇", user_id=world.users["town"].id, channels=("dryrun",)), template="t", text="给镇里")

    def seen(role: str) -> set[int]:
        return _ids(services, outbox_query(_user(services, world, role)))

    with services.session_factory() as session:
        about = {i: set(session.scalars(sa.select(OutboxMessage.id).where(
            OutboxMessage.subject_type == "request", OutboxMessage.subject_id == rid)))
            for i, rid in request_ids.items()}
    a_rows = set().union(*(about[i] for i in (0, 1, 2)))
    b_rows = set().union(*(about[i] for i in (3, 4, 5)))
    assert a_rows and b_rows
    assert seen("head_a") == a_rows
    assert seen("village_a") == a_rows
    assert seen("town") == a_rows | b_rows | {to_town.id}
    assert seen("carer_a") == set()
    assert _ids(services, outbox_query(OPERATOR, status="nonexistent")) == set()


def test_who_a_request_may_be_handed_to_covers_its_place(services, world):
    place = {"courtyard_id": world.courtyards[0].id, "village_id": world.villages[0].id, "town_id": world.town.id}
    head_b = _user(services, world, "head_b")
    with services.session_factory() as session:
        names = set(session.scalars(sa.select(User.username).where(staff_covering(**place))))
        courtyards = {c.id for c in session.scalars(scoped_courtyards(head_b))}
        with pytest.raises(NotFound):
            get_courtyard_for(session, head_b, world.courtyards[0].id)
    assert names == {"admin", "town", "village_a", "grid_a", "head_a"}
    assert courtyards == {world.courtyards[1].id}


# --- community: rewards, redemptions, notices -----------------------------------------------------

def test_a_head_changes_only_their_own_courtyards_rewards(services, clock, world):
    a, b = world.villages
    with transaction(services.session_factory) as session:
        village_wide = rewards.create_reward(session, now=clock.now(), village_id=a.id, name="肥皂", cost=5, stock=3)
        own = rewards.create_reward(session, now=clock.now(), village_id=a.id, courtyard_id=world.courtyards[0].id,
                                    name="毛巾", cost=8, stock=2)
        elsewhere = rewards.create_reward(session, now=clock.now(), village_id=b.id, name="大米", cost=20, stock=1)
    head, village_a = _user(services, world, "head_a"), _user(services, world, "village_a")
    assert _ids(services, sa.select(Reward).where(reward_scope(head))) == {village_wide.id, own.id}
    with services.session_factory() as session:
        assert get_reward_for(session, head, own.id).id == own.id
        for reward_id in (village_wide.id, elsewhere.id):
            with pytest.raises(NotFound):
                get_reward_for(session, head, reward_id)
        assert get_reward_for(session, village_a, village_wide.id).id == village_wide.id


def test_pickup_codes_find_only_redemptions_of_ones_own_places(services, clock, world):
    a, b = world.villages
    with transaction(services.session_factory) as session:
        made = {}
        for village, household in ((a, world.households[0]), (b, world.households[3])):
            reward = rewards.create_reward(session, now=clock.now(), village_id=village.id, name="香皂", cost=1,
                                           stock=5)
            points.award_points(session, now=clock.now(), household_id=household.id, delta=10, category="环境卫生",
                                reason="打扫")
            made[village.id] = rewards.redeem(session, now=clock.now(), household_id=household.id,
                                              reward_id=reward.id)
    head_a, town = _user(services, world, "head_a"), _user(services, world, "town")
    assert _ids(services, sa.select(Redemption).where(redemption_scope(head_a))) == {made[a.id].id}
    with services.session_factory() as session:
        assert find_open_redemption_for(session, head_a, made[a.id].code).id == made[a.id].id
        if made[b.id].code != made[a.id].code:
            with pytest.raises(NotFound):
                find_open_redemption_for(session, head_a, made[b.id].code)
        assert find_open_redemption_for(session, town, made[b.id].code).village_id in (a.id, b.id)


def test_notices_town_wide_for_all_courtyard_ones_for_their_courtyard(services, clock, world):
    a, b = world.villages
    with transaction(services.session_factory) as session:
        def post(audience, village_id=None, courtyard_id=None):
            return notices.post_notice(session, now=clock.now(), title=audience, body="", category="notice",
                                       audience=audience, town_id=world.town.id, village_id=village_id,
                                       courtyard_id=courtyard_id)

        town_wide = post("town")
        village_b = post("village", b.id)
        courtyard_a = post("courtyard", a.id, world.courtyards[0].id)
        courtyard_b = post("courtyard", b.id, world.courtyards[1].id)

    def seen(role: str) -> set[int]:
        return _ids(services, sa.select(Notice).where(notice_scope(_user(services, world, role))))

    assert seen("head_a") == {town_wide.id, courtyard_a.id}
    assert seen("village_a") == {town_wide.id, courtyard_a.id}
    assert seen("town") == {town_wide.id, village_b.id, courtyard_a.id, courtyard_b.id}
    head, town = _user(services, world, "head_a"), _user(services, world, "town")
    with services.session_factory() as session:
        town_notice = session.get(Notice, town_wide.id)
        assert not may_edit_notice(head, town_notice)  # only the town changes a town-wide notice
        assert may_edit_notice(town, town_notice)
        assert may_edit_notice(head, session.get(Notice, courtyard_a.id))
        with pytest.raises(PermissionDenied):
            notice_place(session, head, audience="town", courtyard_id=None)
        with pytest.raises(PermissionDenied):
            notice_place(session, head, audience="village", courtyard_id=world.courtyards[0].id)
        with pytest.raises(NotFound):
            notice_place(session, head, audience="courtyard", courtyard_id=world.courtyards[1].id)
        assert notice_place(session, head, audience="courtyard", courtyard_id=world.courtyards[0].id) == (
            world.town.id, a.id, world.courtyards[0].id)


# --- the phone line -------------------------------------------------------------------------------

def test_calls_from_unknown_numbers_are_for_admins_only(services, clock, world):
    with transaction(services.session_factory) as session:
        known = open_call_log(session, now=clock.now(), provider_call_id="CA1", caller=world.residents[0].phone)
        unknown = open_call_log(session, now=clock.now(), provider_call_id="CA2", caller="+8613999999999")

    def seen(role: str) -> set[int]:
        return _ids(services, sa.select(CallLog).where(call_scope(_user(services, world, role))))

    assert seen("admin") == {known.id, unknown.id}
    assert seen("town") == {known.id}
    assert seen("head_a") == {known.id}
    assert seen("head_b") == set()


def test_the_operator_is_an_admin_labelled_for_the_audit():
    assert OPERATOR.role == "admin" and OPERATOR.id is None and OPERATOR.display_name == "cli"
    assert dataclasses.replace(OPERATOR, username="老周").display_name == "老周"
