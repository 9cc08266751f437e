"""The phone line: TwiML webhooks at /voice/."""

from flask import Blueprint

bp = Blueprint("voice", __name__, url_prefix="/voice")
