"""The app factory: one Flask app with the TV, voice, console and API surfaces, /healthz and /metrics."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import secrets
from typing import Any

from flask import Flask, has_request_context, request
from flask.json.provider import DefaultJSONProvider
from flask_babel import Babel, get_translations
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter, ValidationError

import console
import tvportal
import voice
from console.setup import init_console
from core.community.tvboxes import TvConfig
from core.container import Services
from core.i18n import DEFAULT_LOCALE, LOCALES, TRANSLATIONS_DIR
from core.private_files import kept_secret
from xiaoyuan.security_headers import init_security_headers

log = logging.getLogger(__name__)


def _import_all(package) -> None:
    """Import every module of a surface so all routes are attached to its blueprint."""
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")


def secret_key_for(services: Services) -> str:
    """The configured secret key, or one generated once and kept (mode 0600) in the data dir."""
    if services.settings.web.secret_key:
        return services.settings.web.secret_key
    return kept_secret(services.settings.data_dir / "secret_key", lambda: secrets.token_hex(32))


MAX_ID = 2**31 - 1  # ids are 32-bit integers on every backend


class BoundedIdConverter(IntegerConverter):
    """`<int:...>` in every route: a number past any id is simply not found (404), never bound to SQL (a 500)."""

    def to_python(self, value: str) -> int:
        """The id, or no match for numbers no row can have."""
        number = int(super().to_python(value))
        if number > MAX_ID:
            raise ValidationError()
        return number


def select_locale() -> str:
    """?lang=, then (console only) the lang cookie and the signed-in user's locale, else Chinese."""
    wanted = request.args.get("lang")
    if wanted in LOCALES:
        return wanted
    if request.blueprint in ("tv", "voice"):
        return DEFAULT_LOCALE  # elders' TVs and the phone line stay Chinese unless a page asks otherwise
    wanted = request.cookies.get("lang")
    if wanted in LOCALES:
        return wanted
    try:
        from flask_login import current_user

        user_locale = getattr(current_user, "locale", None)
        if user_locale in LOCALES:
            return user_locale
    except Exception:
        log.debug("no user locale")
    return DEFAULT_LOCALE


def _request_translations() -> Any:
    """The catalogue of this request's language, looked up once per request (Flask-Babel's own lookup runs
    on every `_()`, about two dozen times on a TV home); outside a request, Flask-Babel's answer."""
    if not has_request_context():
        return get_translations()
    found = getattr(request, "_xy_translations", None)
    if found is None:
        found = get_translations()
        request._xy_translations = found  # type: ignore[attr-defined]  # one request's own cache
    return found


def _translate_once_per_request(app: Flask) -> None:
    """Templates' `_()` and friends read the request's catalogue once (same texts as Flask-Babel's own)."""
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]  # added by jinja2.ext.i18n
        gettext=lambda s: _request_translations().ugettext(s),
        ngettext=lambda s, p, n: _request_translations().ungettext(s, p, n),
        pgettext=lambda c, s: _request_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _request_translations().unpgettext(c, s, p, n),
        newstyle=True,
    )


def create_app(services: Services) -> Flask:
    """Build the web app around already-wired services (no engines or threads are created here)."""
    for package in (tvportal, voice, console):
        _import_all(package)
    from console.bin_scan import qr as qr_bp
    from console.blueprint import api as api_bp
    from console.blueprint import bp as console_bp
    from console.market_public import bp as market_bp
    from tvportal.views import bp as tv_bp
    from voice.webhooks import bp as voice_bp

    app = Flask(__name__)
    app.url_map.converters["int"] = BoundedIdConverter  # before the blueprints add their rules
    app.extensions["xiaoyuan"] = services
    settings = services.settings
    app.config.update(
        SECRET_KEY=secret_key_for(services),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.web.secure_cookies,
        REMEMBER_COOKIE_SECURE=settings.web.secure_cookies,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        JSON_AS_ASCII=False,
    )
    if isinstance(app.json, DefaultJSONProvider):
        app.json.ensure_ascii = False
    Babel(
        app,
        locale_selector=select_locale,
        default_locale=DEFAULT_LOCALE,
        default_timezone="Asia/Shanghai",
        default_translation_directories=str(TRANSLATIONS_DIR),
    )
    _translate_once_per_request(app)
    for bp in (tv_bp, voice_bp, console_bp, api_bp, qr_bp, market_bp):
        app.register_blueprint(bp)
    csrf = init_console(app)
    # TV boxes authenticate with their box token; Twilio with its request signature.
    csrf.exempt(tv_bp)
    csrf.exempt(voice_bp)
    _add_operations_routes(app)
    init_security_headers(app, secure=settings.web.secure_cookies,
                          photo_hosts=TvConfig.from_settings(settings).photo_hosts)
    if settings.web.proxies > 0:
        # Behind nginx: the login rate limit must count real client addresses, not the proxy's.
        # Flask's documented way to add WSGI middleware; mypy sees a method being replaced.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.web.proxies,  # type: ignore[method-assign]
                                x_proto=settings.web.proxies, x_host=settings.web.proxies)
    return app


def _add_operations_routes(app: Flask) -> None:
    """/healthz and /metrics (one blueprint, xiaoyuan.operations) and a plain landing page."""
    from xiaoyuan.operations import bp as operations_bp

    app.register_blueprint(operations_bp)

    @app.get("/")
    def index():
        """A plain landing page pointing to the surfaces."""
        return (
            "<!doctype html><meta charset=utf-8><title>小院+</title>"
            "<h1>小院+ xiaoyuan</h1><ul>"
            "<li><a href='/tv/'>电视首页 TV</a></li><li><a href='/console/'>工作台 Console</a></li>"
            "<li><a href='/api/v1/openapi.json'>API</a></li><li><a href='/healthz'>healthz</a></li></ul>"
        )
