"""Errors that services raise and edges translate (web → status code, phone → apology)."""

from __future__ import annotations

from core.i18n import DEFAULT_LOCALE, translate


class LocalisedError(Exception):
    """An error whose message is a catalogued Chinese msgid with `%(name)s` parameters.

    The raiser names the message and its parameters; each edge renders it in its reader's language
    with `text(locale)` (the CLI prints Chinese then English). `str()` is the Chinese text.
    """

    def __init__(self, message: str = "", /, **params: object) -> None:
        self.message = message
        self.params = params
        super().__init__(self.text())

    def text(self, locale: str = DEFAULT_LOCALE) -> str:
        """The message in `locale` (Chinese by default), parameters filled in."""
        if not self.message:
            return ""
        return translate(self.message, locale, **self.params)

    def __str__(self) -> str:
        return self.text()


class ServiceError(LocalisedError):
    """Base class; `code` is stable for API clients, the message is for people; `field` names the input
    the error is about, when an edge parsed it (a form shows the message next to that field)."""

    code = "error"
    status = 400
    field: str | None = None


class NotFound(ServiceError):
    """The thing does not exist, or the actor may not know that it does."""

    code = "not_found"
    status = 404


class PermissionDenied(ServiceError):
    """The actor's role or scope does not allow this."""

    code = "forbidden"
    status = 403


class InvalidTransition(ServiceError):
    """The object is not in a state that allows this action."""

    code = "invalid_transition"
    status = 409


class InvalidInput(ServiceError):
    """The input is malformed or out of range."""

    code = "invalid_input"
    status = 422


class RateLimited(ServiceError):
    """Too many attempts in a short time; the message says when to try again."""

    code = "rate_limited"
    status = 429
