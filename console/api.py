"""JSON API /api/v1/: token authentication and JSON errors (`{"error": {"code", "message"}}`)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from console.auth import translate_message
from console.blueprint import api
from console.common import error_text
from console.db import db_session
from core.container import current_services
from core.errors import ServiceError
from core.i18n import N_
from core.models.staff import User
from core.people.users import user_for_token

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid_input",
    429: "too_many_requests", 500: "server_error",
}


class ApiError(Exception):
    """An error answered as JSON with an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str) -> Response:
    """The JSON error body every API failure uses; a catalogued message is in the reader's language (?lang=)."""
    response = jsonify({"error": {"code": code, "message": translate_message(message)}})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="xiaoyuan"'
    return response


def _is_api_request() -> bool:
    prefix = api.url_prefix or "/api/v1"
    return request.path == prefix or request.path.startswith(prefix + "/")


def _http_error(exc: HTTPException) -> Response | HTTPException:
    """HTTP errors under /api/v1 (incl. unrouted 404 and 405) become JSON; other paths keep their pages."""
    if not _is_api_request():
        return exc
    status = exc.code or 500
    response = error_response(status, HTTP_CODES.get(status, "error"), exc.description or exc.name)
    if status == 405 and exc.response is None:
        allowed = getattr(exc, "valid_methods", None)
        if allowed:
            response.headers["Allow"] = ", ".join(allowed)
    return response


def init_api_errors(app: Flask) -> None:
    """Make every failure under /api/v1 a JSON error (routing errors are handled by the app, not the blueprint)."""
    app.register_error_handler(HTTPException, _http_error)


@api.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message)


@api.errorhandler(ServiceError)
def _service_error(exc: ServiceError) -> Response:
    return error_response(exc.status, exc.code, error_text(exc))


@api.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return _http_error(exc)  # type: ignore[return-value]
    log.exception("API error on %s %s", request.method, request.path)
    return error_response(500, "server_error", N_("服务器出错了"))


def api_user() -> User:
    """The user authenticated by the bearer token of this request."""
    return g.api_user


def token_required(view: F) -> F:
    """Require `Authorization: Bearer xy_...` of an active user with an unrevoked token."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(401, "unauthorized", N_("需要 API 令牌"))
        session = db_session()
        user = user_for_token(session, token.strip(), current_services().clock.now())
        if user is None:
            raise ApiError(401, "unauthorized", N_("API 令牌无效或已撤销"))
        session.commit()  # last_used_at
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
