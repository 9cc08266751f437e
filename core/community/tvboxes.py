"""TV boxes: first contact, 6-digit pairing codes, binding to a household, tokens, revocation.

An unknown box gets a random bearer token at once (kept in a cookie and, for boxes without
cookies, in its URLs); only its SHA-256 hash is stored. The token shows nothing until staff type
the box's pairing code into the console (or an installer runs `xiaoyuan tv pair`): then it is
bound to one household. Revoking a box clears the hash: the box is unknown again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import throttle
from core.community.config import TvSettings
from core.db import rows_changed, transaction
from core.errors import InvalidInput, InvalidTransition, NotFound, RateLimited
from core.i18n import N_
from core.models.places import Household
from core.models.tvbox import TvBox, TvPairingCode
from core.people.audit import record_audit

TOKEN_BYTES = 24
STALE_PENDING = dt.timedelta(days=2)  # an unpaired box is forgotten after this long
TEXT_SIZES = ("standard", "large")


TvConfig = TvSettings  # the `[tv]` section, typed in core/community/config.py


def hash_token(token: str) -> str:
    """The stored form of a box token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_pairing_code(rng: Any = secrets) -> str:
    """A random 6-digit code, leading zeros allowed (pure, injectable randomness)."""
    return f"{rng.randbelow(1_000_000):06d}"


def normalise_code(raw: str) -> str:
    """Accept '123 456' or '123-456' as typed by staff; raise InvalidInput for anything but 6 digits."""
    digits = "".join(ch for ch in (raw or "") if ch not in " -")
    if len(digits) != 6 or not digits.isdigit():
        raise InvalidInput(N_("配对码是 6 位数字"))
    return digits


def code_is_usable(code: TvPairingCode, now: dt.datetime) -> bool:
    """A code works once, and only before it expires."""
    return code.used_at is None and now < code.expires_at


def register_box(session: Session, *, now: dt.datetime, client_addr: str = "", config: TvConfig | None = None,
                 ) -> tuple[TvBox, str]:
    """A first-contact box: a new pending TvBox and its token (returned once, stored hashed)."""
    config = config or TvConfig()
    since = now - dt.timedelta(hours=1)
    if client_addr:
        recent = session.scalar(sa.select(sa.func.count(TvBox.id)).where(
            TvBox.client_addr == client_addr, TvBox.created_at >= since, TvBox.status == "pending"))
        if (recent or 0) >= config.pairing_new_boxes_per_hour:
            raise RateLimited(N_("新机顶盒太多，请一小时后再试"))
    token = secrets.token_urlsafe(TOKEN_BYTES)
    box = TvBox(token_hash=hash_token(token), status="pending", client_addr=client_addr[:64], created_at=now,
                last_seen_at=now)
    session.add(box)
    session.flush()
    return box, token


def box_for_token(session: Session, token: str | None) -> TvBox | None:
    """The box holding this token (pending or paired), or None for unknown or revoked tokens."""
    if not token or len(token) > 200:
        return None
    box = session.scalar(sa.select(TvBox).where(TvBox.token_hash == hash_token(token)))
    if box is None or box.status == "revoked":
        return None
    return box


def paired_household_id(box: TvBox | None) -> int | None:
    """The household a box speaks for, or None when it may see nothing."""
    if box is None or box.status != "paired":
        return None
    return box.household_id


def refresh_margin(config: TvConfig) -> dt.timedelta:
    """How long before its expiry a shown code is replaced: the configured margin, at most half its life (pure)."""
    life = dt.timedelta(minutes=config.pairing_code_minutes)
    return min(dt.timedelta(seconds=max(config.pairing_code_refresh_seconds, 0)), life / 2)


def code_needs_refresh(code: TvPairingCode | None, now: dt.datetime, config: TvConfig) -> bool:
    """True when a box should show a new code: none is valid, or the valid one is about to expire (pure)."""
    return code is None or code.expires_at - now <= refresh_margin(config)


def current_code(session: Session, *, now: dt.datetime, box: TvBox, config: TvConfig | None = None,
                 rng: Any = secrets) -> TvPairingCode:
    """The code a pending box shows: the newest valid one, or a new one shortly before that expires.

    A box left on the pairing screen must never show a code that no longer works, so the code is
    replaced `pairing_code_refresh_seconds` before its expiry (the screen polls). The replaced code
    keeps working until its own expiry: someone may just have read it out. At most
    `pairing_codes_per_hour` codes per box; at that limit a still-valid code stays up.
    """
    config = config or TvConfig()
    if box.status != "pending":
        raise InvalidTransition(N_("这台机顶盒已经配对"))
    valid = session.scalar(sa.select(TvPairingCode).where(
        TvPairingCode.box_id == box.id, TvPairingCode.used_at.is_(None), TvPairingCode.expires_at > now,
    ).order_by(TvPairingCode.id.desc()))
    if valid is not None and not code_needs_refresh(valid, now, config):
        return valid
    recent = session.scalar(sa.select(sa.func.count(TvPairingCode.id)).where(
        TvPairingCode.box_id == box.id, TvPairingCode.created_at >= now - dt.timedelta(hours=1)))
    if (recent or 0) >= config.pairing_codes_per_hour:
        if valid is not None:
            return valid
        raise RateLimited(N_("配对码申请太频繁，请稍后再试"))
    for _attempt in range(20):
        code = new_pairing_code(rng)
        clash = session.scalar(sa.select(TvPairingCode.id).where(
            TvPairingCode.code == code, TvPairingCode.used_at.is_(None), TvPairingCode.expires_at > now))
        if clash is None:
            break
    else:
        raise InvalidTransition(N_("暂时无法生成配对码"))
    row = TvPairingCode(box_id=box.id, code=code, created_at=now,
                        expires_at=now + dt.timedelta(minutes=config.pairing_code_minutes))
    session.add(row)
    session.flush()
    return row


PAIRING_WINDOW = dt.timedelta(minutes=10)


def _pairing_bucket(actor_label: str) -> str:
    return f"tv.pair:{actor_label}"


def record_failed_pairing(session_factory: Any, *, now: dt.datetime, actor_label: str, code: str,
                          actor_id: int | None = None) -> None:
    """Audit a wrong code in its own transaction (it must survive the caller's rollback).

    The limit itself is kept by `pair_by_code`, which counts each attempt before checking it.

    Takes plain values, not a User: the caller's session may be rolled back (its objects expired).
    """
    from core.db import transaction
    from core.models.audit import AuditEntry as Entry

    with transaction(session_factory) as session:
        session.add(Entry(at=now, actor_id=actor_id, actor_label=actor_label, action="tv.pair_failed",
                          entity_type="tv_box", entity_id=None, detail={"code_prefix": code[:2]}))


def actor_label_of(actor: Any) -> str:
    """The label failures are counted under: a user's username, a plain string, or "system"."""
    return getattr(actor, "username", None) or (actor if isinstance(actor, str) else "system")


def pair_box(session: Session, *, now: dt.datetime, code: str, household_id: int, actor: Any = None) -> TvBox:
    """Bind the box showing `code` to a household. The code then stops working.

    Raises NotFound for a wrong, used or expired code. Codes typed by people go through
    `pair_by_code`, which limits guessing; this is the pairing itself, for callers that hold a code.
    """
    digits = normalise_code(code)
    if session.get(Household, household_id) is None:
        raise NotFound(N_("找不到这一户"))
    row = session.scalar(sa.select(TvPairingCode).where(
        TvPairingCode.code == digits, TvPairingCode.used_at.is_(None), TvPairingCode.expires_at > now,
    ).order_by(TvPairingCode.id.desc()).with_for_update())
    if row is None:
        raise NotFound(N_("配对码不对或已过期"))
    box = session.get(TvBox, row.box_id)
    if box is None or box.status != "pending":
        raise NotFound(N_("配对码不对或已过期"))
    row.used_at = now
    box.status = "paired"
    box.household_id = household_id
    box.paired_at = now
    box.paired_by_id = getattr(actor, "id", None)
    session.flush()
    record_audit(session, at=now, actor=actor, action="tv.pair", entity_type="tv_box", entity_id=box.id,
                 household_id=household_id)
    return box


def pair_by_code(session_factory: Any, *, now: dt.datetime, code: str, household_id: int, actor: Any = None,
                 config: TvConfig | None = None) -> int:
    """Pair with a code a person typed, at most `pairing_failures_per_10min` wrong codes per person; the box id.

    The attempt is counted (committed) before the code is checked, so concurrent guesses cannot all
    slip under the limit; a successful pairing is not counted. Wrong codes are audited. Raises
    RateLimited, NotFound or InvalidInput.
    """
    config = config or TvConfig()
    label = actor_label_of(actor)
    actor_id = getattr(actor, "id", None)
    verdict = throttle.take(session_factory, bucket=_pairing_bucket(label), now=now, window=PAIRING_WINDOW,
                            limit=config.pairing_failures_per_10min)
    if not verdict.allowed:
        raise RateLimited(N_("输错次数太多，请 10 分钟后再试"))
    try:
        with transaction(session_factory) as session:
            box = pair_box(session, now=now, code=code, household_id=household_id, actor=actor)
            throttle.forgive(session, verdict.hit_id)
            return box.id
    except (NotFound, InvalidInput):
        record_failed_pairing(session_factory, now=now, actor_label=label, actor_id=actor_id, code=code)
        raise


def revoke_box(session: Session, *, now: dt.datetime, box_id: int, actor: Any = None) -> TvBox:
    """Unbind a box: its token stops working and it shows the pairing screen again."""
    box = session.get(TvBox, box_id)
    if box is None:
        raise NotFound(N_("找不到这台机顶盒"))
    box.status = "revoked"
    box.token_hash = None
    box.revoked_at = now
    session.flush()
    record_audit(session, at=now, actor=actor, action="tv.revoke", entity_type="tv_box", entity_id=box.id,
                 household_id=box.household_id)
    return box


def forget_stale_boxes(session: Session, *, now: dt.datetime, older_than: dt.timedelta = STALE_PENDING) -> int:
    """Delete boxes that showed a pairing code but were never paired in time (and their codes); audited.

    A box that comes back later is simply a new first contact.
    """
    cutoff = now - older_than
    stale = sa.select(TvBox.id).where(TvBox.status == "pending", TvBox.created_at < cutoff)
    session.execute(sa.delete(TvPairingCode).where(TvPairingCode.box_id.in_(stale)))
    deleted = rows_changed(session.execute(sa.delete(TvBox).where(TvBox.status == "pending",
                                                                  TvBox.created_at < cutoff)))
    if deleted:
        record_audit(session, at=now, actor="system", action="tv.forget_stale", entity_type="tv_box",
                     entity_id=None, deleted=deleted)
    return deleted


def set_text_size(session: Session, *, box: TvBox, size: str) -> None:
    """Remember 标准 / 大字 for one box."""
    if size not in TEXT_SIZES:
        raise InvalidInput("unknown text size")
    box.text_size = size


def set_voice_guide(session: Session, *, box: TvBox, on: bool) -> None:
    """Remember 语音导读 on or off for one box (switched from the home tile or the blue key)."""
    box.voice_guide = bool(on)


SEEN_EVERY = dt.timedelta(minutes=1)  # a box's last-seen time is written at most this often


def seen_is_due(box: TvBox, now: dt.datetime) -> bool:
    """Whether a box seen at `now` should have its last-seen time written (pure)."""
    return box.last_seen_at is None or now - box.last_seen_at >= SEEN_EVERY


def mark_seen(session: Session, seen: dict[int, dt.datetime]) -> None:
    """Write the last-seen times of many boxes in one statement; a later time already stored is kept."""
    if not seen:
        return
    table = cast(sa.Table, TvBox.__table__)
    statement = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("box_id"),
               sa.or_(table.c.last_seen_at.is_(None), table.c.last_seen_at < sa.bindparam("seen")))
        .values(last_seen_at=sa.bindparam("seen"))
    )
    session.connection().execute(statement, [{"box_id": box_id, "seen": at} for box_id, at in sorted(seen.items())])


def boxes_in_scope(session: Session, household_clause: Any) -> list[tuple[TvBox, Household]]:
    """Paired boxes and their households, for households matching a clause on Household (console)."""
    return list(session.execute(
        sa.select(TvBox, Household).join(Household, TvBox.household_id == Household.id)
        .where(TvBox.status == "paired", household_clause).order_by(Household.id, TvBox.id)
    ))
