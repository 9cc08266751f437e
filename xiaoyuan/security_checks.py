"""The security part of `xiaoyuan check` and of the start-up banner: demo secrets where others can reach
them, and personal data readable by other users of the machine."""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa

from core.db import make_engine, make_session_factory, read_only
from core.demo.exposure import exposure_warnings, find_demo_traces
from core.i18n import N_, bilingual
from core.private_files import loose_modes
from core.settings import Settings

log = logging.getLogger(__name__)


def demo_exposure_lines(settings: Settings) -> list[str]:
    """Loud warnings (Chinese, then English) when demo accounts or boxes exist on an exposed service."""
    try:
        engine = make_engine(settings.database_url)
    except Exception:
        log.debug("no database to look for demo data in", exc_info=True)
        return []
    try:
        with read_only(make_session_factory(engine)) as session:
            traces = find_demo_traces(session)
    except Exception:  # no schema yet, or unreachable: check_database reports that
        log.debug("could not look for demo data", exc_info=True)
        return []
    finally:
        engine.dispose()
    return [bilingual(msgid, **params) for msgid, params in exposure_warnings(settings, traces)]


def _sqlite_files(settings: Settings) -> list[Path]:
    url = sa.engine.make_url(settings.database_url)
    if not url.drivername.startswith("sqlite") or not url.database or url.database == ":memory:":
        return []
    db = Path(url.database)
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]


def file_mode_lines(settings: Settings, *, examples: int = 3) -> list[str]:
    """A warning when the data dir or the SQLite files can be read (or entered) by other users."""
    loose = loose_modes(settings.data_dir, *_sqlite_files(settings))
    if not loose:
        return []
    shown = ", ".join(f"{path} ({mode:o})" for path, mode in loose[:examples])
    message = N_("%(count)s 个含个人信息的文件或目录别的用户也能读：%(examples)s。请运行 chmod -R go-rwx %(dir)s")
    return [bilingual(message, count=len(loose), examples=shown, dir=settings.data_dir)]
