"""Shared fixtures: settings, clocks, databases (SQLite always, PostgreSQL when a URL is given)."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from core import i18n
from core.clock import FakeClock
from core.db import make_engine, make_session_factory, normalise_url
from core.models import Base
from core.settings import load_settings

PG_URL_ENV = "XIAOYUAN_TEST_DATABASE_URL"


def pytest_configure(config: pytest.Config) -> None:
    """CI sets XIAOYUAN_REQUIRE_POSTGRES=1 so that a missing database fails instead of skipping."""
    if os.environ.get("XIAOYUAN_REQUIRE_POSTGRES") == "1" and not os.environ.get(PG_URL_ENV):
        raise pytest.UsageError(f"XIAOYUAN_REQUIRE_POSTGRES=1 but {PG_URL_ENV} is not set")


def compile_if_stale(po_path: Path) -> Path:
    """Compile one .po next to itself when its .mo is missing or older (the same output as `pybabel compile`)."""
    mo_path = po_path.with_suffix(".mo")
    if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
        return mo_path
    locale = po_path.parent.parent.name
    with po_path.open("rb") as fh:
        catalogue = read_po(fh, locale=locale)
    # Write beside the target and rename, so a parallel run never reads half a file.
    fd, tmp = tempfile.mkstemp(dir=mo_path.parent, prefix=".compiling-", suffix=".mo")
    try:
        with os.fdopen(fd, "wb") as fh:
            write_mo(fh, catalogue)
        os.chmod(tmp, 0o644)  # readable by the web server like `pybabel compile` output
        os.replace(tmp, mo_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return mo_path


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogues() -> Iterator[list[Path]]:
    """Every catalogue under core/translations compiled (.mo files are build output that git ignores).

    English text reaches people through the catalogue (CLI lines, SMS to English readers), so every
    test sees the current .po, also on a fresh clone without `make setup`.
    """
    pos = sorted(i18n.TRANSLATIONS_DIR.glob("*/LC_MESSAGES/messages.po"))
    assert pos, f"no .po catalogues under {i18n.TRANSLATIONS_DIR}: run `make translations`"
    mos = [compile_if_stale(po) for po in pos]
    # core.i18n caches a loaded catalogue per locale; one loaded before compiling would be empty.
    i18n._catalogue.cache_clear()
    yield mos
    i18n._catalogue.cache_clear()


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """argon2 at production cost takes ~70 ms per hash; tests build many users, so use a cheap one."""
    from argon2 import PasswordHasher

    import core.people.users as users

    original = users._hasher
    users._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    users._hasher = original


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at 2026-11-26 09:00 Asia/Shanghai."""
    return FakeClock()


@pytest.fixture
def settings(tmp_path):
    """Embedded-default settings with a private data dir."""
    return load_settings(environ={}, overrides={"data": {"dir": str(tmp_path / "var")}})


def _sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@contextmanager
def scratch_pg_database(prefix: str) -> Iterator[str]:
    """An empty PostgreSQL database of its own beside the configured one (skips without it), dropped afterwards."""
    base = os.environ.get(PG_URL_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests skipped: set {PG_URL_ENV} (CI does)")
    admin = sa.create_engine(normalise_url(base), isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(normalise_url(base)).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    with scratch_pg_database("xiaoyuan_test") as url:
        yield url


_pg_schema_ready: set[str] = set()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """A database URL with an empty schema: SQLite file, and PostgreSQL when configured."""
    if request.param == "sqlite":
        url = _sqlite_url(tmp_path)
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        return url
    url = request.getfixturevalue("pg_url")
    engine = make_engine(url)
    if url not in _pg_schema_ready:
        Base.metadata.drop_all(engine)
        Base.metadata.create_all(engine)
        _pg_schema_ready.add(url)
    else:
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """An engine on the test database."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine):
    """A session factory on the test database."""
    from tvportal.seen import seen_boxes_for

    factory = make_session_factory(engine)
    yield factory
    # TV pages note box sightings for a write two seconds later: write them now, into this test's
    # database, so no timer writes into the next test's rows (PostgreSQL tests share one database).
    seen_boxes_for(factory).flush()


@pytest.fixture
def sqlite_session_factory(tmp_path):
    """A session factory on a SQLite file only (for tests that need no PostgreSQL run)."""
    eng = make_engine(_sqlite_url(tmp_path))
    Base.metadata.create_all(eng)
    yield make_session_factory(eng)
    eng.dispose()


@pytest.fixture
def services(settings, session_factory, clock):
    """Services wired for tests: test database, fake clock, no TTS/ASR unless a test adds them."""
    from core.container import Services

    return Services(settings=settings, session_factory=session_factory, clock=clock)


@pytest.fixture
def app(services):
    """The whole web app on the test services."""
    from xiaoyuan.app import create_app

    application = create_app(services)
    application.config.update(TESTING=True)
    return application


@pytest.fixture
def client(app):
    """A Flask test client."""
    return app.test_client()
