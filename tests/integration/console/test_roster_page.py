"""Console 导入名册: template downloads, check then import, problems by row and column, scope, roles, CSRF."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from core.models.places import Resident
from core.people.roster import COLUMNS, read_table
from tests.integration.console.conftest import csrf_token, login_as
from tests.roster_data import as_csv, as_xlsx, break_rows, roster_rows


def _upload(web, data: bytes, filename: str, action: str, **form):
    payload = {"csrf_token": csrf_token(web, "/console/roster"), "action": action,
               "file": (io.BytesIO(data), filename), **form}
    return web.post("/console/roster", data=payload, content_type="multipart/form-data")


def _residents(services) -> int:
    with services.session_factory() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Resident))


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_templates_download_with_exactly_the_header(web, world, kind):
    login_as(web, world.users["village_a"])
    r = web.get(f"/console/roster/template.{kind}")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    assert read_table(r.data, f"t.{kind}") == [list(COLUMNS)]


def test_page_lists_the_columns_and_links_the_templates(web, world):
    login_as(web, world.users["town"])
    html = web.get("/console/roster").get_data(as_text=True)
    assert ",".join(COLUMNS) in html
    assert "/console/roster/template.xlsx" in html and "/console/roster/template.csv" in html
    assert "/console/roster" in web.get("/console/households").get_data(as_text=True)


def test_check_lists_bad_rows_then_import_writes_everything(web, world, services):
    login_as(web, world.users["village_a"])
    rows = roster_rows(30, villages=("高瓷村",))
    before = _residents(services)
    checked = _upload(web, as_xlsx(break_rows(rows, [4, 9])), "名册.xlsx", "check")
    html = checked.get_data(as_text=True)
    assert checked.status_code == 200
    assert "<td>6</td><td>电话</td>" in html and "<td>11</td><td>小院</td>" in html
    assert _residents(services) == before
    refused = _upload(web, as_xlsx(break_rows(rows, [4, 9])), "名册.xlsx", "import")
    assert refused.status_code == 422 and _residents(services) == before
    done = _upload(web, as_csv(rows), "名册.csv", "import")
    assert done.status_code == 200 and "居民30人" in done.get_data(as_text=True)
    assert _residents(services) == before + 30
    again = _upload(web, as_csv(rows), "名册.csv", "import")
    assert "不变30人" in again.get_data(as_text=True) and _residents(services) == before + 30
    with services.session_factory() as session:
        household_id = session.scalar(sa.select(Resident.household_id).where(Resident.name == rows[0][3]))
    page = web.get(f"/console/households/{household_id}").get_data(as_text=True)
    assert f"<th>户号</th><td>{rows[0][2]}</td>" in page


def test_skip_bad_imports_the_good_rows(web, world, services):
    login_as(web, world.users["village_a"])
    before = _residents(services)
    r = _upload(web, as_csv(break_rows(roster_rows(10, villages=("高瓷村",)), [0])), "r.csv", "import", skip_bad="on")
    assert r.status_code == 200 and _residents(services) == before + 9


def test_a_village_user_cannot_import_another_village_from_the_page(web, world, services):
    login_as(web, world.users["village_a"])
    before = _residents(services)
    r = _upload(web, as_csv(roster_rows(4, villages=("通安村",))), "r.csv", "import")
    assert r.status_code == 422 and "只能导入本村" in r.get_data(as_text=True)
    assert _residents(services) == before


def test_problems_are_shown_in_english_for_an_english_reader(web, world):
    login_as(web, world.users["village_a"])
    web.set_cookie("lang", "en")
    r = _upload(web, as_csv(break_rows(roster_rows(3, villages=("高瓷村",)), [0])), "r.csv", "check")
    html = r.get_data(as_text=True)
    assert "<td>2</td><td>电话</td><td>A mobile number has 11 digits" in html
    assert "Dry run, nothing written" not in html  # refused: the rows must be fixed first
    assert "Nothing was written because some rows have problems" in html


def test_wrong_file_type_is_a_plain_error(web, world):
    login_as(web, world.users["admin"])
    r = _upload(web, b"hello", "roster.xls", "check")
    assert r.status_code == 422 and "只能导入 .xlsx 或 .csv 文件" in r.get_data(as_text=True)


@pytest.mark.parametrize("who", ["head_a", "grid_a", "carer_a"])
def test_other_roles_get_403(web, world, who):
    login_as(web, world.users[who])
    assert web.get("/console/roster").status_code == 403
    assert web.get("/console/roster/template.csv").status_code == 403


def test_upload_without_csrf_token_is_refused(web, world, services):
    login_as(web, world.users["admin"])
    before = _residents(services)
    r = web.post("/console/roster", data={"action": "import", "file": (io.BytesIO(as_csv(roster_rows(2))), "r.csv")},
                 content_type="multipart/form-data")
    assert r.status_code == 400 and _residents(services) == before


def test_household_form_takes_a_number_that_a_roster_then_matches(web, world, services):
    from tests.integration.console.conftest import post_form

    login_as(web, world.users["village_a"])
    r = post_form(web, "/console/households", {"courtyard_id": world.courtyards[0].id, "name": "赵家", "number": "88"})
    assert r.status_code == 302
    refused = post_form(web, "/console/households", {"courtyard_id": world.courtyards[0].id, "name": "钱家",
                                                     "number": "88"}, follow_redirects=True)
    assert "这个村已经有户号88了" in refused.get_data(as_text=True)
    row = roster_rows(1, villages=("高瓷村",))[0]
    row[1], row[2] = world.courtyards[0].name, "88"
    done = _upload(web, as_csv([row]), "r.csv", "import")
    assert "户0户" in done.get_data(as_text=True)  # the roster's 户号 88 is the household made by hand
