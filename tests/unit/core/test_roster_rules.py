"""Roster import rules (M21) as pure functions: header, cells, phones, 是/否, caregivers, duplicates, file formats."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from core.people import roster
from core.people.roster import COLUMNS, RosterFileError, check_roster, parse_entry, read_table

GOOD = ["高瓷村", "椒香小院", "12", "王秀英", "138 0000 1234", "1944", "是",
        "王小明", "13900001111", "儿子", "李院长", "023-4671 2345", "院长", "", "", ""]


def _row(**changes: str) -> list[str]:
    cells = dict(zip(COLUMNS, GOOD, strict=True))
    cells.update(changes)
    return [cells[c] for c in COLUMNS]


def _problems(**changes: str) -> list[tuple[str, str]]:
    entry, problems = parse_entry(7, _row(**changes), this_year=2026)
    assert (entry is None) == bool(problems)
    return [(p.column, p.text()) for p in problems]


def test_the_columns_are_exactly_the_documented_header():
    assert ",".join(COLUMNS) == ("村,小院,户号,姓名,电话,出生年,独居,照护人1,照护人1电话,照护人1关系,"
                                 "照护人2,照护人2电话,照护人2关系,照护人3,照护人3电话,照护人3关系")


def test_a_good_row_becomes_an_entry_with_e164_phones_and_a_caregiver_chain():
    entry, problems = parse_entry(2, GOOD, this_year=2026)
    assert problems == []
    assert entry.key == ("高瓷村", "12", "王秀英")
    assert entry.phone == "+8613800001234" and entry.birth_year == 1944 and entry.lives_alone is True
    assert [(c.name, c.phone, c.kind) for c in entry.caregivers] == [
        ("王小明", "+8613900001111", "family"), ("李院长", "+862346712345", "courtyard_head")]


@pytest.mark.parametrize(("changes", "column", "words"), [
    ({"电话": "1380000123"}, "电话", "手机号应为11位"),  # a 10-digit mobile (SCENARIOS S14)
    ({"电话": "4671 2345"}, "电话", "区号"),  # a landline without its area code
    ({"小院": ""}, "小院", "必填"),  # a missing 小院 (S14)
    ({"村": ""}, "村", "必填"),
    ({"户号": ""}, "户号", "必填"),
    ({"姓名": ""}, "姓名", "必填"),
    ({"出生年": "44"}, "出生年", "1900"),
    ({"出生年": "2031"}, "出生年", "1900"),
    ({"独居": "Y"}, "独居", "是"),
    ({"照护人1": ""}, "照护人1", "没有照护人姓名"),
    ({"照护人2电话": ""}, "照护人2电话", "需要电话"),
    ({"照护人1电话": "1390000111"}, "照护人1电话", "11位"),
    ({"户号": "1" * 21}, "户号", "太长"),
])
def test_each_bad_cell_is_named_by_its_column(changes, column, words):
    found = _problems(**changes)
    assert [c for c, _ in found] == [column]
    assert words in found[0][1] and found[0][1].startswith("第7行，" + column)


def test_problems_are_bilingual_through_the_catalogue():
    entry, problems = parse_entry(7, _row(电话="1380000123"), this_year=2026)
    english = problems[0].text("en")
    assert "7" in english and "电话" in english and "11 digits" in english


def test_blank_lives_alone_means_no_and_excel_floats_lose_their_point_zero():
    entry, _ = parse_entry(2, _row(独居=""), this_year=2026)
    assert entry.lives_alone is False
    assert roster.cell_text(13800001234.0) == "13800001234" and roster.cell_text(1944.0) == "1944"
    assert roster.cell_text(None) == "" and roster.cell_text("\u3000王 \xa0") == "王"


def test_wrong_or_reordered_header_refuses_the_whole_file():
    swapped = list(COLUMNS)
    swapped[3], swapped[4] = swapped[4], swapped[3]
    with pytest.raises(RosterFileError) as exc:
        check_roster([swapped, GOOD], this_year=2026)
    assert "第4列" in exc.value.text() and "姓名" in exc.value.text()
    with pytest.raises(RosterFileError):
        check_roster([], this_year=2026)
    with pytest.raises(RosterFileError):
        check_roster([list(COLUMNS) + ["备注"], GOOD], this_year=2026)


def test_row_numbers_are_the_sheets_own_and_blank_rows_are_skipped():
    table = [list(COLUMNS), GOOD, [""] * 16, _row(姓名="李四", 电话="12"), _row(姓名="王五")]
    checked = check_roster(table, this_year=2026)
    assert checked.rows == 3
    assert checked.bad_rows == [4]
    assert [e.row for e in checked.entries] == [2, 5]


def test_the_same_person_twice_and_a_household_in_two_courtyards_are_problems():
    table = [list(COLUMNS), GOOD, _row(电话="13800009999"), _row(姓名="王五", 小院="荷花小院")]
    checked = check_roster(table, this_year=2026)
    assert [(p.row, p.column) for p in checked.problems] == [(3, "姓名"), (4, "小院")]
    assert "第2行" in checked.problems[0].text()


def test_csv_in_utf8_with_bom_or_gb18030_and_xlsx_read_the_same():
    rows = [list(COLUMNS), GOOD]
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows)
    assert read_table(out.getvalue().encode("utf-8-sig"), "名册.csv") == rows
    assert read_table(out.getvalue().encode("gb18030"), "名册.CSV") == rows
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(COLUMNS))
    sheet.append(GOOD[:4] + [13800001234, 1944] + GOOD[6:])  # numbers typed into Excel cells
    data = io.BytesIO()
    book.save(data)
    assert read_table(data.getvalue(), "roster.xlsx") == [list(COLUMNS), _row(电话="13800001234")]


def test_other_formats_and_broken_files_are_refused_plainly():
    with pytest.raises(RosterFileError):
        read_table(b"whatever", "roster.xls")
    with pytest.raises(RosterFileError):
        read_table(b"not a zip", "roster.xlsx")


def test_templates_carry_exactly_the_header():
    assert read_table(roster.template_csv(), "t.csv") == [list(COLUMNS)]
    assert read_table(roster.template_xlsx(), "t.xlsx")[0] == list(COLUMNS)
