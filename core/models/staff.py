"""Staff users (院长, 网格员, village, town, admin, caregivers) and their API tokens."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models.base import Base

ROLES = ("admin", "town", "village", "courtyard_head", "grid_worker", "caregiver")


class User(Base):
    """A staff member or caregiver who logs into the console; scoped by role to a place."""

    __tablename__ = "staff_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(60), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(80))
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(20))
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    town_id: Mapped[int | None] = mapped_column(sa.ForeignKey("town.id"), index=True)
    village_id: Mapped[int | None] = mapped_column(sa.ForeignKey("village.id"), index=True)
    courtyard_id: Mapped[int | None] = mapped_column(sa.ForeignKey("courtyard.id"), index=True)
    channels: Mapped[list[Any]] = mapped_column(default=list)
    locale: Mapped[str] = mapped_column(sa.String(10), default="zh")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime]
    # Console session cookies carry this number; raising it ends every session of the user.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")

    # Flask-Login protocol, kept here so the console needs no wrapper class.
    @property
    def is_authenticated(self) -> bool:
        """Every loaded user is authenticated."""
        return True

    @property
    def is_active(self) -> bool:
        """Deactivated users cannot log in."""
        return self.active

    @property
    def is_anonymous(self) -> bool:
        """Loaded users are never anonymous."""
        return False

    def get_id(self) -> str:
        """Flask-Login session id."""
        return str(self.id)


# A change to any of these ends the user's console sessions: a stolen cookie must not outlive a new
# password, and nobody keeps a session opened under a role or place they no longer have.
SESSION_ENDING_FIELDS = ("password_hash", "role", "active", "town_id", "village_id", "courtyard_id")


@sa.event.listens_for(User, "before_update")
def _end_sessions_on_sensitive_change(_mapper: Any, _connection: Any, target: User) -> None:
    state = sa.inspect(target)
    if any(state.attrs[name].history.has_changes() for name in SESSION_ENDING_FIELDS):
        target.session_version = (target.session_version or 0) + 1


class ApiToken(Base):
    """A per-user API token; only its SHA-256 hash is stored."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_user.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime | None]
    revoked: Mapped[bool] = mapped_column(default=False)
    user: Mapped[User] = relationship(back_populates="tokens")
