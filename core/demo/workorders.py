"""Demo requests (工单) in every state, moved through the real lifecycle so their timelines are real."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from core.container import Services
from core.db import transaction
from core.models.places import Resident
from core.requests import workorders as req_svc

REQUEST_SAMPLES = [
    ("environment", "垃圾箱满了，麻烦来清一下", "new"),
    ("repair", "我家水管爆了", "assigned"),
    ("sell", "帮我卖三十个土鸡蛋", "in_progress"),
    ("find_head", "找院长商量低保的事", "resolved"),
    ("job", "想找点零工做", "evaluated"),
    ("help", "腿疼，想请人帮忙买药", "closed"),
    ("environment", "路灯不亮了", "assigned"),
    ("repair", "屋顶漏雨", "in_progress"),
]


def seed_requests(services: Services) -> int:
    """Requests in every state, moved through the real services so timelines are real."""
    now = services.clock.now()
    due = services.settings.requests.due_hours
    with transaction(services.session_factory) as s:
        residents = list(s.scalars(sa.select(Resident).order_by(Resident.id)))
        for index, (kind, text, target) in enumerate(REQUEST_SAMPLES):
            resident = residents[(index * 7) % len(residents)]
            created = now - dt.timedelta(hours=30 - index * 3)
            # The "new" sample is an unregistered caller: nobody to assign it to until staff pick it up.
            req = req_svc.submit_request(s, now=created, due_hours=due,
                                         resident_id=None if target == "new" else resident.id, type=kind,
                                         channel=("phone", "tv", "console")[index % 3], text=text,
                                         system_label="demo")
            later = created + dt.timedelta(hours=1)
            if target in ("in_progress", "resolved", "evaluated", "closed"):
                req_svc.start_request(s, now=later, actor=None, request_id=req.id)
            if target in ("resolved", "evaluated", "closed"):
                req_svc.resolve_request(s, now=later + dt.timedelta(hours=2), actor=None, request_id=req.id,
                                        note="已上门处理")
            if target == "evaluated":
                req_svc.evaluate_request(s, now=later + dt.timedelta(hours=3), actor=None, request_id=req.id,
                                         satisfaction="satisfied")
            if target == "closed":
                req_svc.close_request(s, now=later + dt.timedelta(hours=3), actor=None, request_id=req.id,
                                      note="居民已确认")
    return len(REQUEST_SAMPLES)
