"""Database behaviour the services rely on: write locks, read-only units of work."""

import threading

import sqlalchemy as sa

from core.db import make_engine, make_session_factory, read_only, transaction
from core.models import Base
from core.models.places import Town


def test_reads_do_not_wait_for_a_writer_on_sqlite(tmp_path):
    """While a writer holds the SQLite write lock, a read-only unit of work still answers at once."""
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    Base.metadata.create_all(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        s.add(Town(name="甲镇"))
    writer_holds = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with transaction(factory) as s:
            s.add(Town(name="乙镇"))
            s.flush()
            writer_holds.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writer_holds.wait(10)
        with read_only(factory) as s:
            names = s.scalars(sa.select(Town.name)).all()
        assert names == ["甲镇"]  # the snapshot before the uncommitted write
    finally:
        release.set()
        thread.join()
    engine.dispose()


def test_read_only_unit_never_commits(session_factory):
    """Changes made by mistake inside a read-only unit are rolled back."""
    with read_only(session_factory) as s:
        s.add(Town(name="丙镇"))
        s.flush()
    with session_factory() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Town)) == 0
