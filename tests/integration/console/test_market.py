"""帮我卖 in the console and on the public /market/ page: scope, privacy, CSRF and the 我要买 rate limit."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.community import market as market_service
from core.db import transaction
from core.errors import InvalidInput, NotFound
from core.models.audit import AuditEntry
from core.models.market import BuyerInterest, Listing
from core.models.outbox import OutboxMessage
from core.models.places import Resident
from tests.integration.console.conftest import login_as, post_form

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
PEPPER = {"item": "花椒", "quantity": "20", "unit": "斤", "price": "40"}


def _household(world, index: int = 0) -> int:
    return world.residents[index].household_id


def _list(web, world, household_index: int = 0, **extra) -> int:
    response = post_form(web, "/console/market/new", {**PEPPER, "household_id": _household(world, household_index),
                                                      **extra})
    assert response.status_code == 302, response.get_data(as_text=True)
    with web.application.extensions["xiaoyuan"].session_factory() as s:
        return s.scalar(sa.select(sa.func.max(Listing.id)))


def _buy(client, listing_id: int, phone: str = "13912345678", name: str = "陈先生"):
    page = client.get(f"/market/{listing_id}").get_data(as_text=True)
    token = CSRF_RE.search(page).group(1)
    return client.post(f"/market/{listing_id}/buy", data={"csrf_token": token, "name": name, "phone": phone})


def test_market_pages_never_show_the_elders_name_or_phone(web, world, services):
    """The public page shows the village and 王家 — not 王奶奶, her phone or her household's name."""
    login_as(web, world.users["head_a"])
    listing_id = _list(web, world, note="自家树上的")
    buyer = web.application.test_client()
    with services.session_factory() as s:
        residents = list(s.scalars(sa.select(Resident)))
        households = [r.household.name for r in residents]
    pages = [buyer.get("/market/").get_data(as_text=True), buyer.get(f"/market/{listing_id}").get_data(as_text=True),
             _buy(buyer, listing_id).get_data(as_text=True), buyer.get("/market/?lang=en").get_data(as_text=True)]
    assert "王家" in pages[0] and "村" in pages[0]
    for page in pages:
        for resident in residents:
            assert resident.name not in page
            if resident.phone:
                assert resident.phone not in page and resident.phone[-8:] not in page
        for name in households:
            assert name not in page


@pytest.mark.parametrize("label", ["王奶奶家", "王奶奶", "电话13800000000"])
def test_a_label_with_a_full_name_or_phone_is_refused(web, world, services, label):
    login_as(web, world.users["head_a"])
    response = post_form(web, "/console/market/new", {**PEPPER, "household_id": _household(world),
                                                      "seller_label": label})
    assert response.status_code == 422
    with services.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count(Listing.id))) == 0


@pytest.mark.parametrize("note", ["王奶奶自家种的", "打 138 0000 0000 找她", "电话13800000000"])
def test_a_note_with_a_full_name_or_phone_is_refused(web, world, services, note):
    login_as(web, world.users["head_a"])
    response = post_form(web, "/console/market/new", {**PEPPER, "household_id": _household(world), "note": note})
    assert response.status_code == 422
    with services.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count(Listing.id))) == 0


def test_buyer_interest_is_rate_limited_per_address(web, world, services, clock):
    """5 我要买 per address per hour; the 6th is refused with 429 and nobody is told; an hour later it works."""
    login_as(web, world.users["head_a"])
    listing_id = _list(web, world)
    buyer = web.application.test_client()
    for _ in range(market_service.InterestLimits().per_client[0]):
        assert _buy(buyer, listing_id).status_code == 200
    refused = _buy(buyer, listing_id)
    assert refused.status_code == 429 and "提交太多次了" in refused.get_data(as_text=True)
    with services.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count(BuyerInterest.id))) == 5
        assert s.scalar(sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.template == "market_buyer")) == 5
    clock.advance(hours=1, seconds=1)
    assert _buy(buyer, listing_id).status_code == 200


def test_a_bad_phone_does_not_use_up_the_limit(web, world, services):
    login_as(web, world.users["head_a"])
    listing_id = _list(web, world)
    buyer = web.application.test_client()
    for _ in range(10):
        response = _buy(buyer, listing_id, phone="123")
        assert response.status_code == 422 and "电话号码不对" in response.get_data(as_text=True)
    assert _buy(buyer, listing_id).status_code == 200


def test_buying_needs_the_pages_csrf_token(web, world, services):
    login_as(web, world.users["head_a"])
    listing_id = _list(web, world)
    buyer = web.application.test_client()
    buyer.get(f"/market/{listing_id}")
    response = buyer.post(f"/market/{listing_id}/buy", data={"name": "陈", "phone": "13912345678"})
    assert response.status_code == 400
    with services.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count(BuyerInterest.id))) == 0


def test_listings_are_scoped_to_the_heads_courtyard(web, world, services):
    """李院长 lists for 小院 A; 张院长 (小院 B) neither sees nor closes it, nor lists for A's households."""
    login_as(web, world.users["head_a"])
    listing_id = _list(web, world)
    other = web.application.test_client()
    login_as(other, world.users["head_b"])
    assert f'id="listing-{listing_id}"' not in other.get("/console/market").get_data(as_text=True)
    post_form(other, "/console/market", {"action": "sold", "listing_id": listing_id})
    response = post_form(other, "/console/market/new", {**PEPPER, "household_id": _household(world)})
    assert response.status_code == 404
    with services.session_factory() as s:
        assert s.get_one(Listing, listing_id).status == "open"
        assert s.scalar(sa.select(sa.func.count(Listing.id))) == 1
    village = web.application.test_client()
    login_as(village, world.users["village_a"])
    assert f'id="listing-{listing_id}"' in village.get("/console/market").get_data(as_text=True)


def test_withdrawing_closes_the_listing_and_audits_it(web, world, services):
    login_as(web, world.users["head_a"])
    listing_id = _list(web, world)
    assert post_form(web, "/console/market", {"action": "withdrawn", "listing_id": listing_id}).status_code == 302
    buyer = web.application.test_client()
    assert buyer.get(f"/market/{listing_id}").status_code == 404
    with services.session_factory() as s:
        actions = set(s.scalars(sa.select(AuditEntry.action).where(AuditEntry.entity_type == "market_listing")))
        assert {"market.list", "market.withdrawn"} <= actions
        assert s.get_one(Listing, listing_id).status == "withdrawn"


def test_only_a_sell_request_becomes_a_listing(services, world, clock):
    from core.requests.workorders import submit_request

    with transaction(services.session_factory) as session:
        req = submit_request(session, now=clock.now(), due_hours=services.settings.requests.due_hours,
                             resident_id=world.residents[0].id, type="repair", channel="tv", text="水管漏了")
        fields = market_service.ListingFields(item="花椒", quantity=Decimal("20"), unit="斤", price=Decimal("40"))
        head = session.merge(world.users["head_a"])
        with pytest.raises(InvalidInput):
            market_service.list_from_request(session, now=clock.now(), actor=head, request_id=req.id, fields=fields)
        other = session.merge(world.users["head_b"])
        with pytest.raises(NotFound):
            market_service.list_from_request(session, now=clock.now(), actor=other, request_id=req.id, fields=fields)


def test_amounts_and_defaults_from_the_phone_intent():
    assert market_service.plain_number(Decimal("20.00")) == "20"
    assert market_service.plain_number(Decimal("12.50")) == "12.5"
    assert market_service.sell_request_defaults({"goods": "花椒", "quantity": "20斤"}, "帮我卖二十斤花椒") == {
        "item": "花椒", "quantity": "20", "unit": "斤", "note": ""}
    with pytest.raises(InvalidInput):
        market_service.parse_amount("-3", field="数量")
    with pytest.raises(InvalidInput):
        market_service.parse_amount("NaN", field="数量")


def test_the_api_lists_listings_with_buyers_in_scope(web, world, services, tokens):
    from tests.integration.console.conftest import bearer

    login_as(web, world.users["head_a"])
    listing_id = _list(web, world)
    _buy(web.application.test_client(), listing_id)
    body = web.get("/api/v1/market/listings", headers=bearer(tokens.head_a)).get_json()
    [item] = body["items"]
    assert item["id"] == listing_id and item["quantity"] == "20" and item["price"] == "40"
    assert item["buyers"][0]["phone"] == "+8613912345678" and item["seller_label"] == "王家"
    assert web.get("/api/v1/market/listings", headers=bearer(tokens.head_b)).get_json()["total"] == 0
    assert web.get(f"/api/v1/market/listings/{listing_id}", headers=bearer(tokens.head_b)).status_code == 404
    assert web.get("/api/v1/market/listings?status=sold", headers=bearer(tokens.head_a)).get_json()["total"] == 0
    paths = web.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/market/listings", "/market/listings/{listing_id}", "/jobs", "/jobs/{job_id}"} <= set(paths)


def test_the_daily_report_counts_the_boards(web, world, services, clock):
    from core.clock import to_local
    from core.requests.reports import build_report, render_csv, render_text

    login_as(web, world.users["head_a"])
    sold = _list(web, world)
    _list(web, world, household_index=1)
    _buy(web.application.test_client(), sold)
    post_form(web, "/console/market", {"action": "sold", "listing_id": sold})
    with services.session_factory() as s:
        report = build_report(s, kind="daily", day=to_local(clock.now()).date(), village_id=world.villages[0].id)
        other = build_report(s, kind="daily", day=to_local(clock.now()).date(), village_id=world.villages[1].id)
    assert report.boards == {"listed": 2, "sold": 1, "withdrawn": 0, "open": 1, "buyers": 1, "jobs_posted": 0,
                             "job_signups": 0}
    assert other.boards["listed"] == 0
    assert "帮我卖：新挂2件，卖出1件" in render_text(report) and "Sell for me: 2 listed" in render_text(report, "en")
    assert "boards,,sold,1" in render_csv(report)


def test_interest_limits_come_from_the_market_section():
    """`[market]` interest_per_client / interest_per_listing set the limits; an unreadable rate is a config error."""
    import datetime as dt

    from core.settings import SettingsError, load_settings

    settings = load_settings(environ={"XIAOYUAN_MARKET_INTEREST_PER_CLIENT": "2 per 10 minutes"})
    limits = market_service.InterestLimits.from_settings(settings)
    assert limits.per_client == (2, dt.timedelta(minutes=10)) and limits.per_listing == (20, dt.timedelta(days=1))
    with pytest.raises(SettingsError):
        load_settings(environ={"XIAOYUAN_MARKET_INTEREST_PER_LISTING": "lots"})


def test_the_demo_lists_its_sell_request_and_posts_a_job(services):
    """`xiaoyuan demo`: its 帮我卖 request is listed on /market/ and a 找活干 job posted; a second run adds none."""
    from core.demo import boards as demo_boards
    from core.demo import seed_demo
    from core.models.dayjobs import DayJob

    summary = seed_demo(services)
    assert summary["listings"] == 1 and summary["jobs"] == 1
    assert demo_boards.seed_demo(services) == {}
    with services.session_factory() as s:
        listing = s.scalar(sa.select(Listing))
        assert listing.item == "土鸡蛋" and listing.request_id is not None and listing.seller_label.endswith("家")
        assert s.scalar(sa.select(sa.func.count(DayJob.id))) == 1
