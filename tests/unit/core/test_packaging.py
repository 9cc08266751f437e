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


def _setuptools_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_data_files_are_declared_not_guessed():
    """include-package-data on makes setuptools take every template, static and migration folder for an
    undeclared package: ~600 lines of warnings on each `make setup`. The package-data globs must then
    cover every data file the service reads at run time, so the wheel stays complete."""
    config = _setuptools_config()
    assert config["include-package-data"] is False
    globs = config["package-data"]
    for top, folders in {"tvportal": ("templates", "static"), "console": ("templates", "static"),
                         "core": ("migrations", "translations")}.items():
        for folder in folders:
            for path in (ROOT / top / folder).rglob("*"):
                if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".mo", ".pot"):
                    continue
                relative = path.relative_to(ROOT / top)
                assert any(_glob_match(relative, g) for g in globs[top]), f"{top}/{relative} is not in package-data"


def _glob_match(relative: Path, pattern: str) -> bool:
    """setuptools' package-data glob semantics: `**` spans folders, `*` stays within one."""
    import fnmatch

    if "**" in pattern:
        prefix = pattern.split("**")[0]
        return str(relative).startswith(prefix)
    return fnmatch.fnmatch(str(relative), pattern) and str(relative).count("/") == pattern.count("/")
