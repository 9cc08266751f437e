"""Whether a database still holds the demo's known secrets, and when that is dangerous.

Demo accounts share a password printed in the README and on every `make run`; demo TV boxes are
paired to a real-looking household. On a laptop that is the point. On a server others can reach, or
with a real telephony provider that calls real phones, it is an open door: `xiaoyuan check` and the
start-up banner say so loudly.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.i18n import N_
from core.models.staff import User
from core.models.tvbox import TvBox


@dataclass(frozen=True)
class DemoTraces:
    """Demo accounts that still have the demo password, and demo TV boxes that still work."""

    users: list[str] = field(default_factory=list)
    boxes: int = 0

    def __bool__(self) -> bool:
        return bool(self.users or self.boxes)


def find_demo_traces(session: Session) -> DemoTraces:
    """Look for the demo's accounts (checking each against the printed password) and its TV boxes."""
    from core.demo.community import DEMO_BOX_LABEL, DEMO_PENDING_BOX_LABEL
    from core.demo.people import DEMO_PASSWORD, DEMO_USERNAMES
    from core.people.users import authenticate

    candidates = session.scalars(sa.select(User.username).where(User.username.in_(DEMO_USERNAMES),
                                                                User.active.is_(True))).all()
    users = sorted(name for name in candidates if authenticate(session, name, DEMO_PASSWORD) is not None)
    boxes = int(session.scalar(sa.select(sa.func.count(TvBox.id)).where(
        TvBox.label.in_((DEMO_BOX_LABEL, DEMO_PENDING_BOX_LABEL)), TvBox.status != "revoked")) or 0)
    return DemoTraces(users=users, boxes=boxes)


def is_loopback(host: str) -> bool:
    """Whether a listen address is reachable from this machine only."""
    if host.strip().lower() in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost: assume others can reach it


def exposure_warnings(settings: Any, traces: DemoTraces) -> list[tuple[str, dict[str, object]]]:
    """Catalogued warnings (msgid, params) when demo secrets exist where someone else could use them."""
    if not traces:
        return []
    found = {"users": ", ".join(traces.users) or "-", "boxes": traces.boxes}
    warnings: list[tuple[str, dict[str, object]]] = []
    if not is_loopback(settings.web.host):
        warnings.append((N_("危险：演示账号（%(users)s，密码公开）或演示电视（%(boxes)s 台）还在，而服务监听 %(host)s，"
                            "别人可以登录。请删除演示数据或改密码：xiaoyuan user reset-password"),
                         {**found, "host": settings.web.host}))
    if settings.telephony.provider != "dryrun":
        warnings.append((N_("危险：演示账号（%(users)s）或演示电视（%(boxes)s 台）还在，而电话服务商是 %(provider)s，"
                            "会真的打电话、发短信。正式使用前请删除演示数据"),
                         {**found, "provider": settings.telephony.provider}))
    return warnings
