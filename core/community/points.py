"""The points ledger: award, deduct, batch award for a 小院, reverse; balances and rankings.

Entries are append-only. Every append also moves the household's `PointAccount` row in the same
transaction, so `balance()` (the sum of entries) and the account always agree; redemptions take
points with a conditional UPDATE on that row (see `take_points`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.clock import LOCAL_TZ, UTC, as_utc
from core.community.config import TvSettings
from core.db import rows_changed
from core.errors import InvalidInput, InvalidTransition, NotFound
from core.i18n import DEFAULT_LOCALE, N_, translate
from core.models.places import Courtyard, Household
from core.models.points import PointAccount, PointEntry
from core.people.audit import record_audit
from core.people.directory import place_of_household

# Written by the system; always valid whatever the configuration says.
SYSTEM_CATEGORIES = (N_("兑换"), N_("退还"), N_("冲正"))
DEFAULT_CATEGORIES: tuple[str, ...] = TvSettings.model_fields["point_categories"].default
MAX_ABS_DELTA = 1000


def point_categories(settings: Any) -> tuple[str, ...]:
    """The categories staff may choose (`[tv] point_categories`)."""
    configured = settings.tv.point_categories if settings is not None else None
    return tuple(configured or DEFAULT_CATEGORIES)


CATEGORY_ERRORS = (N_("未知类别：%(category)s"), N_("这个类别只由系统使用"))


def validate_award(delta: int, category: str, reason: str, categories: Sequence[str]) -> None:
    """Check one award or deduction before it is written (pure: no database)."""
    if not isinstance(delta, int) or isinstance(delta, bool):
        raise InvalidInput(N_("分值必须是整数"))
    if delta == 0:
        raise InvalidInput(N_("分值不能为 0"))
    if abs(delta) > MAX_ABS_DELTA:
        raise InvalidInput(N_("一次最多 %(limit)s 分"), limit=MAX_ABS_DELTA)
    if category not in categories and category not in SYSTEM_CATEGORIES:
        raise InvalidInput(N_("未知类别：%(category)s"), category=category)
    if category in SYSTEM_CATEGORIES:
        raise InvalidInput(N_("这个类别只由系统使用"))
    if not reason.strip():
        raise InvalidInput(N_("请写明原因"))
    if len(reason) > 200:
        raise InvalidInput(N_("原因太长（最多 200 字）"))


def _ensure_account(session: Session, household_id: int, now: dt.datetime) -> None:
    """Create the household's account row if missing, race-free on both backends."""
    dialect = session.get_bind().dialect.name
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(PointAccount).values(household_id=household_id, balance=0, updated_at=now)
    session.execute(stmt.on_conflict_do_nothing(index_elements=["household_id"]))


def lock_account(session: Session, household_id: int, now: dt.datetime) -> None:
    """Hold the household's account row (created if missing) until the transaction ends, so that a check of
    what it got today and the award that follows are not interleaved with another (PostgreSQL row lock;
    SQLite's write lock already serialises writers)."""
    _ensure_account(session, household_id, now)
    session.execute(sa.select(PointAccount.household_id).where(PointAccount.household_id == household_id)
                    .with_for_update())


def _append(
    session: Session, *, now: dt.datetime, household_id: int, delta: int, category: str, reason: str,
    source: str, actor: Any = None, reverses_id: int | None = None, redemption_id: int | None = None,
    batch_id: str | None = None,
) -> PointEntry:
    place = place_of_household(session, household_id)
    _ensure_account(session, household_id, now)
    session.execute(
        sa.update(PointAccount)
        .where(PointAccount.household_id == household_id)
        .values(balance=PointAccount.balance + delta, updated_at=now)
    )
    entry = PointEntry(
        household_id=household_id, courtyard_id=place.courtyard_id, village_id=place.village_id,
        town_id=place.town_id, delta=delta, category=category, reason=reason.strip(), source=source,
        actor_id=getattr(actor, "id", None),
        actor_label=(getattr(actor, "display_name", None) or (actor if isinstance(actor, str) else "system")),
        reverses_id=reverses_id, redemption_id=redemption_id, batch_id=batch_id, created_at=now,
    )
    session.add(entry)
    session.flush()
    return entry


def award_points(
    session: Session, *, now: dt.datetime, household_id: int, delta: int, category: str, reason: str,
    actor: Any = None, source: str = "console", categories: Sequence[str] = DEFAULT_CATEGORIES,
    batch_id: str | None = None,
) -> PointEntry:
    """Add (delta > 0) or deduct (delta < 0) points for one household with a reason."""
    validate_award(delta, category, reason, categories)
    if session.get(Household, household_id) is None:
        raise NotFound(N_("找不到这一户"))
    entry = _append(
        session, now=now, household_id=household_id, delta=delta, category=category, reason=reason,
        source=source, actor=actor, batch_id=batch_id,
    )
    record_audit(session, at=now, actor=actor, action="points.award", entity_type="household",
                 entity_id=household_id, delta=delta, category=category, entry_id=entry.id)
    return entry


@dataclass(frozen=True)
class BatchLine:
    """One line of a batch form: a household, its points (may be negative) and the reason."""

    household_id: int
    delta: int
    reason: str
    category: str = ""


class BatchLineInvalid(InvalidInput):
    """A batch line was refused: the message names the household, then says what is wrong with its line."""

    def __init__(self, *, household_id: int, household_name: str, problem: InvalidInput) -> None:
        self.household_id = household_id
        self.problem = problem
        super().__init__(N_("%(household)s：%(problem)s"), household=household_name, problem=problem.message)

    def text(self, locale: str = DEFAULT_LOCALE) -> str:
        """The household's name and the line's problem, both in `locale`."""
        return translate(self.message, locale, household=self.params["household"], problem=self.problem.text(locale))


@dataclass
class BatchResult:
    """What a batch award wrote."""

    batch_id: str
    entries: list[PointEntry] = field(default_factory=list)


def award_batch(
    session: Session, *, now: dt.datetime, courtyard_id: int, lines: Iterable[BatchLine], category: str,
    actor: Any = None, categories: Sequence[str] = DEFAULT_CATEGORIES,
) -> BatchResult:
    """Award or deduct for several households of one 小院 after an inspection, all or nothing."""
    lines = [line for line in lines if line.delta != 0]
    if not lines:
        raise InvalidInput(N_("没有要记的分"))
    members = dict(session.execute(sa.select(Household.id, Household.name)
                                   .where(Household.courtyard_id == courtyard_id)).all())
    for line in lines:
        if line.household_id not in members:
            raise InvalidInput(N_("有的户不在这个小院"))
        try:
            validate_award(line.delta, line.category or category, line.reason, categories)
        except InvalidInput as exc:
            if not line.category and exc.message in CATEGORY_ERRORS:
                raise  # the form's one category, not this household's line
            raise BatchLineInvalid(household_id=line.household_id, household_name=members[line.household_id],
                                   problem=exc) from exc
    result = BatchResult(batch_id=uuid.uuid4().hex)
    for line in lines:
        result.entries.append(_append(
            session, now=now, household_id=line.household_id, delta=line.delta, category=line.category or category,
            reason=line.reason, source="batch", actor=actor, batch_id=result.batch_id,
        ))
    record_audit(session, at=now, actor=actor, action="points.batch", entity_type="courtyard",
                 entity_id=courtyard_id, batch_id=result.batch_id, lines=len(result.entries))
    return result


def reverse_entry(session: Session, *, now: dt.datetime, entry_id: int, reason: str, actor: Any = None) -> PointEntry:
    """Cancel an entry by appending its opposite (冲正); an entry can be reversed only once."""
    original = session.get(PointEntry, entry_id)
    if original is None:
        raise NotFound(N_("找不到这条积分记录"))
    if original.reverses_id is not None:
        raise InvalidTransition(N_("冲正记录不能再冲正"))
    if original.redemption_id is not None:
        raise InvalidTransition(N_("兑换记录请通过取消兑换退还"))
    already = session.scalar(sa.select(PointEntry.id).where(PointEntry.reverses_id == entry_id))
    if already is not None:
        raise InvalidTransition(N_("这条记录已经冲正过"))
    if not reason.strip():
        raise InvalidInput(N_("请写明原因"))
    entry = _append(
        session, now=now, household_id=original.household_id, delta=-original.delta, category="冲正",
        reason=reason, source="reversal", actor=actor, reverses_id=original.id,
    )
    record_audit(session, at=now, actor=actor, action="points.reverse", entity_type="point_entry",
                 entity_id=original.id, reversal_id=entry.id)
    return entry


def take_points(session: Session, *, now: dt.datetime, household_id: int, cost: int) -> bool:
    """Debit `cost` from the household's account if the balance covers it; False (nothing changed) otherwise.

    A single conditional UPDATE: concurrent redemptions of one household serialise on the account
    row (PostgreSQL row lock; SQLite's write lock), and the loser sees the new balance. The caller
    must write the matching ledger line with `record_redemption_debit` in the same transaction.
    """
    if cost <= 0:
        raise InvalidInput(N_("兑换分值必须大于 0"))
    _ensure_account(session, household_id, now)
    result = session.execute(
        sa.update(PointAccount)
        .where(PointAccount.household_id == household_id, PointAccount.balance >= cost)
        .values(balance=PointAccount.balance - cost, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return rows_changed(result) == 1


def record_redemption_debit(
    session: Session, *, now: dt.datetime, household_id: int, cost: int, reason: str, redemption_id: int,
) -> PointEntry:
    """The ledger line (兑换) for points already taken by `take_points`."""
    place = place_of_household(session, household_id)
    entry = PointEntry(
        household_id=household_id, courtyard_id=place.courtyard_id, village_id=place.village_id,
        town_id=place.town_id, delta=-cost, category="兑换", reason=reason, source="redemption",
        actor_label="system", redemption_id=redemption_id, created_at=now,
    )
    session.add(entry)
    session.flush()
    return entry


def refund_points(
    session: Session, *, now: dt.datetime, household_id: int, amount: int, reason: str, redemption_id: int,
    actor: Any = None,
) -> PointEntry:
    """Give back the points of a cancelled redemption (退还)."""
    return _append(
        session, now=now, household_id=household_id, delta=amount, category="退还", reason=reason,
        source="refund", actor=actor, redemption_id=redemption_id,
    )


def balance_query(household_id: Any) -> sa.Select[Any]:
    """The select of a household's balance; `household_id` may be a value or a column of an outer query."""
    return sa.select(sa.func.coalesce(sa.func.sum(PointEntry.delta), 0)).where(PointEntry.household_id == household_id)


def balance(session: Session, household_id: int) -> int:
    """A household's balance: the sum of its ledger entries."""
    return int(session.scalar(balance_query(household_id)) or 0)


def history(session: Session, household_id: int, *, limit: int = 50, offset: int = 0) -> list[PointEntry]:
    """A household's entries, newest first."""
    return list(session.scalars(
        sa.select(PointEntry).where(PointEntry.household_id == household_id)
        .order_by(PointEntry.created_at.desc(), PointEntry.id.desc()).limit(limit).offset(offset)
    ))


# --- periods and ranking ---------------------------------------------------------------------

def month_bounds(now: dt.datetime, months_back: int = 0) -> tuple[dt.datetime, dt.datetime]:
    """The [start, end) of a local (Asia/Shanghai) calendar month in UTC; 0 = this month, 1 = last month."""
    local = as_utc(now).astimezone(LOCAL_TZ)
    year, month = local.year, local.month - months_back
    while month <= 0:
        month += 12
        year -= 1
    start = dt.datetime(year, month, 1, tzinfo=LOCAL_TZ)
    end = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=LOCAL_TZ)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True)
class RankRow:
    """One household on a board."""

    household_id: int
    name: str
    points: int
    rank: int
    previous: int = 0  # previous month's earned points (进步榜)
    reasons: tuple[str, ...] = ()

    @property
    def improvement(self) -> int:
        """Points earned this month minus last month."""
        return self.points - self.previous


def assign_ranks(rows: Sequence[tuple[int, str, int]], *, key_index: int = 2) -> list[tuple[int, tuple]]:
    """Standard competition ranking (1, 2, 2, 4) of rows already sorted by their score, descending."""
    ranked: list[tuple[int, tuple]] = []
    last_score: Any = object()
    rank = 0
    for position, row in enumerate(rows, start=1):
        if row[key_index] != last_score:
            rank = position
            last_score = row[key_index]
        ranked.append((rank, row))
    return ranked


def sort_board(rows: Iterable[tuple[int, str, int]]) -> list[tuple[int, str, int]]:
    """Most points first; ties by household id so a board never reshuffles between pages."""
    return sorted(rows, key=lambda r: (-r[2], r[0]))


def improvement_board(this_month: dict[int, int], last_month: dict[int, int], names: dict[int, str]) -> list[RankRow]:
    """进步榜: households whose points rose against last month, biggest rise first (pure)."""
    rises = [(hid, names[hid], this_month.get(hid, 0) - last_month.get(hid, 0)) for hid in names]
    rises = [r for r in rises if r[2] > 0]
    return [
        RankRow(household_id=row[0], name=row[1], points=this_month.get(row[0], 0), rank=rank,
                previous=last_month.get(row[0], 0))
        for rank, row in assign_ranks(sort_board(rises))
    ]


def _scope_households(session: Session, scope: str, scope_id: int) -> dict[int, str]:
    query = sa.select(Household.id, Household.name)
    if scope == "courtyard":
        query = query.where(Household.courtyard_id == scope_id)
    elif scope == "village":
        query = query.join(Courtyard, Household.courtyard_id == Courtyard.id).where(Courtyard.village_id == scope_id)
    else:
        raise InvalidInput(f"unknown ranking scope: {scope}")
    return dict(session.execute(query).all())


def _sums(
    session: Session, scope: str, scope_id: int, start: dt.datetime | None, end: dt.datetime | None,
) -> dict[int, int]:
    """Points earned per household of a 小院 or village in [start, end): awards and penalties, not spending.

    Redemptions (兑换) and their refunds (退还) move only the balance: taking oil must not push a
    household down the 光荣榜. A reversed entry and its reversal (冲正) cancel out wherever they fall,
    so a mistaken award never counted for anyone, in any period. The plain sum reads only the
    covering index; what it must not count is rare and found through its own indexes (`_not_earned`).
    """
    column = PointEntry.courtyard_id if scope == "courtyard" else PointEntry.village_id
    query = sa.select(PointEntry.household_id, sa.func.sum(PointEntry.delta)).where(column == scope_id)
    if start is not None:
        query = query.where(PointEntry.created_at >= start)
    if end is not None:
        query = query.where(PointEntry.created_at < end)
    sums = {hid: int(total) for hid, total in session.execute(query.group_by(PointEntry.household_id))}
    for hid, delta in _not_earned(session, scope, scope_id, start, end).items():
        sums[hid] = sums.get(hid, 0) - delta
    return sums


def _not_earned(
    session: Session, scope: str, scope_id: int, start: dt.datetime | None, end: dt.datetime | None,
) -> dict[int, int]:
    """Per household, the part of the plain sum in [start, end) that is spending or a reversed pair."""
    from core.models.rewards import Redemption

    def within(at: dt.datetime) -> bool:
        at = as_utc(at)
        return (start is None or at >= start) and (end is None or at < end)

    out: dict[int, int] = {}
    scoped = Redemption.courtyard_id if scope == "courtyard" else Redemption.village_id
    for hid, delta, at in session.execute(  # the scope's redemptions, then their lines by redemption_id
            sa.select(PointEntry.household_id, PointEntry.delta, PointEntry.created_at)
            .where(PointEntry.redemption_id.in_(sa.select(Redemption.id).where(scoped == scope_id)))):
        if within(at):
            out[hid] = out.get(hid, 0) + delta
    # Reversals are few: `reverses_id > 0` reads them through their unique index (IS NOT NULL would scan).
    reversals = session.execute(sa.select(
        PointEntry.reverses_id, PointEntry.household_id, PointEntry.delta, PointEntry.created_at,
        PointEntry.courtyard_id, PointEntry.village_id).where(PointEntry.reverses_id > 0)).all()
    originals = {row.id: row for row in session.execute(sa.select(
        PointEntry.id, PointEntry.household_id, PointEntry.delta, PointEntry.created_at, PointEntry.courtyard_id,
        PointEntry.village_id).where(PointEntry.id.in_([r.reverses_id for r in reversals])))} if reversals else {}
    for entry in [*reversals, *originals.values()]:
        if (entry.courtyard_id if scope == "courtyard" else entry.village_id) == scope_id and within(entry.created_at):
            out[entry.household_id] = out.get(entry.household_id, 0) + entry.delta
    return out


def latest_reasons(
    session: Session, household_ids: Sequence[int], per_household: int = 2,
) -> dict[int, tuple[str, ...]]:
    """The latest positive reasons (category: reason) of some households, newest first."""
    if not household_ids:
        return {}
    numbered = (
        sa.select(
            PointEntry.household_id, PointEntry.category, PointEntry.reason,
            sa.func.row_number().over(
                partition_by=PointEntry.household_id,
                order_by=(PointEntry.created_at.desc(), PointEntry.id.desc()),
            ).label("n"),
        )
        .where(PointEntry.household_id.in_(household_ids), PointEntry.delta > 0,
               PointEntry.category.not_in(SYSTEM_CATEGORIES))
        .subquery()
    )
    out: dict[int, list[str]] = {}
    for row in session.execute(
        sa.select(numbered).where(numbered.c.n <= per_household).order_by(numbered.c.household_id, numbered.c.n)
    ):
        category, reason = str(row.category), row.reason
        out.setdefault(int(row.household_id), []).append(f"{category}：{reason}" if reason else category)
    return {hid: tuple(reasons) for hid, reasons in out.items()}


def ranking(
    session: Session, *, now: dt.datetime, scope: str, scope_id: int, period: str = "month",
) -> list[RankRow]:
    """Every household of a 小院 or village with the points it earned this month or all time, ranked.

    Boards rank what was earned (awards minus penalties), never what is left after spending; the
    balance is `balance()`. 进步榜 compares this month's earned points with last month's.
    """
    names = _scope_households(session, scope, scope_id)
    if period == "month":
        start, end = month_bounds(now)
        sums = _sums(session, scope, scope_id, start, end)
    elif period == "all":
        sums = _sums(session, scope, scope_id, None, None)
    elif period == "progress":
        this_start, this_end = month_bounds(now)
        last_start, last_end = month_bounds(now, 1)
        return improvement_board(
            _sums(session, scope, scope_id, this_start, this_end),
            _sums(session, scope, scope_id, last_start, last_end), names,
        )
    else:
        raise InvalidInput(f"unknown period: {period}")
    rows = sort_board((hid, name, sums.get(hid, 0)) for hid, name in names.items())
    return [RankRow(household_id=r[0], name=r[1], points=r[2], rank=rank) for rank, r in assign_ranks(rows)]


def with_reasons(session: Session, rows: Sequence[RankRow]) -> list[RankRow]:
    """Attach the latest reasons to the rows of one page (one query)."""
    reasons = latest_reasons(session, [r.household_id for r in rows])
    return [RankRow(r.household_id, r.name, r.points, r.rank, r.previous, reasons.get(r.household_id, ()))
            for r in rows]


def household_rank(session: Session, *, now: dt.datetime, household_id: int,
                   courtyard_id: int | None = None) -> tuple[int, int]:
    """(rank, households) of a household in its 小院 this month."""
    courtyard_id = courtyard_id or session.scalar(sa.select(Household.courtyard_id).where(Household.id == household_id))
    if courtyard_id is None:
        raise NotFound(N_("找不到这一户"))
    return rank_in_board(ranking(session, now=now, scope="courtyard", scope_id=courtyard_id, period="month"),
                         household_id)


def rank_in_board(board: Sequence[RankRow], household_id: int) -> tuple[int, int]:
    """(rank, households) of a household on a board already computed (pure; last when missing)."""
    for row in board:
        if row.household_id == household_id:
            return row.rank, len(board)
    return len(board), len(board)
