"""The public market page (/market/): open 帮我卖 listings by village for buyers from town, and 我要买.

No login. The pages show a village and a household label only — never an elder's name or phone
number — and 我要买 is a CSRF-protected form whose attempts are limited in the database.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import gettext

from console.common import error_text, public_page_language
from console.db import db_session
from core.community import market as market_service
from core.container import current_services
from core.errors import NotFound, ServiceError

bp = Blueprint("market", __name__, url_prefix="/market", template_folder="templates")


bp.context_processor(public_page_language)


@bp.get("/")
def index() -> Any:
    """Every open listing, grouped by village, in large text."""
    villages = market_service.open_listings_by_village(db_session())
    return render_template("market/index.html", villages=villages)


def _item_page(listing_id: int, *, error: str = "", done: bool = False, status: int = 200) -> Any:
    try:
        item = market_service.public_listing(db_session(), listing_id)
    except NotFound as exc:
        return render_template("market/gone.html", message=error_text(exc)), 404
    return render_template("market/item.html", item=item, error=error, done=done, form=request.form), status


@bp.get("/<int:listing_id>")
def item(listing_id: int) -> Any:
    """One listing with the 我要买 form."""
    return _item_page(listing_id)


@bp.post("/<int:listing_id>/buy")
def buy(listing_id: int) -> Any:
    """我要买: the buyer's name and phone go to the 院长, who connects them with the seller."""
    services = current_services()
    try:
        market_service.express_interest(
            services.session_factory, now=services.clock.now(), listing_id=listing_id,
            buyer_name=request.form.get("name", ""), buyer_phone=request.form.get("phone", ""),
            message=request.form.get("message", ""), client_addr=request.remote_addr or "",
            limits=market_service.InterestLimits.from_settings(services.settings),
        )
    except NotFound as exc:
        return render_template("market/gone.html", message=error_text(exc)), 404
    except ServiceError as exc:
        return _item_page(listing_id, error=error_text(exc) or gettext("出错了"), status=exc.status)
    return _item_page(listing_id, done=True)
