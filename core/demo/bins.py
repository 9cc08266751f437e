"""Demo data for 爱环境: three labelled bins along the 椒香小院 route, emptied by the village's 网格员."""

from __future__ import annotations

import sqlalchemy as sa

from core.community.bins import add_bin
from core.container import Services
from core.db import transaction
from core.models.bins import Bin
from core.models.places import Courtyard
from core.models.staff import User
from core.people.access import Operator

DEMO_COURTYARD = "椒香小院"
DEMO_BINS = (("村口一号桶", "01 村口大槐树下"), ("祠堂桶", "02 祠堂门口"), ("后山路口桶", "03 后山路口"))


def seed_demo(services: Services) -> dict[str, int]:
    """Add the demo bins (no-op when the 小院 already has bins, or there is no demo 小院)."""
    now = services.clock.now()
    with transaction(services.session_factory) as session:
        courtyard = session.scalar(sa.select(Courtyard).where(Courtyard.name == DEMO_COURTYARD).order_by(Courtyard.id))
        if courtyard is None or session.scalar(sa.select(Bin.id).where(Bin.courtyard_id == courtyard.id)):
            return {}
        cleaner = session.scalar(sa.select(User.id).where(
            User.role == "grid_worker", User.village_id == courtyard.village_id, User.active.is_(True),
        ).order_by(User.id))
        for name, location in DEMO_BINS:
            add_bin(session, now=now, actor=Operator(username="demo"), courtyard_id=courtyard.id, name=name,
                    location=location, cleaner_id=cleaner, via="demo")
    return {"bins": len(DEMO_BINS)}
