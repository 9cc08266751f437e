"""The community area's typed settings: `[tv]` (the TV home, points ledger, pairing, check-in, paging).

Defaults are defined here once.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from core.i18n import N_
from core.settings_types import Section


def _readable_rate(value: str) -> str:
    from core.throttle import parse_rate

    parse_rate(value)  # "6 per hour": a typo is a config error, not a 500 on a passer-by's or buyer's phone
    return value


Rate = Annotated[str, AfterValidator(_readable_rate)]  # a limit on public input, as core.throttle.parse_rate reads it


class TvSettings(Section):
    """The TV home (小院+ on the set-top box), the points ledger, rewards, notices and the daily check-in."""

    point_categories: tuple[str, ...] = Field(
        (N_("环境卫生"), N_("志愿服务"), N_("参加会议"), N_("孝老爱亲"), N_("移风易俗"), N_("扣分"), N_("其他")),
        description="ledger categories staff may pick (兑换, 退还 and 冲正 are the system's and always exist)")
    pairing_code_minutes: int = Field(10, ge=1, description="a 6-digit code on an unpaired box is valid this long")
    pairing_code_refresh_seconds: int = Field(
        60, ge=0, description="the pairing screen shows a new code this long before the shown one expires (the old"
        " one works until its expiry; at most half the code's life)")
    pairing_codes_per_hour: int = Field(
        8, ge=1, description="at most this many codes per box per hour (a box left on the pairing screen needs"
        " 60 / (10 - 1) ≈ 7)")
    pairing_new_boxes_per_hour: int = Field(30, ge=1, description="new unpaired boxes per client address per hour")
    pairing_failures_per_10min: int = Field(10, ge=1, description="wrong codes a staff member may type in 10 minutes")
    cookie_days: int = Field(3650, ge=1, description="how long a box keeps its cookie (revoke from the console)")
    checkin_deadline: str = Field(
        "10:00", description="我很好: the 院长 is told when one living alone has not checked in by then")
    checkin_only_tv_households: bool = Field(True, description="only households with a paired box are expected to")
    help_call_cancel_seconds: int = Field(5, ge=0, description="the one-key call's cancel countdown on the TV")
    help_call_active_minutes: int = Field(30, ge=1, description="a help call counts as active this long")
    status_poll_seconds: int = Field(2, ge=1)
    ranking_page_size: int = Field(6, ge=1, description="lines per TV page")
    rewards_page_size: int = Field(6, ge=1)
    notices_page_size: int = Field(5, ge=1)
    photo_hosts: tuple[str, ...] = Field(
        (), description="hosts whose https photos staff may link on notices and rewards (by default only photos "
        "uploaded to xiaoyuan: a TV box's token is in its page addresses and must not reach another site)")
    ranking_page_size_large: int = Field(
        4, ge=1, description="lines per TV page in 大字 (fewer, so that every page still fits 1280×720)")
    rewards_page_size_large: int = Field(4, ge=1)
    notices_page_size_large: int = Field(4, ge=1)
    home_cache_seconds: float = Field(
        5, ge=0, description="a box's rendered home and each 小院's board are reused this long; a write by this process"
        " to what they show drops them at once, writes by another process show after at most this long (0 = off)")

    def page_size(self, kind: str, text_size: str = "standard") -> int:
        """Rows per page of a TV list ("ranking", "rewards", "notices") in this text size."""
        return int(getattr(self, f"{kind}_page_size_large" if text_size == "large" else f"{kind}_page_size"))

    @field_validator("checkin_deadline")
    @classmethod
    def _valid_time(cls, value: str) -> str:
        hours, minutes = (int(part) for part in value.strip().split(":"))  # HH:MM, as checkins.parse_deadline reads it
        dt.time(hours, minutes)
        return value

    @classmethod
    def from_settings(cls, settings: Any) -> TvSettings:
        """The `[tv]` section of the loaded settings (the defaults when there are none)."""
        return settings.tv if settings is not None else cls()


# The web server refuses any request body over 16 MB (Flask MAX_CONTENT_LENGTH): a photo must fit well inside it.
BIN_PHOTO_MAX_MB = 15


class BinSettings(Section):
    """爱环境 bins: how often a QR label may be scanned (counted in the database, shared by every web process),
    the photo a report may carry, and 环境卫生 points for reporters who leave their phone number."""

    scans_per_client: Rate = Field("6 per hour", description="reports one phone (client address) may send, all bins")
    scans_per_bin: Rate = Field("12 per hour", description="reports one bin may get from everybody together")
    photo_max_mb: int = Field(
        5, ge=1, le=BIN_PHOTO_MAX_MB, description="largest photo a report may carry (JPEG, PNG or WebP, judged by"
        " content); a bigger one is dropped with a message and the report is kept")
    photos_per_request: int = Field(
        5, ge=0, description="photos kept on one bin's open request, all scans together (0: the page asks for none)")
    report_points: int = Field(
        0, ge=0, le=100, description="环境卫生 points for the household whose registered phone (same village as the"
        " bin) a reporter left, given when the cleaner marks the bin 已清运; 0 = off and the page asks for no number")
    report_points_per_day: int = Field(
        10, ge=1, description="at most this many such points per household per day (Asia/Shanghai)")


MAX_SELL_ITEMS = 9  # one digit key each (0 is the one-key call)
MAX_SELL_ITEM_CHARS = 4  # what one TV tile shows whole in 大字 ("红薯粉条")


class MarketSettings(Section):
    """帮我卖: what a TV offers to sell, and how often buyers (我要买) and boxes may ask (counted in the database)."""

    interest_per_client: Rate = Field("5 per hour",
                                      description="我要买 one phone (client address) may send, all listings")
    interest_per_listing: Rate = Field("20 per day", description="我要买 one listing may get from everybody together")
    tv_items: tuple[str, ...] = Field(
        (N_("花椒"), N_("鸡蛋"), N_("土鸡"), N_("蔬菜"), N_("其他")),
        description="what an elder can pick under 帮我卖 on the TV, one digit key each (1–9 items of at most 4"
        " characters); the 院长 calls back to ask how much and at what price")
    tv_asks_per_household: Rate = Field(
        "6 per day", description="帮我卖 requests one household may make from its TV (asking again for an item that"
        " is still with the 院长 does not count)")

    @field_validator("tv_items")
    @classmethod
    def _digit_keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        items = tuple(item.strip() for item in value)
        if not 1 <= len(items) <= MAX_SELL_ITEMS or not all(items) or len(set(items)) != len(items):
            raise ValueError(f"1 to {MAX_SELL_ITEMS} different, non-empty items (one digit key each)")
        if any(len(item) > MAX_SELL_ITEM_CHARS for item in items):
            raise ValueError(f"an item is at most {MAX_SELL_ITEM_CHARS} characters (a TV tile in 大字 shows no more)")
        return items
