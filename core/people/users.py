"""Staff users: accounts created within the creator's places, argon2 password hashes, sign-in, API tokens.

Every change a person makes here is audited by the function that makes it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session, sessionmaker

from core import throttle
from core.errors import InvalidInput, NotFound, RateLimited
from core.i18n import N_
from core.models.places import Courtyard, Village
from core.models.staff import ROLES, ApiToken, User
from core.people import access
from core.people.audit import record_audit
from core.people.passwords import check_new_password
from core.people.sessions import end_all_sessions
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
        raise InvalidInput(N_("未知角色：%(role)s"), role=role)
    if len(password) < 8:
        raise InvalidInput(N_("密码至少 8 位"))
    if role == "town" and town_id is None:
        raise InvalidInput(N_("指挥中心账号需要指定镇"))
    if role in ("village", "grid_worker") and village_id is None:
        raise InvalidInput(N_("村干部和网格员需要指定村"))
    if role == "courtyard_head" and courtyard_id is None:
        raise InvalidInput(N_("院长需要指定小院"))
    if session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise InvalidInput(N_("用户名已存在：%(username)s"), username=username)
    user = User(
        username=username, display_name=display_name or username, password_hash=hash_password(password),
        role=role, phone=normalise_phone(phone), town_id=town_id, village_id=village_id,
        courtyard_id=courtyard_id, channels=channels or [], locale=locale, active=True, created_at=now,
    )
    session.add(user)
    session.flush()
    return user


def creatable_roles(creator_role: str) -> tuple[str, ...]:
    """The roles a user of `creator_role` may create accounts for (never above their own level)."""
    if creator_role == "admin":
        return ROLES
    if creator_role == "town":
        return ("town", "village", "courtyard_head", "grid_worker", "caregiver")
    if creator_role == "village":
        return ("courtyard_head", "grid_worker", "caregiver")
    return ()


def resolve_place(session: Session, creator: access.Viewer, role: str, *, town_id: int | None,
                  village_id: int | None, courtyard_id: int | None) -> tuple[int | None, int | None, int | None]:
    """(town_id, village_id, courtyard_id) for a new account: filled from the parents, inside the creator's scope."""
    courtyard = session.get(Courtyard, courtyard_id) if courtyard_id else None
    if courtyard_id and courtyard is None:
        raise InvalidInput(N_("找不到这个小院"))
    if courtyard is not None:
        village_id = courtyard.village_id
    village = session.get(Village, village_id) if village_id else None
    if village_id and village is None:
        raise InvalidInput(N_("找不到这个村"))
    if village is not None:
        town_id = village.town_id
    if creator.role != "admin":
        # Unplaced accounts (caregivers) are attached to the creator's place so the creator keeps seeing them.
        town_id = town_id or creator.town_id
        if creator.role == "village":
            village_id = village_id or creator.village_id
        if town_id != creator.town_id or (creator.role == "village" and village_id != creator.village_id):
            raise InvalidInput(N_("只能在您管辖的范围内建账号"))
    if role == "admin":
        return None, None, None
    if role == "town":
        return town_id, None, None
    if role == "courtyard_head":
        return town_id, village_id, courtyard_id
    return town_id, village_id, None


def create_account(
    session: Session, *, now: dt.datetime, creator: access.Viewer, username: str, password: str, role: str,
    display_name: str = "", phone: str | None = None, town_id: int | None = None, village_id: int | None = None,
    courtyard_id: int | None = None, replace_head: bool = False,
) -> User:
    """Create an account inside the creator's scope, never above their level.

    A new 院长 becomes their 小院's head when it has none (new requests then reach them), or always
    with `replace_head` (the operator installing a successor).
    """
    if role not in creatable_roles(creator.role):
        raise InvalidInput(N_("您不能创建这种角色"))
    check_new_password(password, username=username)
    town_id, village_id, courtyard_id = resolve_place(session, creator, role, town_id=town_id,
                                                      village_id=village_id, courtyard_id=courtyard_id)
    user = create_user(session, now=now, username=username.strip(), password=password, role=role,
                       display_name=display_name.strip(), phone=phone, town_id=town_id, village_id=village_id,
                       courtyard_id=courtyard_id)
    if courtyard_id is not None:
        courtyard = session.get(Courtyard, courtyard_id)
        if courtyard is not None and (courtyard.head_user_id is None or replace_head):
            courtyard.head_user_id = user.id  # new requests from this 小院 now reach the new 院长
    record_audit(session, at=now, actor=creator, action="user.create", entity_type="user", entity_id=user.id,
                 role=role)
    return user


def set_account_active(session: Session, *, now: dt.datetime, actor: access.Viewer, user_id: int,
                       active: bool) -> User:
    """Deactivate or reactivate an account in the actor's scope (never their own: NotFound / InvalidInput)."""
    user = session.scalar(sa.select(User).where(User.id == user_id, access.user_scope(actor)))
    if user is None:
        raise NotFound(N_("找不到这个账号"))
    if user.id == actor.id:
        raise InvalidInput(N_("不能停用自己的账号"))
    user.active = active
    record_audit(session, at=now, actor=actor, action="user.active", entity_type="user", entity_id=user.id,
                 active=active)
    return user


def change_password(session: Session, *, now: dt.datetime, user_id: int, current: str, new: str) -> User:
    """A user sets a new password, proving the current one; every session of theirs ends. Audited.

    A wrong current password is InvalidInput (nothing changes).
    """
    user = session.get(User, user_id)
    if user is None or not user.active or authenticate(session, user.username, current) is None:
        raise InvalidInput(N_("当前密码不对"))
    return _set_password(session, now=now, actor=user, user=user, new=new, reason="password")


def reset_password(session: Session, *, now: dt.datetime, actor: access.Viewer, username: str, new: str) -> User:
    """An admin (or the operator's CLI) sets someone's password without the old one; their sessions end. Audited.

    Only admins (and the operator) may; anyone else gets NotFound, as for a username that does not exist.
    """
    if actor.role != "admin":
        raise NotFound(N_("找不到这个账号"))
    user = session.scalar(sa.select(User).where(User.username == username.strip(), access.user_scope(actor)))
    if user is None:
        raise NotFound(N_("找不到这个账号"))
    return _set_password(session, now=now, actor=actor, user=user, new=new, reason="password_reset")


def _set_password(session: Session, *, now: dt.datetime, actor: access.Viewer, user: User, new: str,
                  reason: str) -> User:
    """Check and store a new password, end every session of the user, audit it as `user.<reason>`."""
    check_new_password(new, username=user.username)
    user.password_hash = hash_password(new)
    end_all_sessions(session, now=now, user_id=user.id, actor=actor, reason=reason)
    record_audit(session, at=now, actor=actor, action=f"user.{reason}", entity_type="user", entity_id=user.id)
    return user


@dataclass(frozen=True)
class LoginLimits:
    """Sign-in attempts allowed per client address and per username, each within its own window."""

    per_address: int = 10
    address_window: dt.timedelta = dt.timedelta(minutes=1)
    per_account: int = 10
    account_window: dt.timedelta = dt.timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings: Any) -> LoginLimits:
        """`[web]` login_rate_limit (per address) and login_account_limit (per username)."""
        per_address, address_window = throttle.parse_rate(settings.web.login_rate_limit)
        per_account, account_window = throttle.parse_rate(settings.web.login_account_limit)
        return cls(per_address=per_address, address_window=address_window, per_account=per_account,
                   account_window=account_window)


def sign_in_limited(session_factory: sessionmaker[Session], *, now: dt.datetime, username: str, password: str,
                    client_addr: str, limits: LoginLimits) -> User | None:
    """`sign_in` behind limits kept in the database, so every web process and restart shares them.

    Each attempt is counted against the client address and the username (existing or not, so the
    limit reveals nothing) before the password is checked; a successful sign-in is not counted.
    Raises RateLimited when either limit is reached; the returned User is detached (read-only).
    """
    verdicts = throttle.take_each(session_factory, now=now, limits=(
        (f"login:addr:{client_addr}", limits.per_address, limits.address_window),
        (f"login:user:{username.strip().lower()}", limits.per_account, limits.account_window)))
    if verdicts is None:
        raise RateLimited(N_("登录尝试太多，请稍后再试"))
    with session_factory() as session, session.begin():
        user = sign_in(session, now=now, username=username, password=password)
        if user is not None:
            for verdict in verdicts:
                throttle.forgive(session, verdict.hit_id)
    return user


def sign_in(session: Session, *, now: dt.datetime, username: str, password: str) -> User | None:
    """The active user with these credentials, with the sign-in audited; None (nothing recorded) otherwise."""
    user = authenticate(session, username, password)
    if user is not None:
        record_audit(session, at=now, actor=user, action="login", entity_type="user", entity_id=user.id)
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
    """Create an API token for the user (audited); the plain token is returned once and never stored."""
    token = "xy_" + secrets.token_urlsafe(32)
    name = (name or "").strip()[:60] or "api"
    session.add(ApiToken(user_id=user.id, name=name, token_hash=_token_hash(token), created_at=now))
    session.flush()
    record_audit(session, at=now, actor=user, action="token.create", entity_type="user", entity_id=user.id, name=name)
    return token


def revoke_api_token(session: Session, *, now: dt.datetime, user: User, token_id: int) -> ApiToken:
    """Revoke one of the user's own tokens (NotFound for anyone else's); audited."""
    token = session.scalar(sa.select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id))
    if token is None:
        raise NotFound(N_("找不到这个令牌"))
    token.revoked = True
    record_audit(session, at=now, actor=user, action="token.revoke", entity_type="api_token", entity_id=token.id)
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
