"""One way for a console form to change something: call the service, commit and say so — or roll back and say why.

Services check scope and record their own audit entries; a view only parses its form, passes a
`change(session, user, now)` to `form_action`, and chooses what to render from the `Outcome`.

A refused form is shown again with what was typed (`kept(name)` in templates) and the error next to
the field it concerns (`field_error(name)`): the error's own `field`, or the view's `fields` map from
the error's msgid to a form field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from flask import abort, flash, g, request
from sqlalchemy.orm import Session

from console.auth import current_staff
from console.blueprint import bp
from console.common import error_text
from console.db import db_session
from core.container import current_services
from core.errors import NotFound, ServiceError
from core.models.staff import User

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What a form action came to: the service's result, or the error it was refused with."""

    value: T | None = None
    error: ServiceError | None = None

    @property
    def ok(self) -> bool:
        """Whether the change was committed."""
        return self.error is None

    @property
    def result(self) -> T:
        """The service's result of a committed change (read it only when `ok`)."""
        if self.error is not None:
            raise self.error
        return cast(T, self.value)

    @property
    def status(self) -> int:
        """The HTTP status for a page rendered after the action: 200, or the error's own status."""
        return 200 if self.error is None else self.error.status


def form_action(change: Callable[[Session, User, dt.datetime], T], *, done: str | Callable[[T], str] | None = None,
                missing_is_404: bool = False, fields: dict[str, str] | None = None) -> Outcome[T]:
    """Run `change(session, user, now)` in the request's session and commit; flash `done` (a msgid, or a
    function of the result) on success. On a ServiceError roll back and flash its message, or answer 404
    for NotFound when `missing_is_404` (the page's object is outside the user's scope); `fields` maps an
    error's msgid to the form field it is about, so the page can show it there."""
    session = db_session()
    try:
        value = change(session, current_staff(), current_services().clock.now())
        session.commit()
    except ServiceError as exc:
        session.rollback()
        if missing_is_404 and isinstance(exc, NotFound):
            abort(404)
        flash(error_text(exc), "error")
        g.form_error = (getattr(exc, "field", None) or (fields or {}).get(exc.message), error_text(exc))
        return Outcome(error=exc)
    if done is not None:
        flash(done(value) if callable(done) else done, "success")
    return Outcome(value=value)


@bp.app_template_global("kept")
def kept(name: str, default: Any = "") -> Any:
    """What was typed into field `name` when a refused form is shown again (not after a success), else `default`."""
    if g.get("form_error") is not None and name in request.form:
        return request.form.get(name)
    return default


@bp.app_template_global("form_refused")
def form_refused() -> bool:
    """Whether this request's form was refused (a checkbox then shows what was sent, ticked or not)."""
    return g.get("form_error") is not None


@bp.app_template_global("field_error")
def field_error(name: str) -> str | None:
    """The message of the error about field `name` in this request's refused form (None if none)."""
    found = g.get("form_error")
    return found[1] if found and found[0] == name else None
