"""Generated county rosters for the import tests (SCENARIOS S14): good rows, chosen bad rows, XLSX or CSV bytes."""

from __future__ import annotations

import csv
import io

import openpyxl

from core.people.roster import COLUMNS

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["秀英", "桂兰", "玉兰", "建国", "德明", "凤英", "淑珍", "国华", "永福", "明珍", "大山", "春花"]


def roster_rows(count: int, *, villages: tuple[str, ...] = ("高瓷村", "通安村"), per_household: int = 2,
                per_courtyard: int = 20) -> list[list[str]]:
    """`count` good data rows (no header): two residents per household, 20 households per 小院, caregivers on most."""
    rows = []
    for i in range(count):
        household = i // per_household
        village = villages[(household // per_courtyard) % len(villages)]
        courtyard = f"第{household // per_courtyard + 1}小院"
        name = SURNAMES[household % len(SURNAMES)] + GIVEN[i % len(GIVEN)] + str(i)
        phone = f"138{i:08d}" if i % 3 else f"023-46{i % 100000:06d}"[:-1] + "5"
        carers = [""] * 9
        if i % 4:
            carers[0:3] = [f"家人{i}", f"139{i:08d}", "儿子"]
        if i % 5 == 0:
            carers[3:6] = [f"院长{household // per_courtyard}", f"137{household // per_courtyard:08d}", "院长"]
        rows.append([village, courtyard, str(household + 1), name, phone, str(1930 + i % 30),
                     "是" if i % per_household == 0 and i % 7 == 0 else "否", *carers])
    return rows


def break_rows(rows: list[list[str]], indexes: list[int]) -> list[list[str]]:
    """A copy where the rows at `indexes` are spoiled the two ways S14 names: a 10-digit mobile, a missing 小院."""
    spoiled = [list(r) for r in rows]
    for n, index in enumerate(indexes):
        if n % 2 == 0:
            spoiled[index][4] = "1380000123"  # one digit short
        else:
            spoiled[index][1] = ""
    return spoiled


def as_csv(rows: list[list[str]]) -> bytes:
    """Header + rows as UTF-8 CSV with a BOM, as Excel saves it."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def as_xlsx(rows: list[list[str]]) -> bytes:
    """Header + rows as an .xlsx, with phones and years typed as numbers where they look like numbers (as staff do)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append([int(c) if c.isdigit() and not c.startswith("0") else c for c in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
