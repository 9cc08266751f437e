"""Babel catalogues for text that leaves the web request (SMS, calls, CLI, reports).

Source strings are Simplified Chinese (the default locale); `core/translations/en` holds English.
Web surfaces use Flask-Babel with the same directory.
"""

from __future__ import annotations

import functools
from pathlib import Path

from babel.support import NullTranslations, Translations

TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
DEFAULT_LOCALE = "zh"
LOCALES = ("zh", "en")
# The phone line and the TV's 读给我听 speak with a Chinese voice, so what is spoken is rendered in Chinese.
SPOKEN_LOCALE = DEFAULT_LOCALE


@functools.cache
def _catalogue(locale: str) -> NullTranslations:
    if locale == DEFAULT_LOCALE:
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS_DIR), [locale], domain="messages")


def translate(message: str, locale: str | None = DEFAULT_LOCALE, **params: object) -> str:
    """Translate a Chinese source string into `locale` and fill `%(name)s` parameters.

    This is how every outbound text (SMS, call, TV sentence) is rendered from its template in the
    reader's locale; an unknown or missing locale falls back to Chinese.
    """
    text = _catalogue(locale if locale in LOCALES else DEFAULT_LOCALE).gettext(message)
    return text % params if params else text


def bilingual(message: str, **params: object) -> str:
    """"中文 / English" for a terminal, both halves from the catalogue (Chinese alone when they are the same)."""
    chinese = translate(message, DEFAULT_LOCALE, **params)
    english = translate(message, "en", **params)
    return chinese if english == chinese else f"{chinese} / {english}"


def N_(message: str) -> str:  # noqa: N802 - the conventional marker name
    """Mark a string for extraction without translating it now."""
    return message
