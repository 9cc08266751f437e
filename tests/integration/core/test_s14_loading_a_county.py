"""S14 — Loading a county: a 2,000-row roster through `xiaoyuan import roster`, 14 bad rows found by number,
the fixed file imported in one go, a second run changing nothing, a changed phone updating one resident."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from tests.conftest import scratch_pg_database
from tests.processes import free_port
from tests.roster_data import as_csv, as_xlsx, break_rows, roster_rows
from xiaoyuan.cli import _load_command_modules, cli

BAD_INDEXES = [7, 150, 151, 333, 500, 777, 901, 1000, 1234, 1499, 1500, 1776, 1888, 1999]  # 14 rows


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """An empty PostgreSQL database of this test's own (`xiaoyuan db upgrade` builds its schema)."""
    with scratch_pg_database("xiaoyuan_s14") as url:
        yield url


def _cli(tmp_path, database_url: str | None = None):
    _load_command_modules()
    runner = CliRunner()
    env = {"XIAOYUAN_DATA_DIR": str(tmp_path / "var"), "XIAOYUAN_CONFIG": "",
           "XIAOYUAN_WEB_PORT": str(free_port()), "XIAOYUAN_BROKER_PORT": str(free_port())}
    if database_url:
        env["XIAOYUAN_DATABASE_URL"] = database_url

    def invoke(*args):
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    assert invoke("db", "upgrade").exit_code == 0
    return invoke


@pytest.fixture
def run_cli(tmp_path):
    """The CLI on a SQLite file."""
    return _cli(tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def run_cli_any(request, tmp_path):
    """The CLI on SQLite, and on PostgreSQL when configured."""
    return _cli(tmp_path, request.getfixturevalue("fresh_pg_url") if request.param == "postgres" else None)


def _json(result) -> dict:
    return json.loads(result.output)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_s14_loading_a_county(run_cli_any, tmp_path, fmt):
    run_cli = run_cli_any
    good = roster_rows(2000)
    encode = as_csv if fmt == "csv" else as_xlsx
    broken_file = tmp_path / f"名册.{fmt}"
    broken_file.write_bytes(encode(break_rows(good, BAD_INDEXES)))

    dry = run_cli("import", "roster", str(broken_file), "--dry-run", "--town", "直升镇")
    assert dry.exit_code == 1
    listed = sorted({int(n) for n in re.findall(r"^第(\d+)行", dry.output, re.MULTILINE)})
    assert listed == [i + 2 for i in BAD_INDEXES]  # sheet rows: the header is row 1
    assert "手机号应为11位" in dry.output and "小院：必填" in dry.output and "/ Row " in dry.output
    assert _json(run_cli("import", "roster", str(broken_file), "--dry-run", "--town", "直升镇", "--json"))[
        "bad_rows"] == [i + 2 for i in BAD_INDEXES]
    # a real run of the broken file is refused as a whole
    refused = _json(run_cli("import", "roster", str(broken_file), "--town", "直升镇", "--json"))
    assert refused["written"] is False and refused["created"] == {}
    assert json.loads(run_cli("household", "list", "--json").output) == []

    fixed_file = tmp_path / f"名册-改好.{fmt}"
    fixed_file.write_bytes(encode(good))
    first = _json(run_cli("import", "roster", str(fixed_file), "--town", "直升镇", "--json"))
    assert first["written"] and first["bad_rows"] == []
    assert first["created"]["resident"] == 2000 and first["created"]["household"] == 1000
    assert first["created"]["village"] == 2 and first["created"]["courtyard"] == 50
    print(f"\nS14 {fmt}: 2,000-row import took {first['seconds']} s")
    assert len(json.loads(run_cli("household", "list", "--json").output)) == 1000

    second = _json(run_cli("import", "roster", str(fixed_file), "--town", "直升镇", "--json"))
    assert second["created"] == {} and second["updated"] == {} and second["unchanged"] == 2000

    good[42][4] = "13999990042"
    fixed_file.write_bytes(encode(good))
    third = _json(run_cli("import", "roster", str(fixed_file), "--town", "直升镇", "--json"))
    assert third["updated"] == {"resident": 1} and third["unchanged"] == 1999 and third["created"] == {}


def test_import_roster_prints_problems_and_refuses_with_exit_1(run_cli, tmp_path):
    path = tmp_path / "small.csv"
    path.write_bytes(as_csv(break_rows(roster_rows(5), [1])))
    result = run_cli("import", "roster", str(path), "--town", "直升镇")
    assert result.exit_code == 1
    assert "第3行，电话：手机号应为11位" in result.output
    assert "Row 3, 电话: A mobile number has 11 digits" in result.output
    assert "什么也没有写入" in result.output
    skipped = run_cli("import", "roster", str(path), "--town", "直升镇", "--skip-bad")
    assert skipped.exit_code == 0 and "居民4人" in skipped.output


def test_import_roster_as_an_unknown_account_or_a_wrong_file_fails_plainly(run_cli, tmp_path):
    path = tmp_path / "roster.txt"
    path.write_text("村,小院\n")
    result = run_cli("import", "roster", str(path))
    assert result.exit_code == 1 and "只能导入 .xlsx 或 .csv 文件" in result.output
    good = tmp_path / "ok.csv"
    good.write_bytes(as_csv(roster_rows(2)))
    assert run_cli("import", "roster", str(good), "--as", "nobody").exit_code == 1


def test_import_roster_as_a_village_account_stays_in_that_village(run_cli, tmp_path):
    both = tmp_path / "both.csv"
    both.write_bytes(as_csv(roster_rows(80)))  # 高瓷村 and 通安村
    assert run_cli("import", "roster", str(both), "--town", "直升镇").exit_code == 0
    villages = {h["village_id"] for h in json.loads(run_cli("household", "list", "--json").output)}
    first = min(villages)
    assert run_cli("user", "create", "--username", "cun", "--password", "correct-horse-9", "--role", "village",
                   "--town-id", "1", "--village-id", str(first)).exit_code == 0
    changed = roster_rows(80)
    for row in changed:
        row[4] = "13911112222"
    both.write_bytes(as_csv(changed))
    refused = _json(run_cli("import", "roster", str(both), "--as", "cun", "--json"))
    assert refused["written"] is False and len(refused["bad_rows"]) == 40
    assert {p["column"] for p in refused["problems"]} == {"村"}
    assert all("只能导入本村（高瓷村）" in p["message"] for p in refused["problems"])
    own = _json(run_cli("import", "roster", str(both), "--as", "cun", "--skip-bad", "--json"))
    assert own["written"] and own["updated"] == {"resident": 40}
