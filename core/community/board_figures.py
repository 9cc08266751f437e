"""The 帮我卖 and 找活干 figures of a report period for a village or a town (for core.requests.reports)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.models.dayjobs import DayJob, JobSignup
from core.models.market import BuyerInterest, Listing


def board_figures(session: Session, *, scope: str, scope_id: int, start: dt.datetime, end: dt.datetime
                  ) -> dict[str, Any]:
    """Listings made, sold, withdrawn and still open at the end, buyers; jobs posted and sign-ups, in [start, end).

    A town-wide job counts for the town only; a village's report counts the jobs of that village.
    """
    listing_place = Listing.village_id == scope_id if scope == "village" else Listing.town_id == scope_id
    listed, sold, withdrawn, open_at_end = session.execute(sa.select(
        sa.func.count(Listing.id).filter(Listing.created_at >= start, Listing.created_at < end),
        sa.func.count(Listing.id).filter(Listing.status == "sold", Listing.closed_at >= start, Listing.closed_at < end),
        sa.func.count(Listing.id).filter(Listing.status == "withdrawn", Listing.closed_at >= start,
                                         Listing.closed_at < end),
        sa.func.count(Listing.id).filter(Listing.created_at < end,
                                         sa.or_(Listing.closed_at.is_(None), Listing.closed_at >= end)),
    ).where(listing_place)).one()
    buyers = session.scalar(sa.select(sa.func.count(BuyerInterest.id)).join(
        Listing, BuyerInterest.listing_id == Listing.id).where(
        listing_place, BuyerInterest.created_at >= start, BuyerInterest.created_at < end)) or 0
    job_place = DayJob.village_id == scope_id if scope == "village" else DayJob.town_id == scope_id
    posted = session.scalar(sa.select(sa.func.count(DayJob.id)).where(
        job_place, DayJob.created_at >= start, DayJob.created_at < end)) or 0
    signups = session.scalar(sa.select(sa.func.count(JobSignup.id)).join(DayJob, JobSignup.job_id == DayJob.id).where(
        job_place, JobSignup.created_at >= start, JobSignup.created_at < end)) or 0
    return {"listed": listed or 0, "sold": sold or 0, "withdrawn": withdrawn or 0, "open": open_at_end or 0,
            "buyers": buyers, "jobs_posted": posted, "job_signups": signups}
