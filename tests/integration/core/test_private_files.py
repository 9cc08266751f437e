"""Personal data at rest: the SQLite database with its WAL and SHM, recordings, audio, uploads and secrets are
owner-only (0600, directories 0700) even under a permissive umask; `xiaoyuan check` warns about looser modes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from core.db import make_engine
from core.phone.calls import RECORDINGS_DIR, recording_bytes
from core.private_files import loose_modes, write_private
from core.settings import load_settings
from xiaoyuan.checks import check_security

ROOT = Path(__file__).resolve().parents[3]


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The umask most shells have (022): files would be world-readable unless created private."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_sqlite_database_wal_and_shm_are_owner_only(tmp_path, permissive_umask):
    """The database file and its WAL/SHM were created 0644 in a 0755 directory: readable by every local user."""
    db = tmp_path / "fresh" / "xiaoyuan.db"
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))
    with engine.connect() as conn:  # an open reader keeps -wal and -shm in place
        conn.execute(sa.text("SELECT x FROM t")).all()
        for path in (db, db.with_name("xiaoyuan.db-wal"), db.with_name("xiaoyuan.db-shm")):
            assert path.exists() and _mode(path) == 0o600, path
    engine.dispose()
    assert _mode(db.parent) == 0o700


def test_recordings_and_private_writes_are_owner_only(tmp_path, permissive_umask):
    settings = SimpleNamespace(data_dir=tmp_path / "var")
    telephony = SimpleNamespace(fetch_recording=lambda url: b"RIFF-audio")
    recording = SimpleNamespace(id=7, local_file=None, recording_url="https://api.example/rec/7")
    assert recording_bytes(settings, telephony, recording) == b"RIFF-audio"
    kept = settings.data_dir / RECORDINGS_DIR / "7.wav"
    assert _mode(kept) == 0o600 and _mode(kept.parent) == 0o700
    assert _mode(write_private(tmp_path / "a" / "b.txt", b"x")) == 0o600


def test_the_cli_creates_its_data_dir_and_database_private(tmp_path):
    """`xiaoyuan db upgrade` under a 022 umask: the data dir and database are owner-only."""
    data = tmp_path / "var"
    env = {**os.environ, "XIAOYUAN_DATA_DIR": str(data), "XIAOYUAN_CONFIG": ""}
    env.pop("XIAOYUAN_DATABASE_URL", None)
    script = ("import os, sys; os.umask(0o022); sys.argv = ['xiaoyuan', 'db', 'upgrade']; "
              "from xiaoyuan.cli import main; main()")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert loose_modes(data) == []
    assert _mode(data / "xiaoyuan.db") == 0o600


def test_check_warns_about_personal_data_others_can_read(tmp_path, permissive_umask):
    settings = load_settings(environ={}, overrides={"data": {"dir": str(tmp_path / "var")}})
    engine = make_engine(settings.database_url)
    engine.dispose()
    assert not [p for p in check_security(settings) if "chmod" in p.message]
    os.chmod(settings.data_dir / "xiaoyuan.db", 0o644)
    warnings = [p for p in check_security(settings) if "chmod" in p.message]
    assert warnings and warnings[0].level == "warning" and "xiaoyuan.db (644)" in warnings[0].message
