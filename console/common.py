"""Small helpers shared by console pages and the API: paging, local days, error messages, form values."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import request
from flask_babel import get_locale
from sqlalchemy.orm import Session

from console.api_schemas import MAX_ID
from console.db import db_session
from core.clock import as_utc, to_local
from core.community import photos
from core.community.tvboxes import TvConfig
from core.container import current_services
from core.errors import LocalisedError
from core.i18n import DEFAULT_LOCALE
from core.models.places import Household
from core.people.access import scoped_households

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class Page:
    """One page of a list: the rows plus where we are."""

    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages there are (at least one)."""
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        """Whether there is a page before this one."""
        return self.page > 1

    @property
    def has_next(self) -> bool:
        """Whether there is a page after this one."""
        return self.page < self.pages


def parse_positive_int(raw: str | None, default: int, *, maximum: int | None = None) -> int:
    """A positive int from a query string value; `default` when missing, malformed or past any id (2^31 - 1),
    capped at `maximum`."""
    try:
        value = int(raw) if raw else default
    except (TypeError, ValueError):
        value = default
    if value < 1 or value > MAX_ID:
        value = default
    if maximum is not None:
        value = min(value, maximum)
    return value


FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2999, 12, 31)  # days reports and filters can compute with


def parse_day(raw: str | None) -> dt.date | None:
    """A YYYY-MM-DD day from a query string; None when missing, malformed or too far out to compute with
    (9999-12-31 plus one day is past the end of the calendar)."""
    try:
        day = dt.date.fromisoformat(raw.strip()) if raw else None
    except ValueError:
        return None
    return day if day is not None and FIRST_DAY <= day <= LAST_DAY else None


def paginate(session: Session, query: sa.Select, page: int, per_page: int) -> Page:
    """Run a select for one page and count the whole result."""
    total = session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())) or 0
    items = list(session.scalars(query.limit(per_page).offset((page - 1) * per_page)).unique())
    return Page(items=items, page=page, per_page=per_page, total=total)


def local_day_start(now: dt.datetime) -> dt.datetime:
    """Midnight (Asia/Shanghai) of the local day containing `now`, as UTC."""
    local = to_local(now)
    return as_utc(local.replace(hour=0, minute=0, second=0, microsecond=0))


def public_page_language() -> dict[str, str]:
    """`html_lang` and the other language's code and name (a ?lang= link) for the pages open without login."""
    english = str(get_locale() or DEFAULT_LOCALE) == "en"
    return {"html_lang": "en" if english else "zh-CN", "other_lang": "zh" if english else "en",
            "other_lang_name": "中文" if english else "English"}


def error_text(exc: Exception) -> str:
    """The people-facing message of a service error, in the language of the current request."""
    if isinstance(exc, LocalisedError):
        return exc.text(str(get_locale() or DEFAULT_LOCALE)) or exc.__class__.__name__
    return str(exc) or exc.__class__.__name__


def request_int(name: str, default: int | None = None) -> int | None:
    """A form or query int; `default` when missing, malformed or beyond what a database integer holds."""
    try:
        value = int(request.values.get(name, ""))
    except ValueError:
        return default
    return value if -MAX_ID <= value <= MAX_ID else default


def households_in_scope(user: Any) -> list[Household]:
    """The households the user manages, by 小院 (for a form's household list)."""
    return list(db_session().scalars(scoped_households(user).order_by(Household.courtyard_id, Household.id)))


def photo_hosts() -> tuple[str, ...]:
    """The hosts whose https photos notices, rewards and listings may show ([tv] photo_hosts)."""
    return TvConfig.from_settings(current_services().settings).photo_hosts


def submitted_photo_url() -> str:
    """An uploaded photo (kept by xiaoyuan, its address) or else the address typed into the form."""
    upload = request.files.get("photo")
    if upload is not None and upload.filename:
        return photos.store_photo(current_services().settings.data_dir, upload.read(photos.MAX_BYTES + 1))
    return request.form.get("photo_url", "")
