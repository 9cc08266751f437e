"""Files that hold personal data (database, recordings, audio, uploads, secrets): owner-only, 0600 / 0700.

Processes set a umask of 077 at start, so whatever they (or SQLite, Mosquitto, espeak) create is
private; the helpers here make it explicit where xiaoyuan writes files itself, so it holds in tests,
embedded uses and under a careless umask too. `loose_modes` finds what an older version (or an
operator's copy) left readable by others, for `xiaoyuan check`.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

PRIVATE_UMASK = 0o077
FILE_MODE = 0o600
DIR_MODE = 0o700


def restrict_umask() -> int:
    """Make every file this process creates owner-only from now on; the previous umask."""
    return os.umask(PRIVATE_UMASK)


def private_dir(path: Path) -> Path:
    """Create a directory (and missing parents) as 0700; an existing one is left as it is (check reports it)."""
    if not path.is_dir():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask
    return path


def write_private(path: Path, data: bytes) -> Path:
    """Write a file atomically as 0600 (its directory created 0700 when missing)."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, path)
    return path


def kept_secret(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in `path` (0600): the one there, else a new one from `make`, written once.

    Processes that start together on a fresh data dir (gunicorn workers, a listener) may all find none:
    each writes its candidate to a file of its own and links it into place; the first link wins and every
    process reads the winner, never a half-written file.
    """
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w") as fh:
        fh.write(make())
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process was first: its secret counts
    finally:
        os.unlink(tmp)
    return path.read_text().strip()


def create_private_file(path: Path) -> None:
    """Create an empty 0600 file if none exists yet (SQLite then gives its -wal and -shm the same mode)."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def loose_modes(*roots: Path, limit: int = 10_000) -> list[tuple[Path, int]]:
    """Files and directories under the roots (and the roots) that others than the owner may read or enter."""
    found: list[tuple[Path, int]] = []
    seen = 0
    for root in roots:
        if not root.exists():
            continue
        paths = [root] if root.is_file() else [root, *root.rglob("*")]
        for path in paths:
            seen += 1
            if seen > limit:
                return found
            try:
                info = path.lstat()
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode):
                continue
            if stat.S_IMODE(info.st_mode) & 0o077:
                found.append((path, stat.S_IMODE(info.st_mode)))
    return found
