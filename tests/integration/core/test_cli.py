"""The operator's CLI: db upgrade, demo, request submit/list, household/outbox list, check, user create."""

import json
import os
import socket

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from tests.processes import free_port
from xiaoyuan.cli import _load_command_modules, cli


@pytest.fixture
def run_cli(tmp_path):
    _load_command_modules()
    runner = CliRunner()
    # Free ports: `check` reports busy ones (and a system Mosquitto holds 1883 here).
    env = {"XIAOYUAN_DATA_DIR": str(tmp_path / "var"), "XIAOYUAN_CONFIG": "",
           "XIAOYUAN_WEB_PORT": str(free_port()), "XIAOYUAN_BROKER_PORT": str(free_port())}

    def invoke(*args, extra_env=None, input=None):
        return runner.invoke(cli, list(args), env={**env, **(extra_env or {})}, input=input, catch_exceptions=False)

    return invoke


def test_fresh_install_upgrade_demo_and_list(run_cli):
    """db upgrade + demo seed a village; list commands print JSON arrays with ids and foreign keys."""
    assert run_cli("db", "upgrade").exit_code == 0
    result = run_cli("demo")
    assert result.exit_code == 0 and "households" in result.output
    again = run_cli("demo")
    assert "跳过" in again.output  # a second run never duplicates the village
    households = json.loads(run_cli("household", "list", "--json").output)
    assert len(households) == 40 and {"id", "courtyard_id", "village_id"} <= households[0].keys()
    requests = json.loads(run_cli("request", "list", "--json").output)
    assert {r["status"] for r in requests} >= {"new", "assigned", "in_progress", "resolved", "evaluated", "closed"}
    outbox = json.loads(run_cli("outbox", "list", "--json").output)
    assert outbox and {"id", "channel", "status", "recipient_user_id"} <= outbox[0].keys()


def test_request_submit_prints_the_id(run_cli):
    """`xiaoyuan request submit` creates a request for a resident and prints its id."""
    run_cli("db", "upgrade")
    run_cli("demo")
    result = run_cli("request", "submit", "--resident", "1", "--type", "environment", "--text", "垃圾箱满了")
    assert result.exit_code == 0
    new_id = int(result.output.strip())
    listed = json.loads(run_cli("request", "list", "--json").output)
    mine = next(r for r in listed if r["id"] == new_id)
    assert mine["type"] == "environment" and mine["resident_id"] == 1 and mine["status"] == "assigned"


def test_request_submit_with_unknown_type_is_a_clear_error(run_cli):
    """A typo in the type is refused with a message, not a traceback."""
    run_cli("db", "upgrade")
    run_cli("demo")
    result = run_cli("request", "submit", "--resident", "1", "--type", "garbage", "--text", "x")
    assert result.exit_code != 0 and "未知的工单类型：garbage / Unknown request type: garbage" in result.output


def test_user_create_scopes_a_courtyard_head(run_cli):
    """A 院长 created from the CLI becomes the head of their 小院."""
    run_cli("db", "upgrade")
    run_cli("demo")
    result = run_cli("user", "create", "--username", "newhead", "--role", "courtyard_head",
                     "--courtyard-id", "2", "--password", "long-enough-1")
    assert result.exit_code == 0, result.output
    listed = json.loads(run_cli("request", "list", "--json").output)
    assert listed  # the demo's requests are all visible to the operator
    bad = run_cli("user", "create", "--username", "nohead", "--role", "courtyard_head",
                  "--courtyard-id", "999", "--password", "long-enough-1")
    assert bad.exit_code != 0 and "Traceback" not in bad.output


def test_check_passes_on_defaults_with_warnings_and_fails_on_half_twilio(run_cli):
    """`check` exits 0 on embedded defaults (warning about dry-run) and 1 naming what Twilio still needs."""
    run_cli("db", "upgrade")
    ok = run_cli("check")
    assert ok.exit_code == 0 and "dry-run" in ok.output
    bad = run_cli("check", extra_env={"XIAOYUAN_TELEPHONY_PROVIDER": "twilio",
                                      "XIAOYUAN_TWILIO_ACCOUNT_SID": "ACxxx"})
    assert bad.exit_code == 1
    assert "XIAOYUAN_TWILIO_AUTH_TOKEN" in bad.output and "XIAOYUAN_PUBLIC_BASE_URL" in bad.output
    assert "XIAOYUAN_TWILIO_ACCOUNT_SID" not in bad.output


def test_check_reports_a_missing_vosk_model_path(run_cli, tmp_path):
    """A configured model path that does not exist is an error in plain words."""
    run_cli("db", "upgrade")
    result = run_cli("check", extra_env={"XIAOYUAN_VOSK_MODEL": str(tmp_path / "no-model")})
    assert result.exit_code == 1 and "XIAOYUAN_VOSK_MODEL" in result.output


def test_unreachable_database_is_reported_not_raised(run_cli):
    """A wrong database URL gives a plain error line and exit 1."""
    result = run_cli("check", extra_env={"XIAOYUAN_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert result.exit_code == 1 and "cannot reach the database server 127.0.0.1:1" in result.output
    assert "Traceback" not in result.output


def test_check_names_a_misspelled_key_in_the_config_file(run_cli, tmp_path):
    """`[tv] home_tiels = 5` in the operator's file: exit 1 naming the file and tv.home_tiels."""
    site = tmp_path / "site.toml"
    site.write_text("[tv]\nhome_tiels = 5\n", encoding="utf-8")
    result = run_cli("check", extra_env={"XIAOYUAN_CONFIG": str(site)})
    assert result.exit_code == 1
    assert "tv.home_tiels" in result.output and str(site) in result.output and "Traceback" not in result.output


def test_check_refuses_a_port_out_of_range(run_cli):
    """XIAOYUAN_WEB_PORT=99999: exit 1 naming the variable."""
    result = run_cli("check", extra_env={"XIAOYUAN_WEB_PORT": "99999"})
    assert result.exit_code == 1 and "XIAOYUAN_WEB_PORT" in result.output and "web.port" in result.output


def test_check_names_a_variable_that_matches_no_setting(run_cli):
    """A misspelled XIAOYUAN_* variable is an error, not silently ignored."""
    result = run_cli("check", extra_env={"XIAOYUAN_WEB_PROT": "8080"})
    assert result.exit_code == 1 and "XIAOYUAN_WEB_PROT" in result.output


def test_check_reports_a_busy_web_port(run_cli):
    """Something already listens on the web port: check says so and exits 1 (run would fail to start)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        result = run_cli("check", extra_env={"XIAOYUAN_WEB_PORT": str(port)})
    assert result.exit_code == 1 and f"port {port} is busy (XIAOYUAN_WEB_PORT)" in result.output


def _pg_base() -> sa.engine.URL:
    base = os.environ.get("XIAOYUAN_TEST_DATABASE_URL")
    if not base:
        pytest.skip("PostgreSQL tests skipped: set XIAOYUAN_TEST_DATABASE_URL (CI does)")
    return sa.engine.make_url(base)


@pytest.mark.postgres
def test_check_says_the_database_is_missing(run_cli):
    """A server that answers but has no such database: the plain cause, naming the database."""
    url = _pg_base().set(database="xiaoyuan_no_such_db").render_as_string(hide_password=False)
    result = run_cli("check", extra_env={"XIAOYUAN_DATABASE_URL": url})
    assert result.exit_code == 1 and "database xiaoyuan_no_such_db does not exist" in result.output


@pytest.mark.postgres
def test_check_says_the_login_was_refused(run_cli):
    """A user the server does not know: authentication failed, not a driver class name."""
    url = _pg_base().set(username="xiaoyuan_no_such_role").render_as_string(hide_password=False)
    result = run_cli("check", extra_env={"XIAOYUAN_DATABASE_URL": url})
    assert result.exit_code == 1 and "the database refused the login" in result.output


def test_every_command_stops_on_a_configuration_error(run_cli, tmp_path):
    """Not only `check`: any command (and so every process role) refuses to start on an unknown variable."""
    result = run_cli("db", "upgrade", extra_env={"XIAOYUAN_TV_HOME_TIELS": "5"})
    assert result.exit_code == 1 and "XIAOYUAN_TV_HOME_TIELS" in result.output
    assert not (tmp_path / "var" / "xiaoyuan.db").exists()


def test_village_duty_phone_is_set_listed_and_seeded_by_the_demo(run_cli):
    """The demo gives each village a duty phone; `village set-duty-phone` normalises, changes and clears it."""
    run_cli("db", "upgrade")
    run_cli("demo")
    villages = json.loads(run_cli("village", "list", "--json").output)
    assert len(villages) == 2 and all(v["duty_phone"] and v["duty_phone"].startswith("+86") for v in villages)
    first = villages[0]["id"]
    assert run_cli("village", "set-duty-phone", str(first), "023-4671 2345").output.strip() == "+862346712345"
    assert json.loads(run_cli("village", "list", "--json").output)[0]["duty_phone"] == "+862346712345"
    bad = run_cli("village", "set-duty-phone", str(first), "12")
    assert bad.exit_code != 0 and "Traceback" not in bad.output
    assert run_cli("village", "set-duty-phone", str(first)).output.strip() == "-"
    assert json.loads(run_cli("village", "list", "--json").output)[0]["duty_phone"] is None
