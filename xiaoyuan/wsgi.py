"""WSGI entry for gunicorn: `gunicorn -w 4 'xiaoyuan.wsgi:create_app()'` (one app per worker process)."""

from __future__ import annotations

from flask import Flask

from core.settings import load_settings
from xiaoyuan import app as app_module
from xiaoyuan.bootstrap import build_services


def create_app() -> Flask:
    """Build settings, services and the app for one server process."""
    return app_module.create_app(build_services(load_settings(), tts=True))
