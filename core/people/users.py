"""Staff users: creation, argon2 password hashes, per-user API tokens (stored hashed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from core.errors import InvalidInput
from core.models.staff import ROLES, ApiToken, User
from core.phones import normalise_phone

_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def create_user(
    session: Session, *, now: dt.datetime, username: str, password: str, role: str, display_name: str = "",
    phone: str | None = None, town_id: int | None = None, village_id: int | None = None,
    courtyard_id: int | None = None, channels: list[str] | None = None, locale: str = "zh",
) -> User:
    """Create a staff user; scoped roles must name their place."""
    if role not in ROLES:
        raise InvalidInput(f"未知角色 / unknown role: {role}")
    if len(password) < 8:
        raise InvalidInput("密码至少 8 位 / password must have at least 8 characters")
    if role == "town" and town_id is None:
        raise InvalidInput("指挥中心账号需要指定镇 / a town user needs a town")
    if role in ("village", "grid_worker") and village_id is None:
        raise InvalidInput("村干部和网格员需要指定村 / a village user needs a village")
    if role == "courtyard_head" and courtyard_id is None:
        raise InvalidInput("院长需要指定小院 / a courtyard head needs a courtyard")
    if session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise InvalidInput(f"用户名已存在 / username taken: {username}")
    user = User(
        username=username, display_name=display_name or username, password_hash=hash_password(password),
        role=role, phone=normalise_phone(phone), town_id=town_id, village_id=village_id,
        courtyard_id=courtyard_id, channels=channels or [], locale=locale, active=True, created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this username and password, or None."""
    user = session.scalar(sa.select(User).where(User.username == username))
    candidate = user.password_hash if user is not None else _DUMMY_HASH
    try:
        _hasher.verify(candidate, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(session: Session, *, now: dt.datetime, user: User, name: str) -> str:
    """Create an API token for the user; the plain token is returned once and never stored."""
    token = "xy_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name, token_hash=_token_hash(token), created_at=now))
    session.flush()
    return token


def user_for_token(session: Session, token: str, now: dt.datetime) -> User | None:
    """The active user owning an unrevoked token, or None."""
    row = session.scalar(
        sa.select(ApiToken).where(ApiToken.token_hash == _token_hash(token), ApiToken.revoked.is_(False))
    )
    if row is None or not row.user.active:
        return None
    row.last_used_at = now
    return row.user
