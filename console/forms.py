"""One way for a console form to change something: call the service, commit and say so — or roll back and say why.

Services check scope and record their own audit entries; a view only parses its form, passes a
`change(session, user, now)` to `form_action`, and chooses what to render from the `Outcome`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from flask import abort, flash
from sqlalchemy.orm import Session

from console.auth import current_staff
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
                missing_is_404: bool = False) -> Outcome[T]:
    """Run `change(session, user, now)` in the request's session and commit; flash `done` (a msgid, or a
    function of the result) on success. On a ServiceError roll back and flash its message, or answer 404
    for NotFound when `missing_is_404` (the page's object is outside the user's scope)."""
    session = db_session()
    try:
        value = change(session, current_staff(), current_services().clock.now())
        session.commit()
    except ServiceError as exc:
        session.rollback()
        if missing_is_404 and isinstance(exc, NotFound):
            abort(404)
        flash(error_text(exc), "error")
        return Outcome(error=exc)
    if done is not None:
        flash(done(value) if callable(done) else done, "success")
    return Outcome(value=value)
