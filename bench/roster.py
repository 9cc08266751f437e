"""Roster import (S14): seconds to check, import and re-import a generated county roster, CSV and XLSX.

Prints JSON. SQLite always; PostgreSQL when --database-url or XIAOYUAN_TEST_DATABASE_URL is given (a fresh
database is created next to the one named and dropped afterwards).

    .venv/bin/python bench/roster.py --rows 2000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.clock import SystemClock  # noqa: E402
from core.db import make_engine, make_session_factory, normalise_url, transaction  # noqa: E402
from core.models import Base  # noqa: E402
from core.people.access import OPERATOR  # noqa: E402
from core.people.roster import import_roster  # noqa: E402
from tests.roster_data import as_csv, as_xlsx, roster_rows  # noqa: E402


@contextmanager
def database(kind: str, pg_base: str | None) -> Iterator[str]:
    """A fresh, empty database URL of that kind, removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    assert pg_base is not None
    admin = sa.create_engine(normalise_url(pg_base), isolation_level="AUTOCOMMIT")
    name = f"xiaoyuan_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(normalise_url(pg_base)).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(url: str, data: bytes, filename: str) -> dict[str, float]:
    """Seconds for a dry run, the first import and an unchanged re-import of one file on an empty database."""
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    factory = make_session_factory(engine)
    clock = SystemClock()
    figures = {}
    for label, dry_run in (("dry_run_s", True), ("import_s", False), ("reimport_unchanged_s", False)):
        started = time.perf_counter()
        with transaction(factory) as session:
            result = import_roster(session, now=clock.now(), actor=OPERATOR, data=data, filename=filename,
                                   dry_run=dry_run, town_name="直升镇")
        figures[label] = round(time.perf_counter() - started, 3)
        assert not result.problems
    engine.dispose()
    return figures


def main() -> None:
    """Measure and print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--database-url", default=os.environ.get("XIAOYUAN_TEST_DATABASE_URL"))
    args = parser.parse_args()
    rows = roster_rows(args.rows)
    files = {"csv": as_csv(rows), "xlsx": as_xlsx(rows)}
    out: dict = {"rows": args.rows, "python": platform.python_version(), "cpus": os.cpu_count(), "results": {}}
    for kind in ("sqlite", "postgresql") if args.database_url else ("sqlite",):
        for fmt, data in files.items():
            with database(kind, args.database_url) as url:
                out["results"][f"{kind}/{fmt}"] = run(url, data, f"roster.{fmt}")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
