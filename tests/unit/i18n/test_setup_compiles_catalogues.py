"""`make setup` compiles the English catalogue and fails loudly when it cannot (else English silently is Chinese)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SETUP = ROOT / "scripts" / "setup.sh"


def _compile_command() -> str:
    lines = [line for line in SETUP.read_text(encoding="utf-8").splitlines()
             if "pybabel" in line and "compile" in line and not line.lstrip().startswith("#")]
    assert len(lines) == 1, lines
    return lines[0]


def test_setup_does_not_hide_a_failed_compile():
    """No `|| true` or discarded stderr around the compile step."""
    line = _compile_command()
    assert "|| true" not in line and "2>/dev/null" not in line, line


def test_setup_compile_command_works_and_writes_the_english_catalogue(tmp_path):
    """The exact command setup runs is valid pybabel and produces en/LC_MESSAGES/messages.mo."""
    line = _compile_command()
    command = re.search(r"(\.venv/bin/pybabel[^;|&]*)", line).group(1).strip()
    shutil.copytree(ROOT / "core" / "translations", tmp_path / "translations",
                    ignore=shutil.ignore_patterns("*.mo"))
    args = shlex.split(command.replace("core/translations", str(tmp_path / "translations")))
    args[0] = str(Path(sys.executable).with_name("pybabel"))
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "translations" / "en" / "LC_MESSAGES" / "messages.mo").stat().st_size > 1000
