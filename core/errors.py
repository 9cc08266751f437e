"""Errors that services raise and edges translate (web → status code, phone → apology)."""


class ServiceError(Exception):
    """Base class; `code` is stable for API clients, the message is for people."""

    code = "error"
    status = 400


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
