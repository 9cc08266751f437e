"""The console's 中文 / English switch: a tiny route that sets the `lang` cookie and goes back where you were.

The app's locale selector reads `?lang=`, then the `lang` cookie, then the signed-in user's locale. The cookie
is scoped to /console so that a TV opened in the same browser stays Chinese for the elder.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import abort, redirect, request, url_for
from werkzeug.wrappers import Response

from console.auth import safe_next
from console.blueprint import bp
from core.container import current_services
from core.i18n import DEFAULT_LOCALE, LOCALES

COOKIE = "lang"
COOKIE_PATH = "/console"
COOKIE_MAX_AGE = 365 * 24 * 3600
# Each language is named in itself, so nobody has to read a foreign script to find their own.
LANGUAGE_NAMES = {"zh": "中文", "en": "English"}


def without_lang(target: str) -> str:
    """The same path and query without a `lang` parameter (it would override the choice just made)."""
    parts = urlsplit(target)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "lang"]
    return urlunsplit(("", "", parts.path, urlencode(query), parts.fragment))


def back_target(target: str | None) -> str | None:
    """Where to go after switching: a same-site path without `lang`, or None for anything else."""
    safe = safe_next(target)
    if safe is None:
        return None
    cleaned = without_lang(safe)
    # Re-check after rebuilding: the result must still be a plain path on this site.
    return safe_next(cleaned)


def current_language() -> str:
    """The locale this request is rendered in ("zh" or "en")."""
    try:
        from flask_babel import get_locale

        lang = str(get_locale() or DEFAULT_LOCALE)
    except Exception:
        lang = DEFAULT_LOCALE
    lang = lang.split("_")[0].split("-")[0]
    return lang if lang in LOCALES else DEFAULT_LOCALE


@bp.get("/lang/<code>")
def set_language(code: str) -> Response:
    """Remember the chosen console language in the `lang` cookie and go back to the page it was chosen on."""
    if code not in LOCALES:
        abort(404)
    target = back_target(request.args.get("next")) or url_for("console.dashboard")
    response = redirect(target)
    response.set_cookie(
        COOKIE, code, max_age=COOKIE_MAX_AGE, path=COOKIE_PATH, samesite="Lax", httponly=True,
        secure=current_services().settings.web.secure_cookies,
    )
    return response


@bp.context_processor
def language_switch() -> dict[str, Any]:
    """`language_links` for the base template: each language, its switch URL, and whether it is in use."""
    here = without_lang(request.full_path.rstrip("?") or request.path)
    now = current_language()
    return {
        "language_links": [
            {"code": code, "name": LANGUAGE_NAMES[code], "current": code == now,
             "html_lang": "zh-CN" if code == "zh" else code,
             "url": url_for("console.set_language", code=code, next=here)}
            for code in LOCALES
        ]
    }
