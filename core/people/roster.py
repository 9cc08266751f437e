"""Roster import (M21): a county's XLSX/CSV roster read, checked row by row, and loaded in one audited transaction.

The file has one row per resident under a Chinese header (`COLUMNS`, in that order). Reading and
checking are pure functions; `import_roster` resolves places within the importing user's scope and
writes everything or nothing (or only the good rows with `skip_bad`). A resident's stable key is
village + 户号 + 姓名, so importing the same file again changes nothing and a changed phone updates it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from core.errors import InvalidInput, PermissionDenied
from core.i18n import DEFAULT_LOCALE, translate
from core.models.places import CaregiverLink, Courtyard, Household, Resident, Town, Village
from core.people import access
from core.people import texts as t
from core.people.audit import record_audit
from core.phones import InvalidPhone, normalise_phone_strict

CAREGIVER_SLOTS = 3
COLUMNS: tuple[str, ...] = ("村", "小院", "户号", "姓名", "电话", "出生年", "独居") + tuple(
    f"照护人{n}{part}" for n in range(1, CAREGIVER_SLOTS + 1) for part in ("", "电话", "关系"))
MAX_ROWS = 20000
IMPORT_ROLES = ("admin", "town", "village")
# Relation words in a 照护人关系 cell that name a staff role rather than family.
RELATION_KINDS = {"院长": "courtyard_head", "村医": "doctor", "医生": "doctor", "网格员": "grid_worker"}
LIMITS = {"村": 80, "小院": 80, "户号": 20, "姓名": 80}
RELATION_LIMIT = 40
YES, NO = "是", "否"


class RosterFileError(InvalidInput):
    """The file as a whole cannot be read as a roster (format, header, size)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one row: its row number in the sheet (the header is row 1), the column, and why."""

    row: int
    column: str
    message: str
    params: dict[str, Any] = field(default_factory=dict, hash=False)

    def text(self, locale: str = DEFAULT_LOCALE) -> str:
        """"第12行，电话：手机号应为11位：***3800" in `locale`."""
        return translate(t.PROBLEM_LINE, locale, row=self.row, column=self.column,
                         problem=translate(self.message, locale, **self.params))


@dataclass(frozen=True)
class CaregiverEntry:
    """One 照护人 of a row, in chain order."""

    name: str
    phone: str
    relation: str

    @property
    def kind(self) -> str:
        """family, or the staff role the relation names (院长, 村医, 网格员)."""
        return RELATION_KINDS.get(self.relation, "family")


@dataclass(frozen=True)
class RosterEntry:
    """One checked row: a resident, their household and place, and their caregivers."""

    row: int
    village: str
    courtyard: str
    household_no: str
    name: str
    phone: str | None
    birth_year: int | None
    lives_alone: bool
    caregivers: tuple[CaregiverEntry, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        """The stable key a re-import matches on: village, 户号, name."""
        return (self.village, self.household_no, self.name)


@dataclass
class RosterCheck:
    """What reading a roster gave: the good entries, the problems, and how many data rows there were."""

    entries: list[RosterEntry]
    problems: list[Problem]
    rows: int

    @property
    def bad_rows(self) -> list[int]:
        """The row numbers with at least one problem, in order."""
        return sorted({p.row for p in self.problems})


# --- reading ---------------------------------------------------------------------------------------

def cell_text(value: object) -> str:
    """A cell as text: numbers Excel stored as floats lose their ".0", every kind of space is trimmed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace("\u3000", " ").replace("\xa0", " ").strip()


def _read_csv(data: bytes) -> list[list[str]]:
    # Excel on a Chinese Windows saves "CSV" in GB18030; everything else (and the template) is UTF-8.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise RosterFileError(t.UNREADABLE_FILE)
    try:
        return [[cell_text(c) for c in row] for row in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as exc:
        raise RosterFileError(t.UNREADABLE_FILE) from exc


def _read_xlsx(data: bytes) -> list[list[str]]:
    import openpyxl  # only this path needs it
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise RosterFileError(t.UNREADABLE_FILE) from exc
    try:
        rows: list[list[str]] = []
        filled = 0
        for row in book.worksheets[0].iter_rows(values_only=True):
            cells = [cell_text(c) for c in row]
            filled += any(cells)
            rows.append(cells if any(cells) else [])  # blank rows keep the numbering, not the memory
            if filled > MAX_ROWS + 1:
                break  # check_roster reports the size; reading on would only use memory
        return rows
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
        raise RosterFileError(t.UNREADABLE_FILE) from exc
    finally:
        book.close()


def read_table(data: bytes, filename: str) -> list[list[str]]:
    """The rows of the first sheet of an .xlsx, or of a .csv, as text cells (header included)."""
    suffix = PurePath(filename or "").suffix.lower()
    if suffix == ".xlsx":
        return _read_xlsx(data)
    if suffix == ".csv":
        return _read_csv(data)
    raise RosterFileError(t.UNSUPPORTED_FILE)


def check_header(header: Sequence[str]) -> None:
    """The header must be exactly `COLUMNS` in order (blank cells after them are ignored)."""
    cells = list(header) + [""] * max(0, len(COLUMNS) - len(header))
    for index, expected in enumerate(COLUMNS):
        if cells[index] != expected:
            raise RosterFileError(t.BAD_HEADER, index=index + 1, expected=expected, found=cells[index])
    extra = [c for c in cells[len(COLUMNS):] if c]
    if extra:
        raise RosterFileError(t.BAD_HEADER, index=len(COLUMNS) + 1, expected="", found=extra[0])


# --- checking --------------------------------------------------------------------------------------

def _required(row: int, column: str, value: str, problems: list[Problem]) -> str:
    if not value:
        problems.append(Problem(row, column, t.REQUIRED))
    elif column in LIMITS and len(value) > LIMITS[column]:
        problems.append(Problem(row, column, t.TOO_LONG, {"limit": LIMITS[column]}))
    return value


def _phone(row: int, column: str, value: str, problems: list[Problem]) -> str | None:
    try:
        return normalise_phone_strict(value)
    except InvalidPhone as exc:
        problems.append(Problem(row, column, exc.message, dict(exc.params)))
        return None


def _birth_year(row: int, value: str, this_year: int, problems: list[Problem]) -> int | None:
    if not value:
        return None
    if not (value.isdigit() and 1900 <= int(value) <= this_year):
        problems.append(Problem(row, "出生年", t.BIRTH_YEAR, {"year": this_year}))
        return None
    return int(value)


def _lives_alone(row: int, value: str, problems: list[Problem]) -> bool:
    if value not in (YES, NO, ""):
        problems.append(Problem(row, "独居", t.YES_NO))
    return value == YES


def _caregivers(row: int, cells: dict[str, str], problems: list[Problem]) -> tuple[CaregiverEntry, ...]:
    found = []
    for n in range(1, CAREGIVER_SLOTS + 1):
        name_col, phone_col, relation_col = f"照护人{n}", f"照护人{n}电话", f"照护人{n}关系"
        name, raw_phone, relation = cells[name_col], cells[phone_col], cells[relation_col]
        if not (name or raw_phone or relation):
            continue
        if not name:
            problems.append(Problem(row, name_col, t.CAREGIVER_NAME_MISSING))
            continue
        if len(name) > LIMITS["姓名"]:
            problems.append(Problem(row, name_col, t.TOO_LONG, {"limit": LIMITS["姓名"]}))
        if len(relation) > RELATION_LIMIT:
            problems.append(Problem(row, relation_col, t.TOO_LONG, {"limit": RELATION_LIMIT}))
        if not raw_phone:
            problems.append(Problem(row, phone_col, t.CAREGIVER_PHONE_MISSING))
            continue
        phone = _phone(row, phone_col, raw_phone, problems)
        if phone is not None:
            found.append(CaregiverEntry(name=name, phone=phone, relation=relation))
    return tuple(found)


def parse_entry(row: int, values: Sequence[str], *, this_year: int) -> tuple[RosterEntry | None, list[Problem]]:
    """Check one data row (its sheet row number and cells): the entry, or None and every problem found."""
    cells = dict(zip(COLUMNS, list(values) + [""] * max(0, len(COLUMNS) - len(values)), strict=False))
    problems: list[Problem] = []
    village = _required(row, "村", cells["村"], problems)
    courtyard = _required(row, "小院", cells["小院"], problems)
    household_no = _required(row, "户号", cells["户号"], problems)
    name = _required(row, "姓名", cells["姓名"], problems)
    phone = _phone(row, "电话", cells["电话"], problems)
    birth_year = _birth_year(row, cells["出生年"], this_year, problems)
    lives_alone = _lives_alone(row, cells["独居"], problems)
    chain = _caregivers(row, cells, problems)
    if problems:
        return None, problems
    return RosterEntry(row=row, village=village, courtyard=courtyard, household_no=household_no, name=name,
                       phone=phone, birth_year=birth_year, lives_alone=lives_alone, caregivers=chain), []


def check_roster(table: Sequence[Sequence[str]], *, this_year: int) -> RosterCheck:
    """Check every row of a table (header first); rows that repeat a person or split a household are problems too.

    Blank rows are skipped (spreadsheets keep formatted empty rows at the end); row numbers are the
    sheet's own, so a problem "第12行" is row 12 in Excel.
    """
    if not table:
        raise RosterFileError(t.EMPTY_FILE)
    check_header(table[0])
    data_rows = [(number, cells) for number, cells in enumerate(table[1:], start=2) if any(cells)]
    if len(data_rows) > MAX_ROWS:
        raise RosterFileError(t.TOO_MANY_ROWS, limit=MAX_ROWS, rows=len(data_rows))
    entries: list[RosterEntry] = []
    problems: list[Problem] = []
    first_row_of: dict[tuple[str, str, str], int] = {}
    household_courtyard: dict[tuple[str, str], tuple[int, str]] = {}
    for number, cells in data_rows:
        entry, found = parse_entry(number, cells, this_year=this_year)
        if entry is not None:
            earlier = first_row_of.setdefault(entry.key, number)
            if earlier != number:
                found.append(Problem(number, "姓名", t.DUPLICATE_ROW, {"row": earlier}))
            first_place = household_courtyard.setdefault((entry.village, entry.household_no),
                                                         (number, entry.courtyard))
            if first_place[1] != entry.courtyard:
                found.append(Problem(number, "小院", t.HOUSEHOLD_TWO_COURTYARDS,
                                     {"row": first_place[0], "courtyard": first_place[1]}))
        if found:
            problems.extend(found)
        elif entry is not None:
            entries.append(entry)
    return RosterCheck(entries=entries, problems=problems, rows=len(data_rows))


# --- loading ---------------------------------------------------------------------------------------

@dataclass
class RosterResult:
    """What an import did (or, on a dry run or when refused, would do): counts, problems, whether it wrote."""

    rows: int
    problems: list[Problem]
    dry_run: bool
    skip_bad: bool
    written: bool = False
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    unchanged: int = 0

    @property
    def bad_rows(self) -> list[int]:
        """The row numbers with at least one problem, in order."""
        return sorted({p.row for p in self.problems})

    @property
    def refused(self) -> bool:
        """Nothing was (or would be) written because rows are bad and `skip_bad` was not given."""
        return bool(self.problems) and not self.skip_bad

    def summary_lines(self) -> list[tuple[str, dict[str, Any]]]:
        """The closing lines as (msgid, params) for any edge to render in its reader's language."""
        lines: list[tuple[str, dict[str, Any]]] = [(t.SUMMARY_CHECKED, {"rows": self.rows, "bad": len(self.bad_rows)})]
        if self.refused:
            lines.append((t.SUMMARY_REFUSED, {}))
            return lines
        if self.problems:
            lines.append((t.SUMMARY_SKIPPED, {"bad": len(self.bad_rows)}))
        counts = {"villages": self.created["village"], "courtyards": self.created["courtyard"],
                  "households": self.created["household"], "residents": self.created["resident"],
                  "caregivers": self.created["caregiver"], "updated": self.updated["resident"],
                  "unchanged": self.unchanged}
        lines.append((t.SUMMARY_DRY_RUN if self.dry_run else t.SUMMARY_WRITTEN, counts))
        return lines


@dataclass
class _Places:
    """The villages, 小院 and households the import may use, loaded once, by name and 户号."""

    town: Town | None
    villages: dict[str, list[Village]]
    courtyards: dict[tuple[int, str], Courtyard] = field(default_factory=dict)
    households: dict[tuple[int, str], Household] = field(default_factory=dict)


def _town_for(session: Session, actor: access.Viewer, town_name: str | None) -> Town | None:
    """The town new villages go under: the actor's own, the named one (admin), or the only one there is."""
    if actor.role == "town" or actor.role == "village":
        return session.get(Town, actor.town_id) if actor.town_id is not None else None
    if town_name:
        # A town not there yet is made by _write (inside the savepoint, so a dry run leaves no trace).
        name = town_name.strip()[:80]
        return session.scalar(sa.select(Town).where(Town.name == name)) or Town(name=name)
    towns = list(session.scalars(sa.select(Town).limit(2)))
    return towns[0] if len(towns) == 1 else None


def _load_places(session: Session, actor: access.Viewer, town: Town | None, admin_town_given: bool) -> _Places:
    query = sa.select(Village)
    if actor.role == "village":
        query = query.where(Village.id == actor.village_id)
    elif actor.role == "town" or admin_town_given:
        query = query.where(Village.town_id == (town.id if town is not None and town.id is not None else -1))
    villages: dict[str, list[Village]] = {}
    # Row locks (PostgreSQL; SQLite already serialises writers): a second import of the same file waits
    # for the first to commit, then finds its households instead of adding them twice.
    for village in session.scalars(query.order_by(Village.id).with_for_update()):
        villages.setdefault(village.name, []).append(village)
    return _Places(town=town, villages=villages)


def _resolve_villages(entries: Iterable[RosterEntry], actor: access.Viewer, places: _Places,
                      own_village_name: str | None) -> list[Problem]:
    """Scope problems: a village user names another village, or an admin's village name is ambiguous."""
    problems = []
    for entry in entries:
        if actor.role == "village":
            if entry.village != own_village_name:
                problems.append(Problem(entry.row, "村", t.OTHER_VILLAGE, {"village": own_village_name or "-"}))
        elif len(places.villages.get(entry.village, [])) > 1:
            problems.append(Problem(entry.row, "村", t.AMBIGUOUS_VILLAGE))
        elif entry.village not in places.villages and places.town is None:
            problems.append(Problem(entry.row, "村", t.NO_TOWN))
    return problems


def import_roster(session: Session, *, now: dt.datetime, actor: access.Viewer, data: bytes, filename: str,
                  dry_run: bool = False, skip_bad: bool = False, town_name: str | None = None) -> RosterResult:
    """Import a roster file in the caller's transaction, as `actor` (admin, town or village staff).

    Every row is checked first (format, then scope); with any problem nothing is written unless
    `skip_bad`, which writes the good rows. A dry run does all the work in a savepoint and rolls it
    back, so its counts are exact. Missing villages and 小院 are created in the actor's scope; every
    created or changed row is audited, and one `roster.import` entry sums the run up.
    """
    if actor.role not in IMPORT_ROLES:
        raise PermissionDenied(t.ROLE_CANNOT_IMPORT)
    checked = check_roster(read_table(data, filename), this_year=now.year)
    own_village = session.get(Village, actor.village_id) if actor.role == "village" and actor.village_id else None
    if actor.role == "village" and own_village is None:
        raise PermissionDenied(t.ROLE_CANNOT_IMPORT)
    town = _town_for(session, actor, town_name if actor.role == "admin" else None)
    places = _load_places(session, actor, town, admin_town_given=bool(town_name) and actor.role == "admin")
    scope_problems = _resolve_villages(checked.entries, actor, places, own_village.name if own_village else None)
    result = RosterResult(rows=checked.rows, problems=sorted(checked.problems + scope_problems,
                                                             key=lambda p: (p.row, COLUMNS.index(p.column))),
                          dry_run=dry_run, skip_bad=skip_bad)
    if result.refused:
        return result
    bad = set(result.bad_rows)
    good = [e for e in checked.entries if e.row not in bad]
    savepoint = session.begin_nested()
    try:
        _write(session, now=now, actor=actor, entries=good, places=places, result=result)
        record_audit(session, at=now, actor=actor, action="roster.import", entity_type="roster", entity_id=None,
                     file=PurePath(filename).name[:120], rows=result.rows, skipped=len(bad),
                     created=dict(result.created), updated=dict(result.updated), unchanged=result.unchanged)
        session.flush()
    except BaseException:
        savepoint.rollback()
        raise
    if dry_run:
        savepoint.rollback()
    else:
        savepoint.commit()
        result.written = True
    return result


def _write(session: Session, *, now: dt.datetime, actor: access.Viewer, entries: list[RosterEntry],
           places: _Places, result: RosterResult) -> None:
    """Create or update everything the good entries name; counts go into `result`."""
    villages = {name: found[0] for name, found in places.villages.items()}
    if places.town is not None and places.town.id is None and any(e.village not in villages for e in entries):
        session.add(places.town)
        session.flush()
        result.created["town"] += 1
    for name in dict.fromkeys(e.village for e in entries):
        if name not in villages:
            assert places.town is not None  # _resolve_villages made a problem of every row without one
            villages[name] = Village(town_id=places.town.id, name=name)
            session.add(villages[name])
            result.created["village"] += 1
    session.flush()
    village_ids = [v.id for v in villages.values()]
    for known in session.scalars(sa.select(Courtyard).where(Courtyard.village_id.in_(village_ids))):
        places.courtyards[(known.village_id, known.name)] = known
    for existing in session.scalars(
        sa.select(Household).join(Courtyard, Household.courtyard_id == Courtyard.id)
        .where(Courtyard.village_id.in_(village_ids), Household.number.is_not(None))
        .options(selectinload(Household.residents).selectinload(Resident.caregivers))
    ):
        places.households[(existing.courtyard.village_id, existing.number or "")] = existing

    created: list[tuple[str, Any]] = []
    for entry in entries:
        village = villages[entry.village]
        courtyard = places.courtyards.get((village.id, entry.courtyard))
        if courtyard is None:
            courtyard = Courtyard(village_id=village.id, name=entry.courtyard)
            session.add(courtyard)
            places.courtyards[(village.id, entry.courtyard)] = courtyard
            result.created["courtyard"] += 1
            created.append(("courtyard", courtyard))
        household = places.households.get((village.id, entry.household_no))
        if household is None:
            household = Household(courtyard=courtyard, name=f"{entry.name}家"[:80], number=entry.household_no,
                                  created_at=now, residents=[])
            session.add(household)
            places.households[(village.id, entry.household_no)] = household
            result.created["household"] += 1
            created.append(("household", household))
        elif household.courtyard is not courtyard:
            household.courtyard = courtyard
            result.updated["household"] += 1
            session.flush()
            record_audit(session, at=now, actor=actor, action="household.move", entity_type="household",
                         entity_id=household.id, courtyard_id=courtyard.id, via="roster")
        resident = next((r for r in household.residents if r.name == entry.name and not r.erased), None)
        if resident is None:
            resident = Resident(name=entry.name, phone=entry.phone, birth_year=entry.birth_year,
                                lives_alone=entry.lives_alone, notes="", created_at=now)
            household.residents.append(resident)
            for position, carer in enumerate(entry.caregivers, start=1):
                resident.caregivers.append(_link(carer, position))
            result.created["resident"] += 1
            result.created["caregiver"] += len(entry.caregivers)
            created.append(("resident", resident))
        elif not _update_resident(session, now=now, actor=actor, resident=resident, entry=entry, result=result):
            result.unchanged += 1
    # One flush for every new row (batched inserts), then their audit entries, which need the ids.
    session.flush()
    for kind, row in created:
        detail = {"via": "roster"}
        if kind == "household":
            detail["courtyard_id"] = row.courtyard_id
        elif kind == "resident":
            detail["household_id"] = row.household_id
        record_audit(session, at=now, actor=actor, action=f"{kind}.create", entity_type=kind, entity_id=row.id,
                     **detail)


def _link(carer: CaregiverEntry, position: int) -> CaregiverLink:
    return CaregiverLink(position=position, kind=carer.kind, name=carer.name, relation=carer.relation,
                         phone=carer.phone, channels=[], hours_start=None, hours_end=None)


def _update_resident(session: Session, *, now: dt.datetime, actor: access.Viewer, resident: Resident,
                     entry: RosterEntry, result: RosterResult) -> bool:
    """Bring an existing resident in line with the file; whether anything changed (audited when it did).

    Caregivers are matched by name: a known one gets the file's phone and relation, a new one joins the
    end of the chain; ones staff added by hand (the 院长, a doctor) stay.
    """
    values = {"phone": entry.phone, "birth_year": entry.birth_year, "lives_alone": entry.lives_alone}
    changed = sorted(k for k, v in values.items() if getattr(resident, k) != v)
    for key in changed:
        setattr(resident, key, values[key])
    chain_changed = False
    last = max((link.position for link in resident.caregivers), default=0)
    for carer in entry.caregivers:
        link = next((c for c in resident.caregivers if c.name == carer.name), None)
        if link is None:
            last += 1
            resident.caregivers.append(_link(carer, last))
            result.created["caregiver"] += 1
            chain_changed = True
        elif (link.phone, link.relation) != (carer.phone, carer.relation):
            link.phone, link.relation = carer.phone, carer.relation
            result.updated["caregiver"] += 1
            chain_changed = True
    if chain_changed:
        changed = sorted([*changed, "caregivers"])
    if not changed:
        return False
    result.updated["resident"] += 1
    record_audit(session, at=now, actor=actor, action="resident.edit", entity_type="resident", entity_id=resident.id,
                 fields=changed, via="roster")
    return True


def template_csv() -> bytes:
    """The empty roster template as UTF-8 CSV with a BOM (so Excel opens the Chinese header correctly)."""
    out = io.StringIO(newline="")
    csv.writer(out).writerow(COLUMNS)
    return out.getvalue().encode("utf-8-sig")


def template_xlsx() -> bytes:
    """The empty roster template as an .xlsx: the header row, phone and 户号 columns formatted as text."""
    import openpyxl
    from openpyxl.styles import Font

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "名册"
    sheet.append(list(COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    # Text format keeps leading zeros of landlines and long numbers exact when staff type them in.
    for index, name in enumerate(COLUMNS, start=1):
        letter = openpyxl.utils.get_column_letter(index)
        sheet.column_dimensions[letter].width = 14
        if name.endswith("电话") or name in ("户号", "出生年"):
            sheet.column_dimensions[letter].number_format = "@"
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
