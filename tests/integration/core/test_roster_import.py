"""Roster import into a real database (SQLite and PostgreSQL): all-or-nothing, idempotent, scoped, audited."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.db import transaction
from core.errors import PermissionDenied
from core.models.audit import AuditEntry
from core.models.places import CaregiverLink, Courtyard, Household, Resident, Town, Village
from core.models.staff import User
from core.people.access import OPERATOR
from core.people.roster import import_roster
from tests.factories import build_world
from tests.roster_data import as_csv, as_xlsx, break_rows, roster_rows


@pytest.fixture
def world(services, clock):
    with transaction(services.session_factory) as session:
        return build_world(session, clock.now())


def _import(services, data: bytes, *, actor=OPERATOR, filename="名册.csv", **kwargs):
    with transaction(services.session_factory) as session:
        if isinstance(actor, str):
            actor = session.scalar(sa.select(User).where(User.username == actor))
        return import_roster(session, now=services.clock.now(), actor=actor, data=data, filename=filename, **kwargs)


def _count(services, model) -> int:
    with services.session_factory() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model))


def _snapshot(services) -> dict:
    with services.session_factory() as session:
        return {model.__name__: session.scalar(sa.select(sa.func.count()).select_from(model))
                for model in (Town, Village, Courtyard, Household, Resident, CaregiverLink)}


def test_good_roster_creates_places_people_and_chains_then_reimport_changes_nothing(services, world):
    rows = roster_rows(60)
    before = _snapshot(services)
    first = _import(services, as_csv(rows))
    assert first.written and first.problems == []
    assert first.created["resident"] == 60 and first.created["household"] == 30
    assert first.created["village"] == 0  # 高瓷村 and 通安村 exist in the world
    after = _snapshot(services)
    assert after["Resident"] == before["Resident"] + 60 and after["Town"] == before["Town"]
    again = _import(services, as_csv(rows))
    assert again.written and again.created == {} and again.updated == {} and again.unchanged == 60
    assert _snapshot(services) == after
    with services.session_factory() as session:
        resident = session.scalar(sa.select(Resident).where(Resident.name == rows[5][3]))
        assert resident.phone == "+86" + rows[5][4] and resident.birth_year == int(rows[5][5])
        assert resident.household.number == rows[5][2] and resident.household.courtyard.name == rows[5][1]
        assert [(c.position, c.name, c.kind) for c in resident.caregivers] == [
            (1, rows[5][7], "family"), (2, rows[5][10], "courtyard_head")]


def test_a_changed_phone_updates_the_resident_and_is_audited(services, world):
    rows = roster_rows(10)
    _import(services, as_csv(rows))
    rows[3][4] = "13912345678"
    rows[3][8] = "13712345678"  # the first caregiver's new number
    result = _import(services, as_csv(rows))
    assert result.updated["resident"] == 1 and result.unchanged == 9 and result.created == {}
    with services.session_factory() as session:
        resident = session.scalar(sa.select(Resident).where(Resident.name == rows[3][3]))
        assert resident.phone == "+8613912345678"
        assert resident.caregivers[0].phone == "+8613712345678"
        edit = session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "resident.edit",
                                                          AuditEntry.entity_id == resident.id))
        assert edit.detail["fields"] == ["caregivers", "phone"] and edit.detail["via"] == "roster"


def test_any_bad_row_means_nothing_is_written_unless_skip_bad(services, world):
    rows = break_rows(roster_rows(40), [3, 17])
    before = _snapshot(services)
    refused = _import(services, as_csv(rows))
    assert refused.refused and not refused.written and refused.bad_rows == [5, 19]  # sheet rows: header is row 1
    assert _snapshot(services) == before
    skipped = _import(services, as_csv(rows), skip_bad=True)
    assert skipped.written and skipped.created["resident"] == 38
    assert _count(services, Resident) == before["Resident"] + 38


def test_dry_run_counts_exactly_and_writes_nothing(services, world):
    rows = roster_rows(30, villages=("新建村",))
    before = _snapshot(services)
    dry = _import(services, as_csv(rows), dry_run=True)
    assert not dry.written and dry.created["village"] == 1 and dry.created["resident"] == 30
    assert _snapshot(services) == before
    assert _count(services, AuditEntry) == 0
    real = _import(services, as_csv(rows))
    assert real.created == dry.created


def test_xlsx_with_numbers_typed_into_cells_imports_like_csv(services, world):
    rows = roster_rows(20)
    result = _import(services, as_xlsx(rows), filename="roster.xlsx")
    assert result.written and result.created["resident"] == 20
    again = _import(services, as_csv(rows))
    assert again.unchanged == 20 and again.updated == {}


def test_village_user_cannot_import_into_another_village(services, world):
    rows = roster_rows(4, villages=("高瓷村",)) + roster_rows(2, villages=("通安村",))
    for n, row in enumerate(rows[4:]):
        row[2], row[3] = f"9{n}", f"外村人{n}"
    before = _snapshot(services)
    result = _import(services, as_csv(rows), actor="village_a")
    assert result.refused and result.bad_rows == [6, 7]
    assert {p.column for p in result.problems} == {"村"} and "高瓷村" in result.problems[0].text()
    assert _snapshot(services) == before
    # and a row naming a village that does not exist is not created by a village user either
    other = roster_rows(2, villages=("别的村",))
    assert _import(services, as_csv(other), actor="village_a").refused


def test_town_user_creates_missing_villages_in_their_town(services, world):
    result = _import(services, as_csv(roster_rows(4, villages=("新建村",))), actor="town")
    assert result.written and result.created["village"] == 1
    with services.session_factory() as session:
        village = session.scalar(sa.select(Village).where(Village.name == "新建村"))
        assert village.town_id == world.town.id


@pytest.mark.parametrize("who", ["head_a", "grid_a", "carer_a"])
def test_other_roles_may_not_import(services, world, who):
    with pytest.raises(PermissionDenied):
        _import(services, as_csv(roster_rows(2)), actor=who)


def test_admin_on_an_empty_database_names_the_town(services):
    rows = roster_rows(4, villages=("万宝村",))
    refused = _import(services, as_csv(rows))
    assert refused.refused and {p.column for p in refused.problems} == {"村"}
    assert _count(services, Town) == 0
    done = _import(services, as_csv(rows), town_name="直升镇")
    assert done.written and done.created["town"] == 1 and done.created["village"] == 1


def test_every_created_row_is_audited_with_one_summary_entry(services, world):
    _import(services, as_csv(roster_rows(6)), actor="town")
    with services.session_factory() as session:
        actions = [a for (a,) in session.execute(sa.select(AuditEntry.action).order_by(AuditEntry.id))]
        summary = session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "roster.import"))
    assert actions.count("resident.create") == 6 and actions.count("household.create") == 3
    assert summary.actor_label == "town" and summary.detail["created"]["resident"] == 6
    assert summary.detail["file"] == "名册.csv"
