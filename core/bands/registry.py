"""The band registry (pairing, assignment, MQTT credentials) and telemetry retention.

MQTT secrets are stored only as Mosquitto-compatible PBKDF2-SHA512 hashes (`$7$…`), so the same
hash serves the password file exported for Mosquitto and the embedded broker's check.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.bands import texts
from core.errors import InvalidInput, NotFound
from core.i18n import N_, translate
from core.models.devices import Band, TelemetryAggregate, TelemetryReading
from core.models.places import Courtyard, Household, Resident, Town, Village
from core.people.access import Viewer, get_resident_for
from core.people.audit import record_audit

log = logging.getLogger(__name__)
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{2,64}$")  # safe inside an MQTT topic and an ACL line
PBKDF2_ITERATIONS = 1000
BUCKET = dt.timedelta(minutes=5)
SET_INTERVAL_MIN_S, SET_INTERVAL_MAX_S = 30, 3600  # what a `set_interval` command to a band may ask for
PROTOCOLS = ("mqtt", "watch")  # a band's own MQTT client, or a watch speaking the 3G* TCP protocol to the gateway
# Bands log in to the broker as `band-{device_id}`; service accounts (the listeners, the tools) never start
# with this prefix, so no device id can ever name a service account.
BAND_USER_PREFIX = "band-"
# Device ids refused outright: they read like service accounts in logs and on the broker.
RESERVED_DEVICE_IDS = frozenset({"xiaoyuan", "_service", "service", "listener", "admin", "root", "mosquitto"})


def band_username(device_id: str) -> str:
    """The broker username of a band (its own namespace, apart from every service account)."""
    return f"{BAND_USER_PREFIX}{device_id}"


def hash_secret(secret: str, *, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None) -> str:
    """Hash a secret the way `mosquitto_passwd` does (Mosquitto 2.x `$7$`: PBKDF2-SHA512, 12-byte salt)."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", secret.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_secret(secret: str, hashed: str) -> bool:
    """Check a secret against a `$7$` hash in constant time."""
    try:
        _, kind, iterations, salt, digest = hashed.split("$")
        if kind != "7":
            return False
        computed = hashlib.pbkdf2_hmac("sha512", secret.encode(), base64.b64decode(salt), int(iterations))
        return hmac.compare_digest(base64.b64encode(computed).decode(), digest)
    except (ValueError, TypeError):
        return False


def _check_id(value: str, problem: str) -> str:
    if not ID_PATTERN.match(value or ""):
        raise InvalidInput(problem)
    return value


@dataclass(frozen=True)
class NewBand:
    """A band just registered, its MQTT secret (shown once; only the hash is kept) and, for a band given to
    nobody, what whoever registered it must be told (`unassigned_band_notice`: msgid, params)."""

    band: Band
    secret: str
    notice: tuple[str, dict[str, Any]] | None


def register_band(
    session: Session, *, now: dt.datetime, device_id: str, site: str = "default", model: str = "",
    interval_s: int = 60, resident_id: int | None = None, secret: str | None = None, actor: Viewer | None = None,
    protocol: str = "mqtt",
) -> NewBand:
    """Register a band.

    A watch (`protocol="watch"`) has no MQTT account: the gateway publishes for it, so its secret is "".
    A person registering (`actor`) may give it only to a resident they see; None is the system (demo,
    simulator). Audited; a band given to nobody is logged with where its alarms will go.
    """
    if protocol not in PROTOCOLS:
        raise InvalidInput(N_("未知的设备协议 %(protocol)r"), protocol=protocol)
    _check_id(device_id, N_("设备号只能包含字母、数字、- 和 _"))
    if device_id.lower() in RESERVED_DEVICE_IDS or device_id.lower().startswith("xiaoyuan"):
        raise InvalidInput(N_("设备号 %(device)s 是系统保留的名字，不能用作手环设备号"), device=device_id)
    _check_id(site, N_("站点只能包含字母、数字、- 和 _"))
    if session.scalar(sa.select(Band.id).where(Band.device_id == device_id)) is not None:
        raise InvalidInput(N_("这个设备号已经登记过"))
    if not 10 <= interval_s <= 86400:
        raise InvalidInput(N_("上报间隔应在10秒到1天之间"))
    _check_resident(session, actor, resident_id)
    secret = "" if protocol == "watch" else secret or secrets.token_urlsafe(18)
    band = Band(device_id=device_id, site=site, model=model, interval_s=interval_s, resident_id=resident_id,
                protocol=protocol, mqtt_password_hash=hash_secret(secret) if secret else "", thresholds={},
                last_reading={}, rule_state={}, created_at=now)
    session.add(band)
    session.flush()
    record_audit(session, at=now, actor=actor or "system", action="band.add", entity_type="band", entity_id=band.id,
                 resident_id=resident_id)
    notice = unassigned_band_notice(session, band) if resident_id is None else None
    if notice is not None:
        log.warning("band %s is not given to a resident: %s", device_id, translate(notice[0], "en", **notice[1]))
    return NewBand(band, secret, notice)


def add_band(session: Session, *, now: dt.datetime, device_id: str, **options: Any) -> tuple[Band, str]:
    """`register_band` for callers that need only the band and its secret (the demo, simulators, tests)."""
    new = register_band(session, now=now, device_id=device_id, **options)
    return new.band, new.secret


def unassigned_band_notice(session: Session, band: Band) -> tuple[str, dict[str, Any]]:
    """What the person registering a band for nobody must know, where its alarms will go: (msgid, params)."""
    village_id, _town_id = site_place(session, band.id)
    village = session.get(Village, village_id) if village_id is not None else None
    if village is None:
        return texts.UNASSIGNED_BAND_TOWN, {"band": band.device_id}
    return texts.UNASSIGNED_BAND_VILLAGE, {"band": band.device_id, "village": village.name}


def _check_resident(session: Session, actor: Viewer | None, resident_id: int | None) -> None:
    if resident_id is None:
        return
    if actor is not None:
        get_resident_for(session, actor, resident_id)
    elif session.get(Resident, resident_id) is None:
        raise NotFound(N_("找不到这位居民"))


def site_place(session: Session, band_id: int | None) -> tuple[int | None, int | None]:
    """(village id, town id) a band given to nobody belongs to, from its site; (None, None) when unknown.

    A site's village is the one village of the residents wearing its other bands; a deployment with
    one village (or one town) needs no more.
    """
    band = session.get(Band, band_id) if band_id is not None else None
    villages: list[int] = []
    if band is not None:
        villages = list(session.scalars(
            sa.select(Courtyard.village_id).distinct()
            .join(Household, Household.courtyard_id == Courtyard.id)
            .join(Resident, Resident.household_id == Household.id)
            .join(Band, Band.resident_id == Resident.id)
            .where(Band.site == band.site)
        ))
    if len(villages) != 1:
        villages = list(session.scalars(sa.select(Village.id).limit(2)))
    village = session.get(Village, villages[0]) if len(villages) == 1 else None
    if village is not None:
        return village.id, village.town_id
    towns = list(session.scalars(sa.select(Town.id).limit(2)))
    return None, towns[0] if len(towns) == 1 else None


def get_band(session: Session, ref: str | int) -> Band:
    """A band by row id or device id."""
    band = None
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit() and len(ref) < 10):
        band = session.get(Band, int(ref))
    if band is None:
        band = session.scalar(sa.select(Band).where(Band.device_id == str(ref)))
    if band is None:
        raise NotFound(N_("找不到这个手环"))
    return band


def find_watch(session: Session, device_id: str) -> Band | None:
    """The active band registered for a watch-protocol id, or None (the gateway refuses the connection)."""
    return session.scalar(sa.select(Band).where(Band.device_id == device_id, Band.protocol == "watch",
                                                Band.active.is_(True)))


def list_watches(session: Session) -> list[tuple[str, str]]:
    """(device id, site) of every active watch-protocol band (the gateway's registry at start)."""
    return [(d, s) for d, s in session.execute(
        sa.select(Band.device_id, Band.site).where(Band.protocol == "watch", Band.active.is_(True)))]


def assign_band(
    session: Session, *, now: dt.datetime, band_ref: str | int, resident_id: int | None,
    thresholds: Mapping[str, Any] | None = None, interval_s: int | None = None, actor: Viewer | None = None,
) -> Band:
    """Give a band to a resident (or take it back with None); optionally set threshold overrides. Audited.

    A person (`actor`) may give it only to a resident they see.
    """
    band = get_band(session, band_ref)
    _check_resident(session, actor, resident_id)
    band.resident_id = resident_id
    band.rule_state = {}
    if thresholds is not None:
        cleaned = {k: v for k, v in thresholds.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        band.thresholds = cleaned
    if interval_s is not None:
        band.interval_s = interval_s
    session.flush()
    record_audit(session, at=now, actor=actor or "system", action="band.assign", entity_type="band",
                 entity_id=band.id, resident_id=resident_id)
    return band


def check_command_interval(interval_s: int) -> int:
    """The interval a band may be told to report at (30–3600 s), or InvalidInput."""
    if isinstance(interval_s, bool) or not isinstance(interval_s, int) or not (
            SET_INTERVAL_MIN_S <= interval_s <= SET_INTERVAL_MAX_S):
        raise InvalidInput(N_("上报间隔应在%(low)s到%(high)s秒之间"), low=SET_INTERVAL_MIN_S, high=SET_INTERVAL_MAX_S)
    return interval_s


def set_band_interval(session: Session, band_ref: str | int, interval_s: int) -> Band:
    """Record a band's new reporting interval (after it was told by `set_interval`); silent-band checks use it."""
    band = get_band(session, band_ref)
    band.interval_s = check_command_interval(interval_s)
    session.flush()
    return band


def rotate_secret(session: Session, band_ref: str | int) -> str:
    """Give a band a new MQTT secret; return it (export the password file again afterwards)."""
    band = get_band(session, band_ref)
    secret = secrets.token_urlsafe(18)
    band.mqtt_password_hash = hash_secret(secret)
    return secret


def list_bands(session: Session) -> list[Band]:
    """Every band, by id."""
    return list(session.scalars(sa.select(Band).order_by(Band.id)))


def band_row(band: Band) -> dict[str, Any]:
    """A band as a JSON-friendly dict (no secrets)."""
    return {
        "id": band.id, "device_id": band.device_id, "resident_id": band.resident_id, "site": band.site,
        "model": band.model, "protocol": band.protocol, "interval_s": band.interval_s, "online": band.online,
        "battery": band.battery,
        "worn": band.worn, "active": band.active,
        "last_seen_at": band.last_seen_at.isoformat() if band.last_seen_at else None,
        "thresholds": band.thresholds or {},
    }


def _floor(ts: dt.datetime) -> dt.datetime:
    return ts - dt.timedelta(minutes=ts.minute % 5, seconds=ts.second, microseconds=ts.microsecond)


def _merge(agg: TelemetryAggregate, rows: list[TelemetryReading]) -> None:
    def values(name: str) -> list[Any]:
        return [getattr(r, name) for r in rows if getattr(r, name) is not None]

    def lo(current: Any, new: list[Any]) -> Any:
        return min([*new, *([current] if current is not None else [])]) if new or current is not None else None

    def hi(current: Any, new: list[Any]) -> Any:
        return max([*new, *([current] if current is not None else [])]) if new or current is not None else None

    def avg(current: float | None, count: int, new: list[Any]) -> float | None:
        if not new:
            return current
        if current is None:
            return sum(new) / len(new)
        return (current * count + sum(new)) / (count + len(new))

    hr, spo2 = values("hr"), values("spo2")
    old = agg.samples or 0
    agg.hr_min, agg.hr_max = lo(agg.hr_min, hr), hi(agg.hr_max, hr)
    agg.hr_avg = avg(agg.hr_avg, old, hr)
    agg.spo2_min = lo(agg.spo2_min, spo2)
    agg.spo2_avg = avg(agg.spo2_avg, old, spo2)
    agg.temp_max = hi(agg.temp_max, values("temp_c"))
    agg.sbp_max, agg.dbp_max = hi(agg.sbp_max, values("sbp")), hi(agg.dbp_max, values("dbp"))
    agg.steps_max = hi(agg.steps_max, values("steps"))
    agg.battery_min = lo(agg.battery_min, values("battery"))
    agg.samples = old + len(rows)


def aggregate_telemetry(
    session: Session, *, now: dt.datetime, raw_days: int, aggregate_days: int, chunk: int = 20000
) -> int:
    """Fold raw readings older than `raw_days` into 5-minute aggregates, delete them; drop old aggregates."""
    cutoff = now - dt.timedelta(days=raw_days)
    folded = 0
    while True:
        rows = list(session.scalars(
            sa.select(TelemetryReading).where(TelemetryReading.ts < cutoff)
            .order_by(TelemetryReading.band_id, TelemetryReading.ts).limit(chunk)
        ))
        if not rows:
            break
        buckets: dict[tuple[int, dt.datetime], list[TelemetryReading]] = defaultdict(list)
        for row in rows:
            buckets[(row.band_id, _floor(row.ts))].append(row)
        for (band_id, start), members in buckets.items():
            agg = session.scalar(sa.select(TelemetryAggregate).where(
                TelemetryAggregate.band_id == band_id, TelemetryAggregate.bucket_start == start))
            if agg is None:
                agg = TelemetryAggregate(band_id=band_id, resident_id=members[0].resident_id, bucket_start=start,
                                         samples=0)
                session.add(agg)
            _merge(agg, members)
        session.execute(sa.delete(TelemetryReading).where(TelemetryReading.id.in_([r.id for r in rows])))
        session.flush()
        folded += len(rows)
    session.execute(sa.delete(TelemetryAggregate).where(
        TelemetryAggregate.bucket_start < now - dt.timedelta(days=aggregate_days)))
    return folded


def vitals_series(
    session: Session, resident_id: int, *, since: dt.datetime, until: dt.datetime
) -> list[dict[str, Any]]:
    """Heart rate, SpO2 and temperature points for a resident, raw where kept, else aggregated."""
    points = [
        {"ts": ts, "hr": hr, "spo2": spo2, "temp_c": temp}
        for ts, hr, spo2, temp in session.execute(
            sa.select(TelemetryReading.ts, TelemetryReading.hr, TelemetryReading.spo2, TelemetryReading.temp_c)
            .where(TelemetryReading.resident_id == resident_id, TelemetryReading.ts >= since,
                   TelemetryReading.ts <= until)
            .order_by(TelemetryReading.ts)
        )
    ]
    first_raw = points[0]["ts"] if points else until
    points[:0] = [
        {"ts": ts, "hr": hr, "spo2": spo2, "temp_c": temp}
        for ts, hr, spo2, temp in session.execute(
            sa.select(TelemetryAggregate.bucket_start, TelemetryAggregate.hr_avg, TelemetryAggregate.spo2_avg,
                      TelemetryAggregate.temp_max)
            .where(TelemetryAggregate.resident_id == resident_id, TelemetryAggregate.bucket_start >= since,
                   TelemetryAggregate.bucket_start < first_raw)
            .order_by(TelemetryAggregate.bucket_start)
        )
    ]
    return points
