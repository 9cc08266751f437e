"""Pure helpers of the TV pages: notice paging; shipped JavaScript parses as ES5."""

from __future__ import annotations

from pathlib import Path

import esprima
import pytest

from tvportal.pages import split_pages

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


def test_notice_pages_split_at_sentences_and_keep_everything():
    body = "第一句话。" * 40 + "\n第二段。"
    pages = split_pages(body, 60)
    assert all(len(p) <= 61 for p in pages)
    assert "".join(pages).replace("\n", "") == body.replace("\n", "")
    assert split_pages("", 60) == [""]
