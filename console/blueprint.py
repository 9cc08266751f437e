"""The staff console blueprint (/console/) and the JSON API blueprint (/api/v1/).

Feature modules register their routes on these blueprints by importing them; `console.register`
imports every feature module so that the routes exist before the blueprint is registered.
"""

from flask import Blueprint

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates", static_folder="static")
api = Blueprint("api", __name__, url_prefix="/api/v1")
