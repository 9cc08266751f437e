"""The app factory: one Flask app with the TV, voice, console and API surfaces."""

from __future__ import annotations

import importlib
import pkgutil

from flask import Flask

import console
import tvportal
import voice
from core.container import Services


def _import_all(package) -> None:  # noqa: ANN001
    """Import every module of a surface so all routes are attached to its blueprint."""
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")


def create_app(services: Services) -> Flask:
    """Build the web app around already-wired services (no engines or threads are created here)."""
    for package in (tvportal, voice, console):
        _import_all(package)
    from console.blueprint import api as api_bp
    from console.blueprint import bp as console_bp
    from tvportal.views import bp as tv_bp
    from voice.webhooks import bp as voice_bp

    app = Flask(__name__)
    app.extensions["xiaoyuan"] = services
    for bp in (tv_bp, voice_bp, console_bp, api_bp):
        app.register_blueprint(bp)
    return app
