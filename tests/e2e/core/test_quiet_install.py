"""Installing the package prints no wall of setuptools warnings, and the wheel still carries every data file."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_wheel_builds_without_warnings_and_with_its_data(tmp_path):
    """What `make setup` builds (offline: the venv's setuptools, no build isolation) is silent and complete."""
    setuptools = pytest.importorskip("setuptools")
    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip("setuptools >= 77 (requirements-dev.txt) is needed to build offline")
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "var", "node_modules", "build", "*.egg-info", "__pycache__", "bench", "tests", "docs"))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"),
         str(source)], capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "Warning" not in output and "absent from the `packages`" not in output, output[:2000]
    names = zipfile.ZipFile(next((tmp_path / "dist").glob("xiaoyuan-*.whl"))).namelist()
    for expected in ("console/templates/console/login.html", "core/migrations/env.py",
                     "core/translations/en/LC_MESSAGES/messages.po", "core/settings.py"):
        assert expected in names, expected
    assert any(n.startswith("tvportal/templates/") for n in names)
    assert any(n.startswith("tvportal/static/") for n in names)
    assert any(n.startswith("core/migrations/versions/") for n in names)
