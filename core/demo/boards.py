"""Demo data for the boards: the demo 帮我卖 request listed by its 院长, and a 找活干 day job of its village."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from core.clock import to_local
from core.community import dayjobs, market
from core.container import Services
from core.db import transaction
from core.models.dayjobs import DayJob
from core.models.market import Listing
from core.models.requests import Request
from core.models.staff import User


def seed_demo(services: Services) -> dict[str, int]:
    """List the first open 帮我卖 request and post one job in its village (no-op once anything is listed)."""
    now = services.clock.now()
    with transaction(services.session_factory) as session:
        if session.scalar(sa.select(Listing.id).limit(1)) or session.scalar(sa.select(DayJob.id).limit(1)):
            return {}
        req = session.scalar(sa.select(Request).where(Request.type == "sell", Request.household_id.is_not(None),
                                                      Request.status.in_(("new", "assigned", "in_progress")))
                             .order_by(Request.id))
        head = session.get(User, req.assignee_id) if req is not None and req.assignee_id else None
        if req is None or head is None:
            return {}
        market.list_from_request(session, now=now, actor=head, request_id=req.id, fields=market.ListingFields(
            item="土鸡蛋", quantity=market.parse_amount("30", field="数量"), unit="个",
            price=market.parse_amount("1.5", field="单价"), note="自家散养的鸡下的"))
        cadre = session.scalar(sa.select(User).where(User.role == "village", User.village_id == req.village_id,
                                                     User.active.is_(True)).order_by(User.id))
        if cadre is None:
            return {"listings": 1}
        dayjobs.post_job(session, now=now, actor=cadre, village_id=req.village_id, fields=dayjobs.JobFields(
            title="摘花椒", pay="100元/天，管午饭", place="大坡花椒地", workers=5,
            work_date=to_local(now).date() + dt.timedelta(days=2), note="自带剪刀，早上七点村委会集合。"))
    return {"listings": 1, "jobs": 1}
