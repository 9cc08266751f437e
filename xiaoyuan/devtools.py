"""Developer tools: `python -m xiaoyuan.devtools revision "message"` autogenerates a migration."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from core.migrate import alembic_config


def revision(message: str) -> None:
    """Autogenerate a migration against a scratch SQLite database upgraded to head."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'scratch.db'}"
        cfg = alembic_config(url)
        command.upgrade(cfg, "head")
        command.revision(cfg, message=message, autogenerate=True)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "revision":
        sys.exit('usage: python -m xiaoyuan.devtools revision "message"')
    revision(sys.argv[2])
