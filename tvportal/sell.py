"""TV pages for 帮我卖 (home tile 7): pick what to sell, confirm, and the request the 院长 calls back about.

The request is the phone line's own `sell` 工单 (core.community.market.ask_to_sell submits it through
core.requests.workorders, which assigns it to the 院长 and tells them): the TV only says what, the 院长
asks how much and at what price.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import abort, g, redirect, render_template, request
from flask_babel import gettext

from core.community import market as market_service
from core.community import texts
from core.throttle import parse_rate
from tvportal.pages import _speech
from tvportal.views import (
    bp,
    household_required,
    read_unit,
    require_form_token,
    services,
    tvurl,
)


def _items() -> tuple[str, ...]:
    """What the TV offers (`[market] tv_items`), in order: item n is digit key n."""
    return tuple(services().settings.market.tv_items)


def _item(choice: int) -> str:
    items = _items()
    if not 1 <= choice <= len(items):
        abort(404)
    return items[choice - 1]


def _asked(session: Any) -> dict[str, int]:
    """The items this household already has with the 院长: item → request id."""
    return {market_service.asked_item(req): req.id
            for req in reversed(market_service.open_sell_requests(session, g.tv_household_id))}


@bp.get("/sell")
@household_required
def sell() -> Any:
    """帮我卖: the configured items, one digit key each; an item the 院长 already has says so."""
    with read_unit() as session:
        asked = _asked(session)
    choices = [{"n": n, "item": item, "asked": item in asked} for n, item in enumerate(_items(), start=1)]
    return render_template("tv/sell.html", choices=choices, back_url=tvurl("tv.index", f="tile-sell"))


@bp.get("/sell/<int:choice>")
@household_required
def sell_confirm(choice: int) -> Any:
    """Confirm screen: the 院长 will call to ask how much and at what price; focus starts on 取消."""
    item = _item(choice)
    with read_unit() as session:
        already = _asked(session).get(item)
    return render_template("tv/sell_confirm.html", choice=choice, item=item, already=already,
                           request_key=secrets.token_hex(8), back_url=tvurl("tv.sell", f=f"sell-{choice}"))


@bp.post("/sell/<int:choice>")
@household_required
def sell_ask(choice: int) -> Any:
    """Make the 帮我卖 request once (a double press, or an item already with the 院长, gives the same request)."""
    require_form_token()
    item = _item(choice)
    svc = services()
    asked = market_service.ask_to_sell(
        svc.session_factory, now=svc.clock.now(), household_id=g.tv_household_id, item=item,
        due_hours=svc.settings.requests.due_hours, request_key=request.form.get("k"), channel="tv",
        limit=parse_rate(svc.settings.market.tv_asks_per_household),
    )
    values: dict[str, Any] = {"request_id": asked.request_id}
    if not asked.created:
        values["already"] = 1
    return redirect(tvurl("tv.sell_done", **values))


def _ask(session: Any, request_id: int) -> market_service.SellAsk:
    req = market_service.get_sell_request_for_household(session, g.tv_household_id, request_id)
    return market_service.sell_view(session, req, created=request.args.get("already") != "1")


@bp.get("/sell/requests/<int:request_id>")
@household_required
def sell_done(request_id: int) -> Any:
    """The request number and who calls back, large, with 读给我听."""
    with read_unit() as session:
        asked = _ask(session, request_id)
    audio_values: dict[str, Any] = {"request_id": request_id}
    if not asked.created:
        audio_values["already"] = 1
    return render_template("tv/sell_done.html", asked=asked, handler=asked.handler or gettext(texts.SELL_NOBODY),
                           audio_url=tvurl("tv.sell_audio", **audio_values), back_url=tvurl("tv.index", f="tile-sell"))


@bp.get("/sell/requests/<int:request_id>/audio")
@household_required
def sell_audio(request_id: int) -> Any:
    """读给我听: what was asked, the request number and who calls back."""
    with read_unit() as session:
        text = market_service.sell_ask_speech(_ask(session, request_id))
    return _speech(text)
