"""Pure helpers of the TV pages: notice paging, the page Back returns to; shipped JavaScript parses as ES5."""

from __future__ import annotations

from pathlib import Path

import esprima
import pytest
from flask import Flask

from tvportal.pages import _focused_page, split_lines

STATIC = Path(__file__).resolve().parents[3] / "tvportal" / "static"

# Node types and flags that exist only in ES2015+ (esprima parses ES2017; we reject anything newer than ES5).
ES2015_NODES = {
    "ArrowFunctionExpression", "ClassDeclaration", "ClassExpression", "TemplateLiteral", "TaggedTemplateExpression",
    "SpreadElement", "RestElement", "ForOfStatement", "AssignmentPattern", "ArrayPattern", "ObjectPattern",
    "ImportDeclaration", "ExportNamedDeclaration", "ExportDefaultDeclaration", "YieldExpression", "AwaitExpression",
    "MetaProperty", "Super",
}


def es5_violations(source: str) -> list[str]:
    """Parse with esprima and list every construct that is not ES5."""
    problems: list[str] = []

    def visit(node) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
            return
        if not hasattr(node, "type"):
            return
        kind = node.type
        if kind in ES2015_NODES:
            problems.append(kind)
        if kind == "VariableDeclaration" and node.kind != "var":
            problems.append(f"{node.kind} declaration")
        if kind == "Property" and (node.shorthand or node.method or node.computed):
            problems.append("ES2015 object literal property")
        if kind in ("FunctionDeclaration", "FunctionExpression") and (node.generator or node.isAsync):
            problems.append("generator/async function")
        if kind == "Literal" and getattr(node, "regex", None) and set(node.regex.flags) - set("gim"):
            problems.append("regex flag")
        for key, value in vars(node).items():
            if key not in ("type", "range", "loc"):
                visit(value)

    visit(esprima.parseScript(source).body)
    return problems


def test_es5_checker_catches_newer_syntax():
    for source in ("let a = 1;", "var f = (x) => x;", "var s = `x`;", "class A {}", "var o = {a};",
                   "var o = {m() {}};", "function* g() {}", "var [a] = [1];", "for (var x of []) {}"):
        assert es5_violations(source), source
    assert es5_violations("var a = function () { return {b: 1}; };") == []


@pytest.mark.parametrize("name", sorted(p.name for p in STATIC.glob("*.js")))
def test_shipped_javascript_is_es5(name):
    assert es5_violations((STATIC / name).read_text(encoding="utf-8")) == []


def test_notice_pages_fit_the_lines_of_the_body_box():
    """A page never holds more visual lines than the TV's notice box shows (short paragraphs count as lines)."""
    body = "\n".join(["今冬明春要集中整治院坝环境，每户把门前屋后打扫干净，柴火码放整齐。垃圾分类投放。"] * 6)
    pages = split_lines(body, 34, 5)
    for page in pages:
        lines = sum(max(1, -(-len(paragraph) // 34)) for paragraph in page.split("\n"))
        assert lines <= 5, page
    assert "".join(pages).replace("\n", "") == body.replace("\n", "")  # nothing lost
    short = split_lines("\n".join(f"第{i}条" for i in range(12)), 34, 5)
    assert [len(page.split("\n")) for page in short] == [5, 5, 2]
    assert split_lines("字" * 150, 34, 5, first_chars_per_line=25) == ["字" * 125, "字" * 25]  # beside a photo
    assert split_lines("", 34, 5) == [""]


@pytest.mark.parametrize(("query", "page"), [
    ("f=job-7", 2),  # back from job 7 (the 5th row, 3 a page): its page
    ("f=job-7&p=1", 1),  # a page asked for wins
    ("f=job-99", 1), ("f=notice-7", 1), ("p=2", 2), ("", 1),
])
def test_back_from_a_row_opens_the_page_holding_it(query, page):
    items = [{"id": row_id} for row_id in (3, 4, 5, 6, 7, 8)]
    with Flask(__name__).test_request_context(f"/tv/jobs?{query}"):
        assert _focused_page(items, "job-", 3) == page
