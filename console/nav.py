"""The console's navigation: pages register an entry with the roles that may open them."""

from __future__ import annotations

from dataclasses import dataclass

from core.i18n import N_
from core.models.staff import ROLES

MANAGERS = ("admin", "town", "village", "courtyard_head", "grid_worker")


@dataclass(frozen=True)
class NavItem:
    """One link in the console menu."""

    endpoint: str
    label: str  # Chinese msgid, translated when rendered
    roles: tuple[str, ...]
    order: int


ROLE_LABELS = {
    "admin": N_("管理员"),
    "town": N_("指挥中心"),
    "village": N_("村干部"),
    "courtyard_head": N_("院长"),
    "grid_worker": N_("网格员"),
    "caregiver": N_("照护人"),
}

_NAV: dict[str, NavItem] = {}


def register_nav(endpoint: str, label: str, roles: tuple[str, ...] = ROLES, order: int = 50) -> None:
    """Add (or replace) a menu entry; `roles` are the roles that see it."""
    _NAV[endpoint] = NavItem(endpoint=endpoint, label=label, roles=tuple(roles), order=order)


def nav_for(role: str | None) -> list[NavItem]:
    """The menu entries a role sees, in order."""
    if role is None:
        return []
    return sorted((item for item in _NAV.values() if role in item.roles), key=lambda i: (i.order, i.endpoint))


register_nav("console.dashboard", N_("首页"), ROLES, 10)
register_nav("console.request_list", N_("工单"), ROLES, 20)
register_nav("console.request_new", N_("登记工单"), ROLES, 25)
register_nav("console.resident_list", N_("居民"), ROLES, 30)
register_nav("console.household_list", N_("住户"), ROLES, 35)
register_nav("console.user_list", N_("工作人员"), ("admin", "town", "village"), 60)
register_nav("console.village_list", N_("村值班电话"), ("admin", "town", "village"), 65)
register_nav("console.outbox_list", N_("消息"), MANAGERS, 70)
register_nav("console.audit_list", N_("操作记录"), ("admin", "town", "village"), 80)
register_nav("console.token_list", N_("API 令牌"), ROLES, 90)
register_nav("console.password_change", N_("修改密码"), ROLES, 95)
