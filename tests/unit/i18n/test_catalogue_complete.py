"""The English catalogue is complete: every Chinese source string has an English translation with the same slots."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from core.i18n import TRANSLATIONS_DIR

ROOT = Path(__file__).resolve().parents[3]
POT = TRANSLATIONS_DIR / "messages.pot"
EN_PO = TRANSLATIONS_DIR / "en" / "LC_MESSAGES" / "messages.po"
FIX = "run `make translations`, then write the English msgstr in core/translations/en/LC_MESSAGES/messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdifr]|%[sdifr]")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def _keywords() -> dict:
    """Babel's default keywords plus the `-k` ones the Makefile's `translations` target passes."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    extra = re.findall(r"-k\s+(\w+)", makefile)
    assert "translate" in extra and "N_" in extra, "the Makefile's extract command lost its -k keywords"
    return {**DEFAULT_KEYWORDS, **{k: DEFAULT_KEYWORDS.get(k) for k in extra}}


@pytest.fixture(scope="module")
def english() -> Catalog:
    """The English .po (source of truth; the .mo is build output)."""
    assert EN_PO.is_file(), f"missing {EN_PO.relative_to(ROOT)}: {FIX}"
    return _read(EN_PO, "en")


@pytest.fixture(scope="module")
def source_msgids() -> dict[str, str]:
    """Every msgid in the code and templates right now, extracted as `make translations` does (msgid -> place)."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=_keywords()
    ):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def _slots(text: str) -> list[str]:
    return sorted(m.group(0) for m in PLACEHOLDER.finditer(text))


def test_every_msgid_in_the_template_has_english(english):
    """No text in messages.pot shows up in Chinese for a reader who chose English."""
    missing = [m.id for m in _read(POT) if m.id and not (english.get(m.id) and english.get(m.id).string)]
    assert not missing, f"{len(missing)} msgid(s) without English: {missing[:10]}; {FIX}"


def test_every_string_in_the_code_has_english(english, source_msgids):
    """A newly wrapped string fails here until it is extracted and translated (catches a stale messages.pot)."""
    missing = {msgid: where for msgid, where in source_msgids.items()
               if not (english.get(msgid) and english.get(msgid).string)}
    assert not missing, f"{len(missing)} new string(s) without English, e.g. {list(missing.items())[:10]}; {FIX}"


def test_catalogue_finds_the_known_strings(source_msgids):
    """The extraction really reads templates, `N_()` marks and `translate()` calls (so the tests above can fail)."""
    assert "登录工作台" in source_msgids  # console/templates/console/login.html
    assert "请先登录" in source_msgids  # console/auth.py, N_()
    assert "新工单 #%(id)s（%(type)s）：%(text)s" in source_msgids  # core/requests/workorders.py, translate()


def test_placeholders_match(english):
    """Every %(name)s slot of the Chinese text is in the English text and no new one is invented."""
    wrong = [(m.id, m.string) for m in english if m.id and m.string and _slots(m.id) != _slots(m.string)]
    assert not wrong, f"placeholders differ between msgid and msgstr: {wrong}"


def test_english_fills_its_slots(english):
    """Each English string formats with the names its Chinese source uses (what Flask-Babel and translate do)."""
    for m in english:
        if m.id and m.string and "%(" in m.id:
            params = dict.fromkeys(re.findall(r"%\((\w+)\)", m.id), "x")
            assert "%(" not in m.string % params, m.id


def test_no_fuzzy_or_untranslated_chinese(english):
    """Fuzzy entries are left out of the compiled catalogue, and Chinese in msgstr is a copy, not a translation."""
    fuzzy = [m.id for m in english if m.id and m.fuzzy]
    assert not fuzzy, f"fuzzy entries are not compiled, review them and drop the fuzzy flag: {fuzzy}"
    chinese = [(m.id, m.string) for m in english if m.id and CJK.search(m.string or "")]
    assert not chinese, f"English msgstr still contains Chinese: {chinese}"
