"""JSON API routes for the 帮我卖 and 找活干 boards: GET /api/v1/market/listings[/<id>], /api/v1/jobs[/<id>].

Listings here are the staff view (with the buyers' contacts and the household), scoped like the console;
the public page is console.market_public.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from flask import jsonify
from pydantic import BaseModel, Field
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from console.api import api_user, token_required
from console.api_schemas import PageQuery
from console.api_v1 import _check_id, _page_json, parse_query
from console.blueprint import api
from console.common import paginate
from console.db import db_session
from core.community import dayjobs as job_service
from core.community import market as market_service
from core.models.dayjobs import DayJob, JobSignup
from core.models.market import Listing


class ListingQuery(PageQuery):
    """Filters of the listing list."""

    status: Literal["open", "sold", "withdrawn"] | None = None


class BuyerOut(BaseModel):
    """A buyer who asked for a listing (我要买)."""

    id: int
    name: str
    phone: str
    message: str
    created_at: dt.datetime
    connected_at: dt.datetime | None


class ListingOut(BaseModel):
    """A 帮我卖 listing as staff see it."""

    id: int
    status: Literal["open", "sold", "withdrawn"]
    item: str
    quantity: str
    unit: str
    price: str = Field(description="yuan per unit")
    note: str
    photo_url: str
    seller_label: str = Field(description="what the public page shows instead of a name")
    household_id: int
    courtyard_id: int
    village_id: int
    request_id: int | None
    created_at: dt.datetime
    closed_at: dt.datetime | None
    buyers: list[BuyerOut]


class ListingPage(BaseModel):
    """A page of listings."""

    items: list[ListingOut]
    page: int
    per_page: int
    total: int
    pages: int


class JobQuery(PageQuery):
    """Filters of the job list."""

    status: Literal["open", "closed"] | None = None


class SignupOut(BaseModel):
    """A household that signed up for a job."""

    id: int
    household_id: int
    household_name: str
    resident_id: int | None
    resident_name: str | None
    channel: Literal["tv", "phone", "console"]
    created_at: dt.datetime


class JobOut(BaseModel):
    """A 找活干 day job with who signed up."""

    id: int
    status: Literal["open", "closed"]
    title: str
    pay: str
    place: str
    work_date: dt.date
    workers: int
    note: str
    town_id: int
    village_id: int | None = Field(description="empty: the whole town")
    created_at: dt.datetime
    signups: list[SignupOut]


class JobPage(BaseModel):
    """A page of jobs."""

    items: list[JobOut]
    page: int
    per_page: int
    total: int
    pages: int


OUTPUTS: tuple[type[BaseModel], ...] = (ListingOut, ListingPage, JobOut, JobPage)


def listing_out(listing: Listing) -> dict[str, Any]:
    """A listing as JSON."""
    return ListingOut(
        id=listing.id, status=listing.status, item=listing.item,
        quantity=market_service.plain_number(listing.quantity), unit=listing.unit,
        price=market_service.plain_number(listing.price), note=listing.note, photo_url=listing.photo_url,
        seller_label=listing.seller_label, household_id=listing.household_id, courtyard_id=listing.courtyard_id,
        village_id=listing.village_id, request_id=listing.request_id, created_at=listing.created_at,
        closed_at=listing.closed_at,
        buyers=[BuyerOut(id=b.id, name=b.buyer_name, phone=b.buyer_phone, message=b.message, created_at=b.created_at,
                         connected_at=b.connected_at) for b in listing.interests],
    ).model_dump(mode="json")


def job_out(job: DayJob) -> dict[str, Any]:
    """A job as JSON."""
    return JobOut(
        id=job.id, status=job.status, title=job.title, pay=job.pay, place=job.place,
        work_date=job.work_date, workers=job.workers, note=job.note, town_id=job.town_id, village_id=job.village_id,
        created_at=job.created_at,
        signups=[SignupOut(id=s.id, household_id=s.household_id, household_name=s.household.name,
                           resident_id=s.resident_id, resident_name=s.resident.name if s.resident else None,
                           channel=s.channel, created_at=s.created_at)
                 for s in job.signups],
    ).model_dump(mode="json")


@api.get("/market/listings")
@token_required
def list_listings() -> Response:
    """帮我卖 listings in the caller's scope, newest first, with their buyers."""
    query = parse_query(ListingQuery)
    select = market_service.listings_query(api_user(), status=query.status).options(selectinload(Listing.interests))
    page = paginate(db_session(), select, query.page, query.per_page)
    return _page_json(page, [listing_out(item) for item in page.items])


@api.get("/market/listings/<int:listing_id>")
@token_required
def get_listing(listing_id: int) -> Response:
    """One listing (404 outside the caller's scope)."""
    return jsonify(listing_out(market_service.get_listing_for(db_session(), api_user(), _check_id(listing_id))))


def _jobs_select(status: str | None):
    return job_service.jobs_query(api_user(), status=status).options(
        selectinload(DayJob.signups).selectinload(JobSignup.household),
        selectinload(DayJob.signups).selectinload(JobSignup.resident))


@api.get("/jobs")
@token_required
def list_jobs() -> Response:
    """找活干 jobs in the caller's scope, soonest first, with who signed up."""
    query = parse_query(JobQuery)
    page = paginate(db_session(), _jobs_select(query.status), query.page, query.per_page)
    return _page_json(page, [job_out(item) for item in page.items])


@api.get("/jobs/<int:job_id>")
@token_required
def get_job(job_id: int) -> Response:
    """One job (404 outside the caller's scope)."""
    return jsonify(job_out(job_service.get_job_for(db_session(), api_user(), _check_id(job_id))))


def openapi_paths(*, read: dict[str, Any], json: Any, errors: Any, paging: list[dict[str, Any]], query: Any,
                  path_id: Any) -> dict[str, Any]:
    """The OpenAPI paths of these routes (built with console.openapi's helpers)."""
    def one(op: str, summary: str, name: str, out: str) -> dict[str, Any]:
        return {"get": {**read, "operationId": op, "summary": summary, "parameters": [path_id(name)],
                        "responses": {"200": json(out, summary), **errors(401, 404)}}}

    def many(op: str, summary: str, statuses: list[str], out: str) -> dict[str, Any]:
        return {"get": {**read, "operationId": op, "summary": summary,
                        "parameters": paging + [query("status", {"type": "string", "enum": statuses}, "Status")],
                        "responses": {"200": json(out, summary), **errors(401, 422)}}}

    return {
        "/market/listings": many("listMarketListings", "帮我卖 listings in the caller's scope, with buyers",
                                 ["open", "sold", "withdrawn"], "ListingPage"),
        "/market/listings/{listing_id}": one("getMarketListing", "One 帮我卖 listing", "listing_id", "ListingOut"),
        "/jobs": many("listJobs", "找活干 day jobs in the caller's scope, with sign-ups", ["open", "closed"],
                      "JobPage"),
        "/jobs/{job_id}": one("getJob", "One 找活干 day job", "job_id", "JobOut"),
    }
