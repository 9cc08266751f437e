"""The English catalogue compiled before these tests, so they pass on a fresh clone without `make setup`."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from core import i18n


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
    """Every catalogue under core/translations compiled (.mo files are build output that git ignores)."""
    pos = sorted(i18n.TRANSLATIONS_DIR.glob("*/LC_MESSAGES/messages.po"))
    assert pos, f"no .po catalogues under {i18n.TRANSLATIONS_DIR}: run `make translations`"
    mos = [compile_if_stale(po) for po in pos]
    # core.i18n caches a loaded catalogue per locale; one loaded before compiling would be empty.
    i18n._catalogue.cache_clear()
    yield mos
    i18n._catalogue.cache_clear()


@pytest.fixture
def session_factory(sqlite_session_factory):
    """SQLite only: what is translated does not depend on the database, so one run is enough."""
    return sqlite_session_factory
