"""Wires the console into an app: login manager, CSRF, session lifetime, secure cookies, JSON errors.

Importing this module has no side effects beyond creating the (unbound) extension objects;
the app factory calls `init_console(app)` after registering the blueprints.
"""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from core.people.sessions import SessionPolicy

csrf = CSRFProtect()


def init_console(app: Flask) -> CSRFProtect:
    """Set up login, CSRF (the token API is exempt), session cookies and the console's hooks.

    Expects `app.extensions["xiaoyuan"]` (Services) and a secret key; returns the CSRFProtect
    so the caller can exempt other blueprints (`csrf.exempt(bp)`).
    """
    from console import api as api_module
    from console import auth
    from console.blueprint import api
    from console.db import close_db_session

    settings = app.extensions["xiaoyuan"].settings
    secure = bool(settings.web.secure_cookies)
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config["SESSION_COOKIE_SECURE"] = secure
    app.config["REMEMBER_COOKIE_SECURE"] = secure
    app.config["REMEMBER_COOKIE_HTTPONLY"] = True
    # Signed cookies older than a session's lifetime are refused outright (core.people.sessions ends
    # them earlier: logout, new password, idle timeout).
    app.config["PERMANENT_SESSION_LIFETIME"] = SessionPolicy.from_settings(settings).lifetime
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 8 * 3600)  # a shift; forms left open at noon still post
    auth.init_login(app)
    csrf.init_app(app)
    csrf.exempt(api)
    app.teardown_appcontext(close_db_session)
    api_module.init_api_errors(app)
    return csrf
