"""IVR prompt texts from config/prompts/prompts.toml (Chinese spoken, English for staff)."""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

PROMPTS_FILE = Path(__file__).resolve().parent.parent / "config" / "prompts" / "prompts.toml"


@functools.cache
def load_prompts(path: Path = PROMPTS_FILE) -> dict[str, dict[str, str]]:
    """All prompts by id: {"zh": ..., "en": ...}."""
    with path.open("rb") as fh:
        return tomllib.load(fh)


def prompt_text(prompt_id: str, locale: str = "zh", **fields: object) -> str:
    """The text of a prompt with its `{fields}` filled in."""
    entry = load_prompts()[prompt_id]
    text = entry.get(locale) or entry["zh"]
    return text.format(**fields) if fields else text


def is_fixed(prompt_id: str) -> bool:
    """Whether a prompt has no fields (so a recorded human file can replace it)."""
    return "{" not in load_prompts()[prompt_id]["zh"]
