"""Demo data: a believable, entirely fictional village for demos and first runs (`xiaoyuan demo`).

Places and people come first; each area's seeder then finds them by the demo's names.
"""

from __future__ import annotations

from core.container import Services
from core.demo import bands, bins, boards, community, ops, people, workorders
from core.demo.people import DEMO_PASSWORD

__all__ = ["DEMO_PASSWORD", "area_seeders", "seed_demo"]


def area_seeders() -> list:
    """The `seed_demo(services)` functions of the community (incl. 爱环境 bins, 帮我卖 / 找活干), wristband and
    scheduled-operations areas."""
    return [community.seed_demo, bins.seed_demo, boards.seed_demo, bands.seed_demo, ops.seed_demo]


def seed_demo(services: Services) -> dict[str, int]:
    """Everything a demo needs: places, people and requests, then each area's own part."""
    summary = people.seed_places_and_people(services)
    summary["requests"] = workorders.seed_requests(services)
    for area_seeder in area_seeders():
        summary.update(area_seeder(services) or {})
    return summary
