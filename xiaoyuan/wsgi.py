"""WSGI entry for gunicorn: `gunicorn -w 4 'xiaoyuan.wsgi:create_app()'` (one app per worker process)."""

from __future__ import annotations

from flask import Flask

from core.logsafe import configure_logging
from core.private_files import restrict_umask
from core.settings import load_settings
from xiaoyuan import app as app_module
from xiaoyuan.bootstrap import build_role


def create_app() -> Flask:
    """Build settings, services (the same as every other role's, speech recognition included) and the app."""
    restrict_umask()  # the database, recordings and uploads it creates hold personal data
    settings = load_settings()
    # gunicorn configures only its own loggers: without this the app's INFO lines (alerts raised, calls
    # placed, speech recognition off) never reach its error log.
    configure_logging(settings.log.level)
    return app_module.create_app(build_role("wsgi", settings))
