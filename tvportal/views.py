"""The elder's TV: Flask blueprint at /tv/ (server-rendered, ES5 only, remote-driven)."""

from flask import Blueprint

bp = Blueprint("tv", __name__, url_prefix="/tv", template_folder="templates", static_folder="static")
