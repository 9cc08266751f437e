"""爱环境 bins: the registry (add, list within scope) and a passer-by's QR scan turned into one open request.

A scan comes from anyone with a phone, so it is checked in this order: the token must name an active
bin (else NotFound, nothing counted), then the client and the bin must be under their scan limits
(counted in the database, so every web process shares them), and only then is the report written.
Every scan of a bin with an open 爱环境 request adds to that request's count; none opens a second one.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from core import throttle
from core.community import texts
from core.errors import InvalidInput, NotFound, RateLimited
from core.i18n import DEFAULT_LOCALE, N_, translate
from core.models.bins import REPORT_KINDS, Bin, BinReport
from core.models.places import Courtyard, Village
from core.models.requests import Request, RequestEvent
from core.models.staff import User
from core.people import access
from core.people.audit import record_audit
from core.requests.workorders import OPEN_STATUSES, submit_request

KIND_LABELS = {"full": N_("满了"), "broken": N_("坏了"), "smell": N_("有异味"), "other": N_("其他")}
REQUEST_TYPE = "environment"


@dataclass(frozen=True)
class ScanLimits:
    """How many scans let through per bin and per client (phone address) in a window."""

    per_bin: int = 12
    per_client: int = 6
    window: dt.timedelta = dt.timedelta(hours=1)


@dataclass(frozen=True)
class ScanResult:
    """What one scan did: the request it opened or added to, and how many reports that request now has."""

    bin_id: int
    request_id: int
    reports: int
    opened: bool


def new_token() -> str:
    """A public, unguessable label token (96 random bits, URL-safe, 16 characters)."""
    return secrets.token_urlsafe(12)


def scoped_bins(viewer: access.Viewer) -> sa.Select:
    """A select of the bins in the 小院 the viewer manages, in route order (village, 小院, location, name)."""
    return (
        sa.select(Bin)
        .join(Courtyard, Bin.courtyard_id == Courtyard.id)
        .join(Village, Courtyard.village_id == Village.id)
        .where(access.courtyard_scope(viewer))
        .order_by(Village.id, Courtyard.id, Bin.location, Bin.name, Bin.id)
    )


def _check_cleaner(session: Session, cleaner_id: int | None, courtyard: Courtyard) -> None:
    if cleaner_id is None:
        return
    cleaner = session.get(User, cleaner_id)
    if cleaner is None or not cleaner.active or cleaner.role not in access.MANAGER_ROLES:
        raise InvalidInput(N_("找不到这位工作人员"))
    if cleaner.role != "admin" and not access.can_see_place(
            cleaner, courtyard_id=courtyard.id, village_id=courtyard.village_id, town_id=courtyard.village.town_id):
        raise InvalidInput(N_("这位工作人员管不到这里"))


def add_bin(session: Session, *, now: dt.datetime, actor: access.Viewer, courtyard_id: int, name: str,
            location: str = "", lat: float | None = None, lon: float | None = None, cleaner_id: int | None = None,
            via: str | None = None) -> Bin:
    """Register a bin in a 小院 the actor manages, with a fresh public token. Audited."""
    access.require_manager(actor)
    courtyard = access.get_courtyard_for(session, actor, courtyard_id)
    name = name.strip()
    if not name or len(name) > 80:
        raise InvalidInput(N_("请填写垃圾桶的名字（80 字以内）"))
    if session.scalar(sa.select(Bin.id).where(Bin.courtyard_id == courtyard.id, Bin.name == name)) is not None:
        raise InvalidInput(N_("这个小院已经有叫“%(name)s”的垃圾桶了"), name=name)
    _check_cleaner(session, cleaner_id, courtyard)
    if lat is None or lon is None:
        if lat is not None or lon is not None:
            raise InvalidInput(N_("经纬度要么都填，要么都不填"))
    elif not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput(N_("经纬度不对"))
    bin_ = Bin(courtyard_id=courtyard.id, name=name, location=location.strip()[:200], lat=lat, lon=lon,
               cleaner_id=cleaner_id, token=new_token(), created_at=now)
    session.add(bin_)
    session.flush()
    detail = {"via": via} if via else {}
    record_audit(session, at=now, actor=actor, action="bin.add", entity_type="bin", entity_id=bin_.id,
                 courtyard_id=courtyard.id, name=name, **detail)
    return bin_


def bin_for_token(session: Session, token: str) -> Bin:
    """The active bin a label token names; NotFound for anything else (the page says no more)."""
    bin_ = session.scalar(sa.select(Bin).where(Bin.token == token[:32], Bin.active.is_(True)))
    if bin_ is None:
        raise NotFound(N_("找不到这个二维码"))
    return bin_


def open_report_count(session: Session, bin_: Bin) -> int:
    """How many scans the bin's open request has gathered (0 when it has none open)."""
    if bin_.open_request_id is None:
        return 0
    status = session.scalar(sa.select(Request.status).where(Request.id == bin_.open_request_id))
    if status not in OPEN_STATUSES:
        return 0
    return int(session.scalar(sa.select(sa.func.count(BinReport.id)).where(
        BinReport.request_id == bin_.open_request_id)) or 0)


def report_bin(session_factory: sessionmaker[Session], *, now: dt.datetime, token: str, kind: str, client: str,
               due_hours: dict[str, float], limits: ScanLimits = ScanLimits()) -> ScanResult:
    """A scan of a bin's label: add to its open request or open one (told to its cleaner, else the 院长)."""
    if kind not in REPORT_KINDS:
        raise InvalidInput(N_("请选一种情况"))
    with session_factory() as session:
        bin_id = bin_for_token(session, token).id
    for bucket, limit in ((f"bin.scan:client:{client}", limits.per_client), (f"bin.scan:bin:{bin_id}", limits.per_bin)):
        if not throttle.take(session_factory, bucket=bucket, now=now, window=limits.window, limit=limit).allowed:
            raise RateLimited(texts.BIN_SCAN_LIMITED)
    with session_factory() as session, session.begin():
        # Take the bin's row lock first: two scans at the same moment then see each other's request.
        session.execute(sa.update(Bin).where(Bin.id == bin_id).values(scan_seq=Bin.scan_seq + 1))
        bin_ = session.get(Bin, bin_id, populate_existing=True)
        assert bin_ is not None
        req = session.get(Request, bin_.open_request_id) if bin_.open_request_id else None
        opened = req is None or req.status not in OPEN_STATUSES
        if opened:
            req = _open_request(session, bin_, kind, now, due_hours)
            bin_.open_request_id = req.id
        else:
            assert req is not None
            req.events.append(RequestEvent(at=now, actor_id=None, actor_label="qr", action="reported",
                                           from_status=req.status, to_status=None, note=KIND_LABELS[kind]))
            req.updated_at = now
        session.add(BinReport(bin_id=bin_.id, request_id=req.id, kind=kind, at=now))
        session.flush()
        reports = int(session.scalar(sa.select(sa.func.count(BinReport.id)).where(
            BinReport.request_id == req.id)) or 0)
        req.details = {**req.details, "bin_id": bin_.id, "reports": reports}
        return ScanResult(bin_id=bin_.id, request_id=req.id, reports=reports, opened=opened)


def _open_request(session: Session, bin_: Bin, kind: str, now: dt.datetime, due_hours: dict[str, float]) -> Request:
    cleaner = bin_.cleaner if bin_.cleaner is not None and bin_.cleaner.active else None
    place = bin_.courtyard.name + (f"，{bin_.location}" if bin_.location else "")
    text = translate(texts.BIN_REQUEST_TEXT, DEFAULT_LOCALE, bin=bin_.name, place=place,
                     kind=translate(KIND_LABELS[kind], DEFAULT_LOCALE))
    return submit_request(session, now=now, due_hours=due_hours, resident_id=None, type=REQUEST_TYPE, channel="qr",
                          text=text, courtyard_id=bin_.courtyard_id, assign_to=cleaner,
                          details={"bin_id": bin_.id, "kind": kind}, system_label="qr")
