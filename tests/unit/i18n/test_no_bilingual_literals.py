"""No "中文 / English" pair in the source: every text people see is one Chinese msgid, its English in the .po.

A pair literal cannot follow the reader's language (an English page shows the Chinese half, a
Chinese SMS carries English), and code that splits it at " / " breaks on the first text that has
a slash of its own. Docstrings and comments may say 中文 / English; strings (and f-strings) may not.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
# A CJK character, then later in the same string " / " and a Latin letter.
PAIR = re.compile(r"[\u3400-\u9fff\uf900-\ufaff].*? / [A-Za-z]", re.S)
CONFIG_FILES = ("core/settings.py", "xiaoyuan/checks.py")


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string nodes that are docstrings (modules, classes, functions)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
                    first.value.value, str):
                found.add(id(first.value))
    return found


def _text_of(node: ast.AST) -> str | None:
    """The text of a string or f-string node (an f-string's fields as "{}"); None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def problems_in(source: str) -> list[str]:
    """Pair literals and `split(" / ")` calls in one module's source (pure: works on a string)."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    inside_fstrings = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                "split", "rsplit", "partition") and any(_text_of(a) == " / " for a in node.args):
            found.append((node.lineno, f"{node.func.attr}(\" / \")"))
            continue
        if id(node) in docstrings or id(node) in inside_fstrings:
            continue
        text = _text_of(node)
        if text is not None and PAIR.search(text):
            found.append((node.lineno, repr(text[:60])))
    return [f"line {line}: {what}" for line, what in sorted(found)]


def _problems(paths: list[Path]) -> dict[str, list[str]]:
    report = {}
    for path in paths:
        found = problems_in(path.read_text(encoding="utf-8"))
        if found:
            report[str(path.relative_to(ROOT))] = found
    return report


def _python_files(directory: str, *, skip: tuple[str, ...] = ()) -> list[Path]:
    return [p for p in sorted((ROOT / directory).rglob("*.py"))
            if str(p.relative_to(ROOT)) not in skip and "migrations" not in p.parts]


FIX = ('write one Chinese msgid (N_ / translate / ServiceError(msgid, **params)) and its English in '
       'core/translations/en/LC_MESSAGES/messages.po; render it in the reader\'s locale')


@pytest.mark.parametrize("directory", ["core", "tvportal", "voice", "devices", "console", "xiaoyuan"])
def test_no_pair_literal_or_split_in_a_surface_or_core(directory):
    """Each text is a catalogued msgid rendered per reader, never "中文 / English" cut at " / "."""
    found = _problems(_python_files(directory, skip=CONFIG_FILES))
    assert not found, f"{FIX}: {found}"


def test_no_pair_literal_in_the_config_messages():
    """`xiaoyuan check` and settings errors follow the same rule."""
    found = _problems([ROOT / name for name in CONFIG_FILES])
    assert not found, f"{FIX}: {found}"


def test_the_check_finds_what_it_forbids():
    """The rule can fail: a pair literal, a pair f-string and a split at " / " are each reported."""
    source = '''
"""模块 / module docstring is fine."""
A = "找不到 / not found"
B = f"未知类别 / unknown category: {x}"
C = text.split(" / ")[0]
D = "满意 / 基本满意 / 不满意"
E = "中文"  # 中文 / English in a comment is fine
'''
    found = problems_in(source)
    assert [line.split(":")[0] for line in found] == ["line 3", "line 4", "line 5"], found
