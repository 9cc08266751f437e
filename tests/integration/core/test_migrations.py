"""Alembic migrations produce exactly the models, on SQLite and PostgreSQL."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.db import make_engine
from core.migrate import current_revision, head_revision, upgrade
from core.models import Base


def _empty(url: str) -> None:
    engine = make_engine(url)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


def _forget_revision(url: str) -> None:
    """Leave the (model-identical) tables for the next test, without Alembic's bookkeeping."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


def test_upgrade_from_empty_matches_models_exactly(db_url):
    """`xiaoyuan db upgrade` on an empty database yields the models' schema with no autogenerate diff."""
    _empty(db_url)
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
        assert diff == []
    finally:
        engine.dispose()
        _forget_revision(db_url)


def test_upgrade_is_idempotent(db_url):
    """Running the upgrade twice changes nothing and does not fail."""
    _empty(db_url)
    upgrade(db_url)
    upgrade(db_url)
    engine = make_engine(db_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()
    _forget_revision(db_url)
