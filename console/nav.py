"""The console's navigation: pages register an entry with the roles that may open them.

A phone shows a few primary entries per role and a "更多" drawer with every entry in groups; a PC shows
the groups open (console/templates/console/_nav.html).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
    group: str = "more"
    primary: bool = False  # shown in the phone's top row for the role that asked (see nav_for)

    @property
    def group_order(self) -> int:
        """Where the entry's group stands in the drawer."""
        return GROUPS.get(self.group, GROUPS["more"])[0]

    @property
    def group_label(self) -> str:
        """The Chinese msgid of the entry's group."""
        return GROUPS.get(self.group, GROUPS["more"])[1]


ROLE_LABELS = {
    "admin": N_("管理员"),
    "town": N_("指挥中心"),
    "village": N_("村干部"),
    "courtyard_head": N_("院长"),
    "grid_worker": N_("网格员"),
    "caregiver": N_("照护人"),
}

# The drawer's groups, in order: (position, Chinese msgid).
GROUPS = {
    "daily": (1, N_("日常")),
    "people": (2, N_("居民与手环")),
    "community": (3, N_("积分与电视")),
    "home": (4, N_("小院家")),  # 帮我卖, 找活干, bins and their rounds
    "phone": (5, N_("电话与消息")),
    "admin": (6, N_("管理")),
    "more": (7, N_("其他")),
}
# The phone's top row (at most four, so they and "更多" fit 390 px): what each role opens most.
PRIMARY = {
    "town": ("console.dashboard", "console.alert_board", "console.request_list", "console.reports"),
    "village": ("console.dashboard", "console.alert_board", "console.request_list", "console.reports"),
    "admin": ("console.dashboard", "console.alert_board", "console.request_list", "console.user_list"),
}
DEFAULT_PRIMARY = ("console.dashboard", "console.alert_board", "console.request_list", "console.resident_list")

_NAV: dict[str, NavItem] = {}


def register_nav(endpoint: str, label: str, roles: tuple[str, ...] = ROLES, order: int = 50,
                 group: str = "more") -> None:
    """Add (or replace) a menu entry; `roles` are the roles that see it, `group` its place in the drawer."""
    _NAV[endpoint] = NavItem(endpoint=endpoint, label=label, roles=tuple(roles), order=order,
                             group=group)


def nav_for(role: str | None) -> list[NavItem]:
    """The menu entries a role sees, in order, with the role's primary entries marked."""
    if role is None:
        return []
    primary = PRIMARY.get(role, DEFAULT_PRIMARY)
    return [replace(item, primary=item.endpoint in primary)
            for item in sorted((i for i in _NAV.values() if role in i.roles), key=lambda i: (i.order, i.endpoint))]


register_nav("console.dashboard", N_("首页"), ROLES, 10, group="daily")
register_nav("console.request_list", N_("工单"), ROLES, 20, group="daily")
register_nav("console.request_new", N_("登记工单"), ROLES, 25, group="daily")
register_nav("console.resident_list", N_("居民"), ROLES, 30, group="people")
register_nav("console.household_list", N_("住户"), ROLES, 35, group="people")
register_nav("console.user_list", N_("工作人员"), ("admin", "town", "village"), 60, group="admin")
register_nav("console.village_list", N_("村值班电话"), ("admin", "town", "village"), 65, group="phone")
register_nav("console.outbox_list", N_("消息"), MANAGERS, 70, group="phone")
register_nav("console.audit_list", N_("操作记录"), ("admin", "town", "village"), 80, group="admin")
register_nav("console.token_list", N_("API 令牌"), ROLES, 90, group="admin")
register_nav("console.password_change", N_("修改密码"), ROLES, 95)
