"""Security headers on every response; the console's pages carry no inline script, so the CSP can forbid it."""

from __future__ import annotations

import re
from pathlib import Path

from core.container import Services
from core.settings import load_settings
from tests.integration.console.conftest import login_as

TEMPLATE_DIRS = [Path(__file__).resolve().parents[3] / d for d in ("console/templates", "tvportal/templates")]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)


def _assert_hardened(response, path: str) -> None:
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    script_src = next((part for part in csp.split(";") if part.strip().startswith("script-src")), "")
    assert script_src.strip() == "script-src 'self'", (path, csp)
    assert "frame-ancestors 'none'" in csp, path
    assert headers.get("X-Content-Type-Options") == "nosniff", path
    assert headers.get("Referrer-Policy") == "no-referrer", path
    assert headers.get("X-Frame-Options") == "DENY", path


def test_every_kind_of_response_is_hardened(web, world):
    for path in ("/", "/console/login", "/tv/", "/api/v1/openapi.json", "/api/v1/residents", "/healthz",
                 "/no-such-page", "/console/static/alert-board.js"):
        response = web.get(path)
        try:
            _assert_hardened(response, path)
        finally:
            response.close()  # static files are streamed from an open file
    login_as(web, world.users["admin"])
    for path in ("/console/", "/console/alerts", "/console/users", "/console/tv/notices"):
        r = web.get(path)
        assert r.status_code == 200, path
        _assert_hardened(r, path)
    assert "Strict-Transport-Security" not in web.get("/console/").headers  # plain http: no HSTS


def test_hsts_when_cookies_are_secure(session_factory, clock, tmp_path, world):
    from xiaoyuan.app import create_app

    secure = load_settings(environ={}, overrides={"data": {"dir": str(tmp_path / "s")},
                                                  "web": {"secure_cookies": True}})
    app = create_app(Services(settings=secure, session_factory=session_factory, clock=clock))
    assert app.test_client().get("/console/login").headers["Strict-Transport-Security"].startswith("max-age=")


def test_templates_have_no_inline_script_or_event_handlers():
    """The CSP forbids inline script: a template with <script>…</script> or onclick= would silently break."""
    offenders = []
    for folder in TEMPLATE_DIRS:
        for path in folder.rglob("*.html"):
            text = path.read_text(encoding="utf-8")
            if INLINE_SCRIPT.search(text) or INLINE_HANDLER.search(text) or "javascript:" in text:
                offenders.append(str(path.relative_to(folder.parent.parent)))
    assert offenders == []


def test_the_alert_board_script_is_served_from_a_file(web, world):
    login_as(web, world.users["admin"])
    page = web.get("/console/alerts").get_data(as_text=True)
    assert '<script src="/console/static/alert-board.js"></script>' in page
    script = web.get("/console/static/alert-board.js")
    assert script.status_code == 200 and b"data-live-url" in script.data
    script.close()
