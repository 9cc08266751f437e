"""帮我卖: an elder asks (phone, TV), the 院长 turns the request into a listing, buyers ask for it (我要买), sold /
withdrawn closes it.

The public market page shows listings by village with a household label ("王家"), never an elder's
full name or phone number: buyers reach the seller only through the 院长, who is told through the
outbox. A buyer's request is public input, so it is rate-limited in the database (core.throttle) per
client address and per listing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from core import throttle
from core.community import texts
from core.community.photos import check_photo_url
from core.community.spoken import chinese_number
from core.db import read_only
from core.errors import InvalidInput, InvalidTransition, NotFound, PermissionDenied, RateLimited
from core.i18n import N_, SPOKEN_LOCALE, translate
from core.models.market import BuyerInterest, Listing
from core.models.places import Household, Resident, Village
from core.models.requests import Request
from core.models.staff import User
from core.notify.outbox import enqueue_message, recipient_for_user
from core.people.access import MANAGER_ROLES, Viewer, get_household_for, place_clause
from core.people.audit import record_audit
from core.people.directory import courtyard_head, place_of_household, primary_resident
from core.people.villages import duty_person
from core.phones import InvalidPhone, normalise_phone_strict
from core.requests import workorders
from core.requests.visibility import get_request_for

STATUS_LABELS = {"open": N_("在卖"), "sold": N_("已卖出"), "withdrawn": N_("已撤下")}
CLOSE_OUTCOMES = ("sold", "withdrawn")


@dataclass(frozen=True)
class InterestLimits:
    """我要买 limits: per client address, and per listing (a listing is not flooded by a script)."""

    per_client: tuple[int, dt.timedelta] = (5, dt.timedelta(hours=1))
    per_listing: tuple[int, dt.timedelta] = (20, dt.timedelta(days=1))

    @classmethod
    def from_settings(cls, settings: Any) -> InterestLimits:
        """`[market]` interest_per_client and interest_per_listing."""
        return cls(per_client=throttle.parse_rate(settings.market.interest_per_client),
                   per_listing=throttle.parse_rate(settings.market.interest_per_listing))


_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(\S{0,10})\s*$")


@dataclass(frozen=True)
class ListingFields:
    """What the 院长 fills in after checking the goods."""

    item: str
    quantity: Decimal
    unit: str
    price: Decimal
    note: str = ""
    photo_url: str = ""
    seller_label: str = ""


def parse_amount(raw: Any, *, field: str) -> Decimal:
    """A positive amount typed into a form ("20", "12.5"), or InvalidInput naming the field."""
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError) as exc:
        raise InvalidInput(N_("%(field)s要填数字"), field=field) from exc
    if not value.is_finite() or value <= 0 or value >= Decimal("100000000"):
        raise InvalidInput(N_("%(field)s要大于零"), field=field)
    return value.quantize(Decimal("0.01"))


def plain_number(value: Decimal | float | int) -> str:
    """20.00 → "20", 12.50 → "12.5": how amounts are shown and spoken."""
    text = f"{Decimal(str(value)):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def validate_listing(fields: ListingFields) -> None:
    """Check a listing's fields before it is saved (pure)."""
    if not fields.item.strip():
        raise InvalidInput(N_("请填写卖什么"))
    if len(fields.item.strip()) > 60:
        raise InvalidInput(N_("品名太长"))
    if not fields.unit.strip() or len(fields.unit.strip()) > 10:
        raise InvalidInput(N_("请填写单位（斤、个、只……）"))
    if len(fields.note) > 200:
        raise InvalidInput(N_("说明太长"))


def default_seller_label(session: Session, household_id: int) -> str:
    """How buyers see the seller: the surname and 家 ("王家"), from the household's first resident."""
    resident = primary_resident(session, household_id)
    name = (resident.name if resident is not None else "").strip()
    return f"{name[0]}家" if name else translate(N_("村民"))


def check_public_label(session: Session, household_id: int, label: str) -> str:
    """The label buyers will see, refused when it holds a resident's full name or any phone digits."""
    label = label.strip()
    if not label:
        return default_seller_label(session, household_id)
    if len(label) > 20:
        raise InvalidInput(N_("称呼太长"))
    if sum(ch.isdigit() for ch in label) >= 5:
        raise InvalidInput(N_("称呼里不能有电话号码"))
    if _holds_full_name(session, household_id, label):
        raise InvalidInput(N_("称呼里不能有老人的全名，写“王家”这样就好"))
    return label


_PHONE_LIKE = re.compile(r"\d[\d\s-]{5,}\d")


def check_public_text(session: Session, household_id: int, text: str) -> None:
    """Refuse an item or note for the public page that holds a phone number or a resident's full name."""
    if any(sum(ch.isdigit() for ch in found) >= 7 for found in _PHONE_LIKE.findall(text)):
        raise InvalidInput(N_("说明里不能有电话号码：买家通过院长联系"))
    if _holds_full_name(session, household_id, text):
        raise InvalidInput(N_("说明里不能有老人的全名"))


def _holds_full_name(session: Session, household_id: int, text: str) -> bool:
    """Whether `text` holds the full name (two characters or more) of one of the household's residents."""
    names = session.scalars(sa.select(Resident.name).where(Resident.household_id == household_id))
    return any(len(name.strip()) >= 2 and name.strip() in text for name in names)


def listing_scope(user: Viewer):
    """A clause on Listing: the listings of the user's places (caregivers see none: place_clause gives them none)."""
    return place_clause(user, courtyard_col=Listing.courtyard_id, village_col=Listing.village_id,
                        town_col=Listing.town_id)


def get_listing_for(session: Session, user: Viewer, listing_id: int) -> Listing:
    """A listing of the user's places; NotFound otherwise."""
    listing = session.scalar(sa.select(Listing).where(Listing.id == listing_id, listing_scope(user)))
    if listing is None:
        raise NotFound(N_("找不到这个挂单"))
    return listing


def create_listing(session: Session, *, now: dt.datetime, actor: Viewer, household_id: int, fields: ListingFields,
                   request_id: int | None = None, photo_hosts: tuple[str, ...] = ()) -> Listing:
    """List a household's goods (checked by the 院长); with `request_id` the 帮我卖 request is being worked on."""
    if actor.role not in MANAGER_ROLES:
        raise PermissionDenied(N_("您的角色不能做这件事"))
    get_household_for(session, actor, household_id)
    validate_listing(fields)
    photo_url = check_photo_url(fields.photo_url, allowed_hosts=photo_hosts)
    label = check_public_label(session, household_id, fields.seller_label)
    check_public_text(session, household_id, f"{fields.item}\n{fields.note}")
    place = place_of_household(session, household_id)
    listing = Listing(
        request_id=request_id, household_id=household_id, courtyard_id=place.courtyard_id,
        village_id=place.village_id, town_id=place.town_id, item=fields.item.strip(), quantity=fields.quantity,
        unit=fields.unit.strip(), price=fields.price, note=fields.note.strip(), photo_url=photo_url,
        seller_label=label, status="open", created_by_id=getattr(actor, "id", None), created_at=now, updated_at=now,
    )
    session.add(listing)
    session.flush()
    record_audit(session, at=now, actor=actor, action="market.list", entity_type="market_listing",
                 entity_id=listing.id, request_id=request_id)
    return listing


def list_from_request(session: Session, *, now: dt.datetime, actor: Viewer, request_id: int, fields: ListingFields,
                      photo_hosts: tuple[str, ...] = ()) -> Listing:
    """Turn a 帮我卖 request into a listing after checking it; the request is then in progress."""
    req = get_request_for(session, actor, request_id)
    if req.type != "sell":
        raise InvalidInput(N_("只有“帮我卖”的工单可以挂出来卖"))
    if req.household_id is None:
        raise InvalidInput(N_("这张工单没有登记住户，请先补上是哪一户"))
    if req.status not in workorders.OPEN_STATUSES:
        raise InvalidTransition(N_("工单已结束，不能再挂出来卖"))
    existing = session.scalar(sa.select(Listing.id).where(Listing.request_id == req.id, Listing.status == "open"))
    if existing is not None:
        raise InvalidTransition(N_("这张工单已经挂出来卖了"))
    listing = create_listing(session, now=now, actor=actor, household_id=req.household_id, fields=fields,
                             request_id=req.id, photo_hosts=photo_hosts)
    if req.status in ("new", "assigned"):
        workorders.start_request(session, now=now, actor=actor, request_id=req.id,  # type: ignore[arg-type]
                                 note=translate(texts.MARKET_LISTED_NOTE, id=listing.id), via="market")
    return listing


def close_listing(session: Session, *, now: dt.datetime, actor: Viewer, listing_id: int, outcome: str,
                  note: str = "") -> Listing:
    """Close a listing as sold or withdrawn; its 帮我卖 request is resolved with what happened."""
    if outcome not in CLOSE_OUTCOMES:
        raise InvalidInput(N_("未知结果：%(outcome)s"), outcome=outcome)
    listing = get_listing_for(session, actor, listing_id)
    if listing.status != "open":
        raise InvalidTransition(N_("这个挂单已经结束了"))
    listing.status = outcome
    listing.closed_at = now
    listing.updated_at = now
    record_audit(session, at=now, actor=actor, action=f"market.{outcome}", entity_type="market_listing",
                 entity_id=listing.id)
    if listing.request_id is not None:
        req = get_request_for(session, actor, listing.request_id)
        if req.status in workorders.OPEN_STATUSES:
            template = texts.MARKET_SOLD_NOTE if outcome == "sold" else texts.MARKET_WITHDRAWN_NOTE
            resolution = translate(template, id=listing.id) + (f" {note.strip()}" if note.strip() else "")
            workorders.resolve_request(session, now=now, actor=actor, request_id=req.id,  # type: ignore[arg-type]
                                       note=resolution, via="market")
    return listing


def listings_query(user: Viewer, *, status: str | None = None) -> sa.Select:
    """The user's listings, newest first; `status` None for all."""
    query = sa.select(Listing).where(listing_scope(user))
    if status:
        query = query.where(Listing.status == status)
    return query.order_by(Listing.created_at.desc(), Listing.id.desc())


@dataclass(frozen=True)
class PublicListing:
    """What the public market page may show of a listing: no name, no phone, no household id."""

    id: int
    village: str
    seller_label: str
    item: str
    quantity: str
    unit: str
    price: str
    note: str
    photo_url: str
    listed_on: dt.datetime


def _public(listing: Listing, village: str) -> PublicListing:
    return PublicListing(id=listing.id, village=village, seller_label=listing.seller_label, item=listing.item,
                         quantity=plain_number(listing.quantity), unit=listing.unit,
                         price=plain_number(listing.price), note=listing.note, photo_url=listing.photo_url,
                         listed_on=listing.created_at)


def open_listings_by_village(session: Session) -> list[tuple[str, list[PublicListing]]]:
    """Every open listing for the public page, grouped by village (villages by name, newest listing first)."""
    rows = session.execute(
        sa.select(Listing, Village.name).join(Village, Listing.village_id == Village.id)
        .where(Listing.status == "open")
        .order_by(Village.name, Village.id, Listing.created_at.desc(), Listing.id.desc())
    ).all()
    grouped: dict[str, list[PublicListing]] = {}
    for listing, village in rows:
        grouped.setdefault(village, []).append(_public(listing, village))
    return list(grouped.items())


def public_listing(session: Session, listing_id: int) -> PublicListing:
    """One open listing as the public page shows it; NotFound when it is closed or unknown."""
    row = session.execute(
        sa.select(Listing, Village.name).join(Village, Listing.village_id == Village.id)
        .where(Listing.id == listing_id, Listing.status == "open")
    ).first()
    if row is None:
        raise NotFound(N_("这件东西已经卖完或撤下了"))
    return _public(row[0], row[1])


def _check_buyer(name: str, phone: str, message: str) -> tuple[str, str, str]:
    name, message = name.strip(), message.strip()
    if not name:
        raise InvalidInput(N_("请留下您的称呼"))
    if len(name) > 40:
        raise InvalidInput(N_("称呼太长"))
    if len(message) > 200:
        raise InvalidInput(N_("留言太长"))
    try:
        number = normalise_phone_strict(phone)
    except InvalidPhone as exc:
        raise InvalidInput(N_("电话号码不对，请再看一下")) from exc
    if number is None:
        raise InvalidInput(N_("请留下您的电话，院长会打给您"))
    return name, number, message


def express_interest(session_factory: sessionmaker[Session], *, now: dt.datetime, listing_id: int, buyer_name: str,
                     buyer_phone: str, message: str = "", client_addr: str,
                     limits: InterestLimits | None = None) -> BuyerInterest:
    """我要买: keep the buyer's contact and tell the listing's 院长 to connect them (rate-limited, committed).

    The fields are checked before an attempt is counted, so typos do not use up the limit; the
    returned BuyerInterest is detached (read-only).
    """
    name, number, message = _check_buyer(buyer_name, buyer_phone, message)
    with session_factory() as session:
        public_listing(session, listing_id)  # closed listings take no buyers
    limits = limits or InterestLimits()
    if throttle.take_each(session_factory, now=now, limits=((f"market:addr:{client_addr}", *limits.per_client),
                                                            (f"market:listing:{listing_id}", *limits.per_listing))) \
            is None:
        raise RateLimited(N_("提交太多次了，请稍后再试，或直接打村委会电话"))
    with session_factory() as session, session.begin():
        listing = session.get_one(Listing, listing_id)
        if listing.status != "open":
            raise NotFound(N_("这件东西已经卖完或撤下了"))
        interest = BuyerInterest(listing_id=listing.id, buyer_name=name, buyer_phone=number, message=message,
                                 created_at=now)
        session.add(interest)
        session.flush()
        record_audit(session, at=now, actor="buyer", action="market.interest", entity_type="market_listing",
                     entity_id=listing.id, interest_id=interest.id)
        _tell_head(session, now, listing, interest)
        session.expunge(interest)
    return interest


def _tell_head(session: Session, now: dt.datetime, listing: Listing, interest: BuyerInterest) -> None:
    """Send the buyer's contact to the 院长 (the village's duty person when the 小院 has none)."""
    staff = courtyard_head(session, listing.household_id) or duty_person(session, listing.village_id)
    if staff is None:
        return  # nobody to tell: the interest still shows on the console list
    household = session.get_one(Household, listing.household_id)
    locale = staff.locale or "zh"
    text = translate(
        texts.MARKET_BUYER, locale, id=listing.id, household=household.name, item=listing.item,
        quantity=plain_number(listing.quantity), unit=listing.unit, buyer=interest.buyer_name,
        phone=interest.buyer_phone, note=interest.message or "-",
    )
    enqueue_message(session, now=now, recipient=recipient_for_user(staff), template="market_buyer", text=text,
                    params={"listing_id": listing.id, "interest_id": interest.id}, priority=5,
                    subject=("market_listing", listing.id), village_id=listing.village_id)


def mark_connected(session: Session, *, now: dt.datetime, actor: Viewer, interest_id: int) -> BuyerInterest:
    """The 院长 has put the buyer in touch with the seller."""
    interest = session.get(BuyerInterest, interest_id)
    if interest is None:
        raise NotFound(N_("找不到这个买家"))
    get_listing_for(session, actor, interest.listing_id)
    if interest.connected_at is None:
        interest.connected_at = now
        record_audit(session, at=now, actor=actor, action="market.connect", entity_type="market_listing",
                     entity_id=interest.listing_id, interest_id=interest.id)
    return interest


def sell_request_defaults(details: dict[str, Any] | None, text: str) -> dict[str, str]:
    """What a 帮我卖 request already says to prefill the listing form.

    The phone line stores the recognised intent as details goods="花椒", quantity="20斤".
    """
    details = details or {}
    item = str(details.get("goods") or "")
    amount, unit = "", ""
    found = _QUANTITY.match(str(details.get("quantity") or ""))
    if found:
        amount, unit = found.group(1), found.group(2).strip()
    return {"item": item, "quantity": amount, "unit": unit, "note": ""}


# --- 帮我卖 from the TV -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SellAsk:
    """A 帮我卖 request as the TV shows it: made now (`created`), or already with the 院长 for this item."""

    request_id: int
    item: str
    created: bool
    handler: str  # who calls back: the assignee's name, "" while nobody has it


def open_sell_requests(session: Session, household_id: int) -> list[Request]:
    """The household's 帮我卖 requests that are still open (phone and TV alike), oldest first."""
    return list(session.scalars(sa.select(Request).where(open_sell_clause(household_id)).order_by(Request.id)))


def open_sell_clause(household_id: Any) -> sa.ColumnElement[bool]:
    """A 帮我卖 request of the household still open (`household_id` a value or an SQL expression)."""
    return sa.and_(Request.household_id == household_id, Request.type == "sell",
                   Request.status.in_(workorders.OPEN_STATUSES))


def asked_item(req: Request) -> str:
    """What a 帮我卖 request is for, as the phone line and the TV store it (details goods="花椒")."""
    return str((req.details or {}).get("goods") or "").strip()


def _already_asked(session: Session, household_id: int, item: str,
                   request_key: str | None) -> tuple[Request, bool] | None:
    """An open 帮我卖 of this household for `item`, and whether it is this very confirm screen's (a double press)."""
    open_asks = open_sell_requests(session, household_id)
    for req in open_asks:
        if request_key and (req.details or {}).get("request_key") == request_key:
            return req, True
    for req in open_asks:
        if asked_item(req) == item:
            return req, False
    return None


def sell_view(session: Session, req: Request, created: bool = True) -> SellAsk:
    """A 帮我卖 request as the TV shows it (who calls back: its assignee)."""
    assignee = session.get(User, req.assignee_id) if req.assignee_id is not None else None
    return SellAsk(request_id=req.id, item=asked_item(req), created=created,
                   handler=assignee.display_name if assignee is not None else "")


def ask_to_sell(session_factory: sessionmaker[Session], *, now: dt.datetime, household_id: int, item: str,
                due_hours: dict[str, float], request_key: str | None = None, channel: str = "tv",
                limit: tuple[int, dt.timedelta] = (6, dt.timedelta(days=1))) -> SellAsk:
    """帮我卖 from a TV: the same `sell` request (工单) the phone line submits, for the household's 院长, who is
    told through the outbox and calls back to ask how much and at what price (committed here).

    An open 帮我卖 of this household for the same item, from any channel, is returned instead of a second one
    (`created` False); the confirm screen's nonce (`request_key`) makes a double press return the first press's
    request as made now. New requests count against `limit` per household (core.throttle); repeats do not.
    """
    item = item.strip()
    if not item or len(item) > 60:
        raise InvalidInput(N_("请选择要卖的东西"))
    key = (request_key or "").strip()[:40] or None
    with read_only(session_factory) as session:  # a repeat is answered without counting against the limit
        found = _already_asked(session, household_id, item, key)
        if found is not None:
            return sell_view(session, *found)
    verdict = throttle.take(session_factory, bucket=f"market:ask:{household_id}", now=now, window=limit[1],
                            limit=limit[0])
    if not verdict.allowed:
        raise RateLimited(N_("今天托院长卖的东西太多了，请直接给院长打电话"))
    with session_factory() as session, session.begin():
        # Serialise presses of one household (PostgreSQL row lock; SQLite's write lock covers it).
        if session.scalar(sa.select(Household.id).where(Household.id == household_id)
                          .with_for_update(key_share=True)) is None:
            raise NotFound(N_("找不到这一户"))
        found = _already_asked(session, household_id, item, key)
        if found is not None:
            throttle.forgive(session, verdict.hit_id)
            return sell_view(session, *found)
        resident = primary_resident(session, household_id)  # the 院长 sees whom to ring back
        req = workorders.submit_request(
            session, now=now, due_hours=due_hours, resident_id=resident.id if resident is not None else None,
            household_id=household_id, type="sell", channel=channel, text=translate(texts.SELL_ASK_TEXT, item=item),
            details={"goods": item, "request_key": key}, system_label=translate(texts.SELL_ASK_LABEL),
        )
        record_audit(session, at=now, actor=f"household:{household_id}", action="market.ask", entity_type="request",
                     entity_id=req.id, item=item, channel=channel)
        return sell_view(session, req, True)


def get_sell_request_for_household(session: Session, household_id: int, request_id: int) -> Request:
    """A 帮我卖 request of this household (the TV's result page); NotFound for anyone else's."""
    req = session.scalar(sa.select(Request).where(Request.id == request_id, Request.household_id == household_id,
                                                  Request.type == "sell"))
    if req is None:
        raise NotFound(N_("找不到这张工单"))
    return req


def sell_ask_speech(ask: SellAsk) -> str:
    """What 读给我听 says on the TV's 帮我卖 result page (in the TV voice's Chinese)."""
    handler = ask.handler or translate(texts.SELL_NOBODY, SPOKEN_LOCALE)
    template = texts.SELL_ASK_SPOKEN if ask.created else texts.SELL_ALREADY_SPOKEN
    return translate(template, SPOKEN_LOCALE, item=ask.item, handler=handler, number=chinese_number(ask.request_id))
