"""What the settings models share: their base class, and ports, URLs and paths, each checked when the settings load."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class Section(BaseModel):
    """A settings section: frozen, and an unknown key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _url(schemes: tuple[str, ...]) -> AfterValidator:
    """A validator: empty, or a URL with one of `schemes` and a host."""

    def check(value: str) -> str:
        if value:
            try:
                parts = urlsplit(value)
                parts.port  # noqa: B018 - raises ValueError for a port out of range
            except ValueError as exc:
                raise ValueError(f"not a valid URL: {value!r} ({exc})") from exc
            if parts.scheme not in schemes or not parts.hostname:
                raise ValueError(f"not a {' / '.join(s + '://' for s in schemes)} URL with a host: {value!r}")
        return value

    return AfterValidator(check)


def _database_url(value: str) -> str:
    if value:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(value)
        except (ArgumentError, ValueError) as exc:
            raise ValueError(f"not a database URL (e.g. postgresql://user:pass@host/db): {value!r}") from exc
    return value


def _path(value: str) -> str:
    if "\x00" in value or value != value.strip():
        raise ValueError(f"not a usable path: {value!r}")
    return value


Port = Annotated[int, Field(ge=1, le=65535)]
HttpUrlOrEmpty = Annotated[str, _url(("http", "https"))]
MqttUrlOrEmpty = Annotated[str, _url(("mqtt", "mqtts", "tcp", "ssl"))]
DatabaseUrlOrEmpty = Annotated[str, AfterValidator(_database_url)]
PathOrEmpty = Annotated[str, AfterValidator(_path)]
NonEmptyPath = Annotated[str, Field(min_length=1), AfterValidator(_path)]
