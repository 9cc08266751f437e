"""Console sign-in: Flask-Login setup, login / logout pages, `staff_required` and `current_staff`."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, flash, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_babel import get_locale, gettext
from flask_login import LoginManager, current_user, login_user, logout_user
from werkzeug.wrappers import Response

from console.blueprint import bp
from console.db import db_session
from console.nav import ROLE_LABELS, nav_for
from core.clock import to_local
from core.container import current_services
from core.errors import RateLimited
from core.i18n import N_
from core.models.staff import User
from core.people import sessions
from core.people.users import LoginLimits, sign_in_limited

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def _load_user(user_id: str) -> User | None:
    """Flask-Login user loader: the active staff user with this id, while the session is still live.

    A session ended server-side (logout anywhere, new password, deactivation, role change), idle too
    long or past its lifetime is cleared: the cookie is worth nothing any more.
    """
    try:
        uid = int(user_id)
    except (TypeError, ValueError):
        return None
    user = db_session().get(User, uid)
    now = current_services().clock.now()
    policy = sessions.SessionPolicy.from_settings(current_services().settings)
    if user is None or not user.active or not sessions.is_live(flask_session, version=user.session_version, now=now,
                                                                  policy=policy):
        flask_session.clear()
        return None
    sessions.touch(flask_session, now=now)
    return user


def init_login(app: Flask) -> LoginManager:
    """Attach a LoginManager to the app (users load from the per-request session)."""
    manager = LoginManager()
    manager.login_view = "console.login"
    manager.login_message = N_("请先登录")
    manager.login_message_category = "warning"
    manager.session_protection = "basic"
    manager.user_loader(_load_user)
    manager.init_app(app)
    return manager


def optional_staff() -> User | None:
    """The signed-in staff User, or None."""
    if not current_user or not current_user.is_authenticated:
        return None
    return current_user._get_current_object()


def current_staff() -> User:
    """The signed-in staff User of a `staff_required` page (401 if nobody is signed in)."""
    user = optional_staff()
    if user is None:
        abort(401)
    return user


def safe_next(target: str | None) -> str | None:
    """A redirect target only when it stays on this site: a plain absolute path, no scheme or host.

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so `/\t/evil.example`
    becomes `//evil.example` (another host): any control character, whitespace or backslash refuses
    the target, and so does anything `urlsplit` reads a scheme or host from.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def staff_required(*roles: str) -> Callable[[F], F]:
    """Pages for signed-in staff (optionally only these roles); others go to the login page / get 403."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = optional_staff()
            if user is None:
                return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
            if roles and user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


@bp.context_processor
def console_context() -> dict[str, Any]:
    """Template globals of every console page: the user, their menu, role names, the language."""
    user = optional_staff()
    try:
        lang = str(get_locale() or "zh")
    except Exception:
        lang = "zh"
    return {
        "console_user": user,
        "console_nav": [i for i in nav_for(user.role if user else None) if i.endpoint in current_app.view_functions],
        "role_labels": ROLE_LABELS,
        "console_lang": "zh-CN" if lang.startswith("zh") else lang,
    }


@bp.app_template_filter("xy_time")
def format_local_time(value: dt.datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    """A UTC datetime shown in local (Asia/Shanghai) time; empty for None."""
    return to_local(value).strftime(fmt) if value is not None else ""


@bp.app_template_filter("xy_staff")
def staff_with_role(user: Any) -> str:
    """"王芳（村干部）": a staff member's name and role; the bare name when it already says the role, as many do
    ("李院长", the demo's "林凤英（椒香小院院长）", "桂花村网格员")."""
    name = user.display_name or user.username
    role = ROLE_LABELS.get(user.role, user.role)
    if role in name:
        return name
    return f"{name}{gettext('（')}{gettext(role)}{gettext('）')}"


@bp.app_template_filter("xy_translate")
def translate_message(message: str) -> str:
    """Translate a flashed message if it is a catalogue msgid; never %-format it (it may hold user text)."""
    try:
        return gettext(message)
    except (KeyError, RuntimeError):  # Babel not initialised on this app
        return message


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    """Sign in with username and password (argon2); attempts limited per client address and per username."""
    if optional_staff() is not None and request.method == "GET":
        return redirect(url_for("console.dashboard"))
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        services = current_services()
        now = services.clock.now()
        db_session().commit()  # the limits use transactions of their own (on SQLite this one would block them)
        try:
            user = sign_in_limited(services.session_factory, now=now, username=username, password=password,
                                   client_addr=request.remote_addr or "", limits=LoginLimits.from_settings(
                                       services.settings))
        except RateLimited as exc:
            flash(exc.message, "error")
            return render_template("console/login.html", username=username), 429
        if user is None:
            log.info("console login failed for a username of length %d", len(username))
            flash(N_("用户名或密码不对"), "error")
            return render_template("console/login.html", username=username), 401
        flask_session.clear()  # nothing from before sign-in carries over
        login_user(user)
        sessions.stamp(flask_session, version=user.session_version, now=now)
        return redirect(safe_next(request.args.get("next")) or url_for("console.dashboard"))
    return render_template("console/login.html", username="")


@bp.post("/logout")
def logout() -> Response:
    """Sign out everywhere: every session of this user ends, on this device and any other.

    A POST with the CSRF token, so other sites cannot sign anyone out.
    """
    user = optional_staff()
    if user is not None:
        db = db_session()
        sessions.end_all_sessions(db, now=current_services().clock.now(), user_id=user.id, actor=user, reason="logout")
        db.commit()
    logout_user()
    flask_session.clear()
    flash(N_("已退出登录"), "info")
    return redirect(url_for("console.login"))
