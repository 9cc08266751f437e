"""The phone line understands realistic Chongqing phrasings: accuracy over tests/data/intent_corpus.csv.

Each row is a transcript as vosk returns it (spaces, homophones, numerals as words), the intent the
line must choose ("none": nothing understood) and the exact fields it must extract. Rows marked
"held" were written before the classifier was tuned and never used to tune it; "tune" rows were.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from voice.intents import EMERGENCY, INTENTS, classify

CORPUS = Path(__file__).resolve().parents[2] / "data" / "intent_corpus.csv"
REQUIRED_ACCURACY = 0.95


def _rows() -> list[dict[str, str]]:
    with CORPUS.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _expected_fields(spec: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in spec.split(";") if pair)


def _understood(text: str) -> tuple[str, dict[str, str]]:
    """(intent name or "none", fields as text) for one transcript."""
    found = classify(text)
    if found is None:
        return "none", {}
    return found.name, {key: str(value) for key, value in found.fields.items()}


def _misses(rows: list[dict[str, str]]) -> list[str]:
    out = []
    for row in rows:
        got = _understood(row["text"])
        if got != (row["intent"], _expected_fields(row["fields"])):
            out.append(f"{row['split']}: {row['text']!r} expected {row['intent']} {row['fields'] or '{}'}, "
                       f"got {got[0]} {got[1]}")
    return out


def _accuracy(rows: list[dict[str, str]]) -> float:
    return 1 - len(_misses(rows)) / len(rows)


def test_corpus_is_large_covers_every_intent_and_keeps_a_held_out_part() -> None:
    rows = _rows()
    assert len(rows) >= 150
    assert {r["intent"] for r in rows} == {*INTENTS, "none"}
    assert {r["split"] for r in rows} == {"tune", "held"}
    held = [r for r in rows if r["split"] == "held"]
    assert len(held) >= 50 and {r["intent"] for r in held} == {*INTENTS, "none"}


def test_corpus_accuracy_is_at_least_95_percent(capsys: pytest.CaptureFixture[str]) -> None:
    """Intent and fields both count; a failure lists every miss, and -s shows the figures per split."""
    rows = _rows()
    misses = _misses(rows)
    accuracy = 1 - len(misses) / len(rows)
    with capsys.disabled():
        for split in ("tune", "held"):
            part = [r for r in rows if r["split"] == split]
            print(f"\nintent corpus {split}: {_accuracy(part):.1%} of {len(part)}")
        print(f"intent corpus all: {accuracy:.1%} of {len(rows)}; misses:\n  " + "\n  ".join(misses or ["none"]))
    assert accuracy >= REQUIRED_ACCURACY, f"{accuracy:.1%} < 95 %; misses:\n" + "\n".join(misses)


def test_tuned_rows_are_all_understood() -> None:
    """The rows the classifier was tuned on stay right (a change that breaks one is a regression)."""
    misses = _misses([r for r in _rows() if r["split"] == "tune"])
    assert not misses, "\n".join(misses)


@pytest.mark.parametrize("row", [r for r in _rows() if r["intent"] == EMERGENCY], ids=lambda r: r["text"])
def test_every_emergency_phrasing_is_an_emergency(row: dict[str, str]) -> None:
    """A fall, a pain or a cry for help is never filed as anything else."""
    found = classify(row["text"])
    assert found is not None and found.is_emergency


def test_nothing_else_in_the_corpus_is_taken_for_an_emergency() -> None:
    """A false emergency rings the family: rubbish 甩到 the road, a 留学 grandson, a dropped bowl are not one."""
    false = [r["text"] for r in _rows() if r["intent"] != EMERGENCY and _understood(r["text"])[0] == EMERGENCY]
    assert not false
