"""pyproject's explicit package list names every package, so an installed wheel is complete."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TOP = ("core", "tvportal", "voice", "devices", "console", "xiaoyuan")


def test_every_package_is_listed_in_pyproject():
    """A new sub-package (a folder with __init__.py) must be added to [tool.setuptools] packages."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in TOP
        for init in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found == listed
