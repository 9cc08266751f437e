"""The elder's TV: Flask blueprint at /tv/ (server-rendered, ES5 only, remote-driven).

This module knows who is watching: every request is tied to a box by its token (cookie `xy_tv`,
or `t` in the URL / form for boxes without cookies). A box that is not paired to a household sees
only the pairing screen. POSTs carry the token in the form body, which doubles as the CSRF token
(a page on another site cannot read it), so the TV needs no separate CSRF machinery.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, abort, g, redirect, request, url_for
from sqlalchemy.orm import Session

from core.community.tvboxes import TvConfig, box_for_token, paired_household_id, seen_is_due
from core.container import Services, current_services
from core.db import read_only, transaction
from core.i18n import LOCALES
from tvportal.homecache import TvCache, cache_for
from tvportal.seen import seen_boxes_for

bp = Blueprint("tv", __name__, url_prefix="/tv", template_folder="templates", static_folder="static")

COOKIE = "xy_tv"


def _fallback_gettext(message: str, **params: Any) -> str:
    return message % params if params else message


@bp.record_once
def _install_template_helpers(state: Any) -> None:
    """Templates use `_()`; the app factory's Flask-Babel replaces this fallback when it is installed."""
    state.app.jinja_env.globals.setdefault("_", _fallback_gettext)


def services() -> Services:
    """The process services."""
    return current_services()


def tv_config() -> TvConfig:
    """The `[tv]` settings."""
    return TvConfig.from_settings(services().settings)


def tv_cache() -> TvCache:
    """This process's cache of rendered homes and shared boards (emptied by any write)."""
    svc = services()
    return cache_for(svc.session_factory, tv_config().home_cache_seconds,
                     lambda: svc.clock.now().timestamp())


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A database transaction for one request."""
    with transaction(services().session_factory) as session:
        yield session


@contextmanager
def read_unit() -> Iterator[Session]:
    """A read-only unit of work (on SQLite it never queues behind writers)."""
    with read_only(services().session_factory) as session:
        yield session


def request_token() -> tuple[str | None, bool]:
    """The box token of this request and whether it came from the URL/form (no cookie).

    An explicit `t` in the URL wins over the cookie: an installer opening a box's link
    on a browser that was paired before must see that box, not the old one.
    """
    token = request.args.get("t")
    if token:
        return token, True
    cookie = request.cookies.get(COOKIE)
    if cookie:
        return cookie, False
    token = request.form.get("t") if request.method == "POST" else None
    return (token or None), bool(token)


@bp.before_request
def _identify_box() -> None:
    token, from_url = request_token()
    g.tv_token = token
    g.tv_url_token = from_url
    g.tv_box_id = None
    g.tv_household_id = None
    g.tv_text_size = "standard"
    g.tv_voice = False
    if not token:
        return
    now = services().clock.now()
    with read_unit() as session:
        box = box_for_token(session, token)
        if box is None:
            return
        g.tv_box_id = box.id
        g.tv_household_id = paired_household_id(box)
        g.tv_text_size = box.text_size
        g.tv_voice = bool(box.voice_guide) and g.tv_household_id is not None
        if seen_is_due(box, now):  # at most once a minute; written a moment later with the other boxes
            seen_boxes_for(services().session_factory).note(box.id, now)


@bp.app_template_global("tvurl")
def tvurl(endpoint: str, **values: Any) -> str:
    """url_for for TV pages, carrying the box token in the URL when the box has no cookie.

    A page opened with ?lang= keeps that language on every link: the TV has no language cookie.
    """
    token = g.get("tv_token")
    if getattr(g, "tv_url_token", False) and token and request.cookies.get(COOKIE) != token:
        values.setdefault("t", token)  # a box whose cookie already holds this token needs no token in links
    lang = request.args.get("lang")
    if lang in LOCALES:
        values.setdefault("lang", lang)
    return url_for(endpoint, **values)


def household_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Only a paired box may see a page; anything else is sent to the pairing screen."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if g.get("tv_household_id") is None:
            return redirect(tvurl("tv.index"))
        return view(*args, **kwargs)

    return wrapper


def require_form_token() -> None:
    """Every TV POST must carry the box's own token in its body (this is the CSRF protection)."""
    sent = request.form.get("t", "")
    if not g.get("tv_token") or not hmac.compare_digest(sent.encode(), g.tv_token.encode()):
        abort(403)
