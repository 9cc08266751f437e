"""Staff schedule reminders from the console and the CLI: a 院长's meeting notice reaches her 小院's TV home on
the day; nobody schedules for residents outside their scope; the CLI adds and lists them as JSON."""

from __future__ import annotations

import json

import sqlalchemy as sa
from click.testing import CliRunner

from core.models.audit import AuditEntry
from core.models.ops import Reminder
from core.requests.reminders import reminders_for_household_today
from tests.factories import PASSWORD
from tests.integration.console.conftest import csrf_token, post_form
from xiaoyuan.cli import _load_command_modules, cli

TODAY = "2026-11-26"  # the fake clock starts at 09:00 local time on this day


def sign_in(client, username: str) -> None:
    """Sign in through the console's login form, CSRF token and all."""
    token = csrf_token(client, "/console/login")
    response = client.post("/console/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)


def _reminders(services) -> list[Reminder]:
    with services.session_factory() as s:
        return list(s.scalars(sa.select(Reminder).order_by(Reminder.id)))


def test_a_courtyard_head_schedules_a_meeting_that_shows_on_her_courtyards_tv_home_today(app, client, services,
                                                                                         world, clock):
    sign_in(client, "head_a")
    form = client.get("/console/reminders/new").get_data(as_text=True)
    assert f'value="courtyard:{world.courtyards[0].id}"' in form
    assert f'value="courtyard:{world.courtyards[1].id}"' not in form  # not her 小院
    response = post_form(client, "/console/reminders/new", {
        "target": f"courtyard:{world.courtyards[0].id}", "kind": "meeting", "date": TODAY, "time": "15:00",
        "text": "下午3点在椒香小院开云坝会"})
    assert response.status_code == 302 and response.headers["Location"] == "/console/reminders"
    (reminder,) = _reminders(services)
    assert (reminder.courtyard_id, reminder.resident_id, reminder.always_call) == (world.courtyards[0].id, None,
                                                                                   False)
    with services.session_factory() as s:
        (item,) = reminders_for_household_today(s, world.households[0].id, clock.now())
        assert (item.kind_label, item.text, item.time) == ("会议", "下午3点在椒香小院开云坝会", "15:00")  # local time
        assert reminders_for_household_today(s, world.households[3].id, clock.now()) == []  # the other 小院
        audit = s.scalar(sa.select(AuditEntry).where(AuditEntry.entity_type == "reminder"))
        assert (audit.action, audit.entity_id, audit.actor_label) == ("reminder.create", reminder.id, "head_a")
    listing = client.get("/console/reminders").get_data(as_text=True)
    assert f'data-reminder-id="{reminder.id}"' in listing and "11-26 15:00" in listing and "椒香小院" in listing
    other = app.test_client()
    sign_in(other, "head_b")
    assert f'data-reminder-id="{reminder.id}"' not in other.get("/console/reminders").get_data(as_text=True)


def test_a_head_of_another_courtyard_gets_404_for_a_resident_not_hers(client, services, world):
    sign_in(client, "head_b")
    form = client.get("/console/reminders/new").get_data(as_text=True)
    assert f'value="resident:{world.residents[0].id}"' not in form
    response = post_form(client, "/console/reminders/new", {
        "target": f"resident:{world.residents[0].id}", "kind": "medication", "date": TODAY, "time": "19:00",
        "text": "晚饭后吃降压药"})
    assert response.status_code == 404
    response = post_form(client, "/console/reminders/new", {
        "target": f"courtyard:{world.courtyards[0].id}", "kind": "meeting", "date": TODAY, "time": "19:00",
        "text": "开会"})
    assert response.status_code == 404
    assert _reminders(services) == []


def test_a_past_time_or_a_bad_date_is_refused_with_the_form_kept(client, services, world):
    sign_in(client, "head_a")
    target = f"resident:{world.residents[0].id}"
    past = post_form(client, "/console/reminders/new", {"target": target, "kind": "medication", "date": TODAY,
                                                        "time": "08:00", "text": "吃药"})
    assert past.status_code == 422 and "提醒时间已经过去了" in past.get_data(as_text=True)
    bad = post_form(client, "/console/reminders/new", {"target": target, "kind": "medication", "date": "26/11",
                                                       "time": "20:00", "text": "吃药"})
    assert bad.status_code == 422 and "吃药" in bad.get_data(as_text=True)
    assert _reminders(services) == []


def test_cli_adds_reminders_and_lists_them_as_json(db_url, tmp_path, services, world):
    _load_command_modules()
    env = {"XIAOYUAN_DATA_DIR": str(tmp_path / "cli-var"), "XIAOYUAN_CONFIG": "", "XIAOYUAN_DATABASE_URL": db_url}
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(cli, ["reminder", *args], env=env, catch_exceptions=False)

    meeting = run("add", "--courtyard", str(world.courtyards[1].id), "--kind", "meeting",
                  "--at", "2099-12-05 09:00", "--text", "周六上午开云坝会")
    assert meeting.exit_code == 0, meeting.output
    pills = run("add", "--resident", str(world.residents[0].id), "--kind", "medication",
                "--at", "2099-12-04 19:00", "--text", "晚饭后吃降压药", "--call")
    assert pills.exit_code == 0, pills.output
    assert run("add", "--kind", "other", "--at", "2099-12-04 19:00", "--text", "x").exit_code != 0
    assert run("add", "--resident", "1", "--kind", "other", "--at", "tomorrow", "--text", "x").exit_code != 0
    rows = json.loads(run("list", "--json").output)
    assert [(r["kind"], r["courtyard_id"], r["resident_id"], r["at"]) for r in rows] == [
        ("medication", None, world.residents[0].id, "2099-12-04T19:00:00+08:00"),
        ("meeting", world.courtyards[1].id, None, "2099-12-05T09:00:00+08:00"),
    ]
    assert all(isinstance(r["id"], int) for r in rows) and rows[0]["always_call"] is True
    assert [r.id for r in _reminders(services)] == sorted(r["id"] for r in rows)
