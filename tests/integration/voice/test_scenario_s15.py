"""SCENARIOS S15 — twenty jin of peppercorns: phoned in, checked and listed, bought in town, closed as sold."""

from __future__ import annotations

import re

import sqlalchemy as sa

from core.models.market import BuyerInterest, Listing
from core.models.outbox import OutboxMessage
from core.models.places import Resident
from core.models.requests import Request
from tests.integration.console.conftest import login_as, post_form
from tests.integration.voice.conftest import fake_recording_bytes

WANG = "+8613800000000"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def _phone_in(caller, fake_twilio, fake_asr, text: str) -> None:
    """The elder says `text` at the menu and confirms the read-back with 1."""
    caller.post("/voice/twilio/incoming")
    data = fake_recording_bytes()
    fake_asr.answers[data] = (text, 0.8)
    hold = caller.post("/voice/twilio/menu/record?tries=1&failures=0", RecordingUrl=fake_twilio.add_recording(data),
                       RecordingDuration="4", Digits="hangup")
    doc = caller.post(hold.url("Redirect"))
    assert "花椒" in doc.spoken
    caller.post(doc.url("Gather"), Digits="1")


def test_s15_twenty_jin_of_peppercorns(world, call, fake_twilio, fake_asr, voice_services, voice_client):
    """S15: a phoned-in 帮我卖 is listed, a buyer asks on /market/ (no phone on it), the listing closes as sold."""
    _phone_in(call(WANG), fake_twilio, fake_asr, "帮我卖二十斤花椒")
    with voice_services.session_factory() as s:
        req = s.scalar(sa.select(Request).where(Request.type == "sell"))
        assert req is not None and req.assignee_id == world.users["head_a"].id
        elder = s.get_one(Resident, req.resident_id)
        elder_name, elder_phone = elder.name, elder.phone

    # The 院长 opens the request, follows its link and finds the form filled from what was said.
    web = voice_client
    login_as(web, world.users["head_a"])
    detail = web.get(f"/console/requests/{req.id}").get_data(as_text=True)
    assert f"/console/market/new?request_id={req.id}" in detail
    form = web.get(f"/console/market/new?request_id={req.id}").get_data(as_text=True)
    assert 'value="花椒"' in form and 'value="20"' in form and 'value="斤"' in form
    response = post_form(web, f"/console/market/new?request_id={req.id}",
                         {"item": "花椒", "quantity": "20", "unit": "斤", "price": "40", "seller_label": ""})
    assert response.status_code == 302
    with voice_services.session_factory() as s:
        listing = s.scalar(sa.select(Listing))
        assert listing.request_id == req.id and listing.seller_label == "王家" and listing.status == "open"
        assert s.get_one(Request, req.id).status == "in_progress"

    # A buyer in town, not signed in.
    buyer = voice_client.application.test_client()
    page = buyer.get("/market/").get_data(as_text=True)
    assert "花椒" in page and "40 元/斤" in page and "王家" in page
    item = buyer.get(f"/market/{listing.id}").get_data(as_text=True)
    for text in (page, item):
        assert elder_name not in text and elder_phone not in text and elder_phone[3:] not in text
    token = CSRF_RE.search(item).group(1)
    done = buyer.post(f"/market/{listing.id}/buy", data={"csrf_token": token, "name": "城里陈先生",
                                                         "phone": "139 1234 5678", "message": "全要"})
    assert done.status_code == 200 and "院长会打电话给您" in done.get_data(as_text=True)
    with voice_services.session_factory() as s:
        [told] = s.scalars(sa.select(OutboxMessage).where(OutboxMessage.template == "market_buyer")).all()
        assert told.recipient_user_id == world.users["head_a"].id
        assert "+8613912345678" in told.text and "城里陈先生" in told.text and "花椒" in told.text
        interest = s.scalar(sa.select(BuyerInterest))

    # The 院长 connects them, then closes the listing as sold: the request is resolved with it.
    listed = web.get("/console/market").get_data(as_text=True)
    assert "城里陈先生" in listed and "+8613912345678" in listed
    assert post_form(web, "/console/market", {"action": "connected", "interest_id": interest.id}).status_code == 302
    assert post_form(web, "/console/market", {"action": "sold", "listing_id": listing.id}).status_code == 302
    with voice_services.session_factory() as s:
        assert s.get_one(Listing, listing.id).status == "sold"
        assert s.get_one(BuyerInterest, interest.id).connected_at is not None
        closed = s.get_one(Request, req.id)
        assert closed.status == "resolved" and "已卖出" in closed.resolution
    assert "花椒" not in buyer.get("/market/").get_data(as_text=True)
    assert buyer.get(f"/market/{listing.id}").status_code == 404
