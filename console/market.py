"""Console pages for 帮我卖: list a checked request (or a household's goods), see buyers, close as sold or withdrawn.

Scoped like every other console list (core.community.market.listing_scope); the market service
does the writes and their audit.
"""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, request, url_for
from sqlalchemy.orm import selectinload

from console.auth import current_staff, staff_required
from console.blueprint import bp
from console.common import households_in_scope, photo_hosts, request_int, submitted_photo_url
from console.db import db_session
from console.forms import form_action
from console.nav import register_nav
from core.community import market as market_service
from core.errors import NotFound
from core.i18n import N_
from core.models.market import LISTING_STATUSES, Listing
from core.people.access import MANAGER_ROLES
from core.requests.visibility import get_request_for

register_nav("console.market_list", N_("帮我卖"), MANAGER_ROLES, 45, group="home")


def _fields() -> market_service.ListingFields:
    form = request.form
    return market_service.ListingFields(
        item=form.get("item", ""), quantity=market_service.parse_amount(form.get("quantity", ""), field="数量"),
        unit=form.get("unit", ""), price=market_service.parse_amount(form.get("price", ""), field="单价"),
        note=form.get("note", ""), photo_url=submitted_photo_url(), seller_label=form.get("seller_label", ""),
    )


@bp.route("/market", methods=["GET", "POST"])
@staff_required(*MANAGER_ROLES)
def market_list() -> Any:
    """The listings of the user's places with their buyers; close one or mark a buyer connected."""
    user = current_staff()
    if request.method == "POST":
        action = request.form.get("action", "")
        if action in market_service.CLOSE_OUTCOMES:
            def close(session, user, now) -> None:
                market_service.close_listing(session, now=now, actor=user, listing_id=request_int("listing_id") or 0,
                                             outcome=action, note=request.form.get("note", ""))

            form_action(close, done=N_("已卖出") if action == "sold" else N_("已撤下"))
        elif action == "connected":
            def connect(session, user, now) -> None:
                market_service.mark_connected(session, now=now, actor=user, interest_id=request_int("interest_id") or 0)

            form_action(connect, done=N_("已记下联系好了"))
        else:
            abort(400)
        return redirect(url_for("console.market_list", status=request.args.get("status") or None))
    status = request.args.get("status") or "open"
    if status not in (*LISTING_STATUSES, "all"):
        status = "open"
    listings = list(db_session().scalars(
        market_service.listings_query(user, status=None if status == "all" else status)
        .options(selectinload(Listing.interests)).limit(200)))  # the page lists each listing's buyers
    return render_template("console/market/list.html", listings=listings, status=status,
                           labels=market_service.STATUS_LABELS, plain=market_service.plain_number)


@bp.route("/market/new", methods=["GET", "POST"])
@staff_required(*MANAGER_ROLES)
def market_new() -> Any:
    """List goods: from a 帮我卖 request (?request_id=, prefilled from what the elder said) or for a household."""
    user = current_staff()
    session = db_session()
    request_id = request_int("request_id")
    req = None
    if request_id is not None:
        try:
            req = get_request_for(session, user, request_id)
        except NotFound:
            abort(404)
    if request.method == "POST":
        def create(session, user, now) -> int:
            if req is not None:
                return market_service.list_from_request(session, now=now, actor=user, request_id=req.id,
                                                        fields=_fields(), photo_hosts=photo_hosts()).id
            return market_service.create_listing(session, now=now, actor=user,
                                                 household_id=request_int("household_id") or 0,
                                                 fields=_fields(), photo_hosts=photo_hosts()).id

        outcome = form_action(create, done=N_("已挂到集市"))
        if outcome.ok:
            return redirect(url_for("console.market_list"))
        status = outcome.status
    else:
        status = 200
    prefill = market_service.sell_request_defaults(req.details, req.text) if req is not None else {}
    label = market_service.default_seller_label(session, req.household_id) if req and req.household_id else ""
    return render_template("console/market/new.html", req=req, prefill=prefill, label=label,
                           form=request.form, households=[] if req else households_in_scope(user)), status
