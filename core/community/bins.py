"""爱环境 bins: the registry (add, list within scope) and a passer-by's QR scan turned into one open request.

A scan comes from anyone with a phone, so it is checked in this order: the token must name an active
bin (else NotFound, nothing counted), then the client and the bin must be under their scan limits
(counted in the database, so every web process shares them), and only then is the report written.
Every scan of a bin with an open 爱环境 request adds to that request's count; none opens a second one.

A scan may carry a photo (see core.community.bin_photos) and, when `[bins] report_points` is on, the
reporter's phone number. Neither can cost the report: a refused photo or an unreadable number becomes a
note on the thank-you page. A number is matched at once against the residents of the bin's village and
only the household it names is kept on the report (never the number); when the cleaner marks the bin
已清运, each such household gets 环境卫生 points once per request, within a daily cap. The page says the
same whether a number matched or not.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import statistics
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from core import throttle
from core.community import bin_photos, texts
from core.community import points as points_service
from core.community.notices import local_day_bounds
from core.errors import InvalidInput, InvalidTransition, LocalisedError, NotFound, RateLimited
from core.i18n import DEFAULT_LOCALE, N_, translate
from core.models.bins import REPORT_KINDS, Bin, BinPhoto, BinReport
from core.models.places import Courtyard, Household, Resident, Village
from core.models.points import PointEntry
from core.models.requests import Request, RequestEvent
from core.models.staff import User
from core.people import access
from core.people.audit import record_audit
from core.phones import InvalidPhone, normalise_phone_strict
from core.requests.workorders import OPEN_STATUSES, resolve_request, submit_request

_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,32}")
KIND_LABELS = {"full": N_("满了"), "broken": N_("坏了"), "smell": N_("有异味"), "other": N_("其他")}
REQUEST_TYPE = "environment"
POINTS_CATEGORY = N_("环境卫生")
POINTS_SOURCE = "bin"
# The ledger line a reporter's household gets (stored in Chinese, like everything on the ledger).
POINTS_REASONS = {"full": N_("报告垃圾桶满了：%(bin)s"), "broken": N_("报告垃圾桶坏了：%(bin)s"),
                  "smell": N_("报告垃圾桶有异味：%(bin)s"), "other": N_("报告垃圾桶的问题：%(bin)s")}
PHONE_UNREADABLE = N_("电话号码没有记下：号码不对（11 位手机号，或带区号的座机）。")
PHONE_NOTED = N_("清运以后，如果这是本村居民登记的电话，这一户会得到 %(points)s 个环境卫生积分。")


@dataclass(frozen=True)
class ScanLimits:
    """How many scans are let through per client (phone address) and per bin, each in its window."""

    per_client: tuple[int, dt.timedelta] = (6, dt.timedelta(hours=1))
    per_bin: tuple[int, dt.timedelta] = (12, dt.timedelta(hours=1))

    @classmethod
    def from_settings(cls, settings: Any) -> ScanLimits:
        """The limits of `[bins]` ("6 per hour")."""
        return cls(per_client=throttle.parse_rate(settings.bins.scans_per_client),
                   per_bin=throttle.parse_rate(settings.bins.scans_per_bin))


@dataclass(frozen=True)
class ReportPoints:
    """环境卫生 points for a reporter's household once the bin is emptied (`[bins] report_points`, 0 = off)."""

    per_report: int = 0
    per_day: int = 10

    @property
    def enabled(self) -> bool:
        """Whether the page asks for a phone number and 已清运 gives points."""
        return self.per_report > 0

    @classmethod
    def from_settings(cls, settings: Any) -> ReportPoints:
        """The points of `[bins]`."""
        return cls(per_report=settings.bins.report_points, per_day=settings.bins.report_points_per_day)


@dataclass(frozen=True)
class ScanResult:
    """What one scan did: the request it opened or added to, how many reports that request now has, and
    notes for the reporter on the photo and the number (the report itself was always kept)."""

    bin_id: int
    request_id: int
    reports: int
    opened: bool
    notes: tuple[LocalisedError, ...] = ()


def new_token() -> str:
    """A public, unguessable label token (96 random bits, URL-safe, 16 characters)."""
    return secrets.token_urlsafe(12)


def _bins_in_route_order() -> sa.Select:
    return (
        sa.select(Bin)
        .join(Courtyard, Bin.courtyard_id == Courtyard.id)
        .join(Village, Courtyard.village_id == Village.id)
        .order_by(Village.id, Courtyard.id, Bin.location, Bin.name, Bin.id)
    )


def scoped_bins(viewer: access.Viewer) -> sa.Select:
    """A select of the bins in the 小院 the viewer manages, in route order (village, 小院, location, name)."""
    return _bins_in_route_order().where(access.courtyard_scope(viewer))


def visible_bins(viewer: access.Viewer) -> sa.Select:
    """The bins the viewer manages plus those they empty (a cleaner's route may cross 小院), in route order."""
    if viewer.id is None:
        return scoped_bins(viewer)
    return _bins_in_route_order().where(sa.or_(access.courtyard_scope(viewer), Bin.cleaner_id == viewer.id))


def get_bin_for(session: Session, viewer: access.Viewer, bin_id: int, *, to_manage: bool = False) -> Bin:
    """A bin the viewer may see (or, `to_manage`, edit: only within their 小院); NotFound otherwise."""
    query = scoped_bins(viewer) if to_manage else visible_bins(viewer)
    bin_ = session.scalar(query.where(Bin.id == bin_id))
    if bin_ is None:
        raise NotFound(N_("找不到这个垃圾桶"))
    return bin_


def _check_name(session: Session, courtyard_id: int, name: str, *, bin_id: int | None = None) -> str:
    """The stripped name, refused when empty, too long or taken by another bin of the 小院."""
    name = name.strip()
    if not name or len(name) > 80:
        raise InvalidInput(N_("请填写垃圾桶的名字（80 字以内）"))
    same_name = sa.select(Bin.id).where(Bin.courtyard_id == courtyard_id, Bin.name == name)
    if bin_id is not None:
        same_name = same_name.where(Bin.id != bin_id)
    if session.scalar(same_name) is not None:
        raise InvalidInput(N_("这个小院已经有叫“%(name)s”的垃圾桶了"), name=name)
    return name


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
    name = _check_name(session, courtyard.id, name)
    _check_cleaner(session, cleaner_id, courtyard)
    _check_place(lat, lon)
    bin_ = Bin(courtyard_id=courtyard.id, name=name, location=location.strip()[:200], lat=lat, lon=lon,
               cleaner_id=cleaner_id, token=new_token(), created_at=now)
    session.add(bin_)
    session.flush()
    detail = {"via": via} if via else {}
    record_audit(session, at=now, actor=actor, action="bin.add", entity_type="bin", entity_id=bin_.id,
                 courtyard_id=courtyard.id, name=name, **detail)
    return bin_


def _check_place(lat: float | None, lon: float | None) -> None:
    if lat is None or lon is None:
        if lat is not None or lon is not None:
            raise InvalidInput(N_("经纬度要么都填，要么都不填"))
    elif not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput(N_("经纬度不对"))


def update_bin(session: Session, *, now: dt.datetime, actor: access.Viewer, bin_id: int, name: str, location: str,
               lat: float | None, lon: float | None, cleaner_id: int | None, active: bool,
               via: str | None = None) -> Bin:
    """Change a bin in a 小院 the actor manages (its token stays: the printed label keeps working). Audited."""
    access.require_manager(actor)
    bin_ = get_bin_for(session, actor, bin_id, to_manage=True)
    name = _check_name(session, bin_.courtyard_id, name, bin_id=bin_.id)
    if cleaner_id != bin_.cleaner_id:
        _check_cleaner(session, cleaner_id, bin_.courtyard)
    _check_place(lat, lon)
    new = {"name": name, "location": location.strip()[:200], "lat": lat, "lon": lon, "cleaner_id": cleaner_id,
           "active": active}
    changed = {key: value for key, value in new.items() if getattr(bin_, key) != value}
    for key, value in changed.items():
        setattr(bin_, key, value)
    if changed:
        if via:
            changed["via"] = via
        record_audit(session, at=now, actor=actor, action="bin.update", entity_type="bin", entity_id=bin_.id,
                     **changed)
    return bin_


def bin_for_token(session: Session, token: str) -> Bin:
    """The active bin a label token names; NotFound for anything else (the page says no more)."""
    bin_ = None
    if _TOKEN.fullmatch(token):  # anything else (NUL, 300 characters) is no token: PostgreSQL never sees it
        bin_ = session.scalar(sa.select(Bin).where(Bin.token == token, Bin.active.is_(True)))
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
               due_hours: dict[str, float], limits: ScanLimits = ScanLimits(), photo: bytes | None = None,
               photo_rules: bin_photos.PhotoRules | None = None, phone: str | None = None,
               points: ReportPoints = ReportPoints()) -> ScanResult:
    """A scan of a bin's label: add to its open request or open one (told to its cleaner, else the 院长).

    `photo` (the uploaded bytes, None when none was chosen) is kept when `photo_rules` allow it; `phone` is
    matched against the bin's village only when `points` are on. Neither can make the report fail.
    """
    if kind not in REPORT_KINDS:
        raise InvalidInput(N_("请选一种情况"))
    with session_factory() as session:
        bin_id = bin_for_token(session, token).id
    if throttle.take_each(session_factory, now=now, limits=((f"bin.scan:client:{client}", *limits.per_client),
                                                            (f"bin.scan:bin:{bin_id}", *limits.per_bin))) is None:
        raise RateLimited(texts.BIN_SCAN_LIMITED)
    notes: list[LocalisedError] = []
    photo_ext = _checked_photo(photo, photo_rules, notes)
    number = _readable_phone(phone, notes) if points.enabled else None
    written: list[str] = []
    try:
        with session_factory() as session, session.begin():
            # Take the bin's row lock first: two scans at the same moment then see each other's request (and photos).
            session.execute(sa.update(Bin).where(Bin.id == bin_id).values(scan_seq=Bin.scan_seq + 1))
            bin_ = session.get(Bin, bin_id, populate_existing=True)
            assert bin_ is not None
            req = session.get(Request, bin_.open_request_id) if bin_.open_request_id else None
            opened = req is None or req.status not in OPEN_STATUSES
            if opened:
                if req is not None:  # ended without 已清运 (closed as a prank, resolved elsewhere): no points owed
                    _forget_households(session, req.id)
                req = _open_request(session, bin_, kind, now, due_hours)
                bin_.open_request_id = req.id
            else:
                assert req is not None
                req.events.append(RequestEvent(at=now, actor_id=None, actor_label="qr", action="reported",
                                               from_status=req.status, to_status=None, note=KIND_LABELS[kind]))
                req.updated_at = now
            household_id = None if number is None else _household_of_phone(session, number, bin_.courtyard.village_id)
            report = BinReport(bin_id=bin_.id, request_id=req.id, kind=kind, at=now, household_id=household_id)
            session.add(report)
            session.flush()
            reports = int(session.scalar(sa.select(sa.func.count(BinReport.id)).where(
                BinReport.request_id == req.id)) or 0)
            req.details = {**req.details, "bin_id": bin_.id, "reports": reports}
            if photo is not None and photo_ext is not None and photo_rules is not None:
                _keep_photo(session, photo_rules, photo, photo_ext, report, now, notes, written)
            if number is not None:
                notes.append(InvalidInput(PHONE_NOTED, points=points.per_report))
            return ScanResult(bin_id=bin_.id, request_id=req.id, reports=reports, opened=opened, notes=tuple(notes))
    except BaseException:
        if photo_rules is not None:  # the report was not written: neither is its photo
            for rel in written:
                (photo_rules.data_dir / rel).unlink(missing_ok=True)
        raise


def _checked_photo(photo: bytes | None, rules: bin_photos.PhotoRules | None, notes: list[LocalisedError]
                   ) -> str | None:
    """The photo's type when it may be kept; otherwise a note says why not (None also when there is none)."""
    if photo is None or rules is None or rules.per_request <= 0:
        return None
    try:
        return bin_photos.check_photo(photo, rules.max_bytes)
    except InvalidInput as exc:
        notes.append(exc)
        return None


def _keep_photo(session: Session, rules: bin_photos.PhotoRules, photo: bytes, ext: str, report: BinReport,
                now: dt.datetime, notes: list[LocalisedError], written: list[str]) -> None:
    """Attach the photo to the report's request unless that request already keeps its maximum."""
    if bin_photos.photo_count(session, report.request_id) >= rules.per_request:
        notes.append(InvalidInput(bin_photos.PHOTO_REQUEST_FULL, n=rules.per_request))
        return
    rel = bin_photos.store_photo(rules.data_dir, photo, ext)
    written.append(rel)
    session.add(BinPhoto(bin_id=report.bin_id, request_id=report.request_id, report_id=report.id, file=rel,
                         size=len(photo), at=now))
    session.flush()
    notes.insert(0, InvalidInput(bin_photos.PHOTO_SAVED))


def _readable_phone(raw: str | None, notes: list[LocalisedError]) -> str | None:
    """The reporter's number in E.164, or None (left empty, or unreadable: then a note says so)."""
    raw = (raw or "").strip()[:40]
    if not raw:
        return None
    try:
        return normalise_phone_strict(raw)
    except InvalidPhone:
        notes.append(InvalidInput(PHONE_UNREADABLE))
        return None


def _household_of_phone(session: Session, phone: str, village_id: int) -> int | None:
    """The household in the village whose resident's own phone, else whose landline, is this number."""
    in_village = sa.and_(Household.courtyard_id == Courtyard.id, Courtyard.village_id == village_id)
    own = session.scalar(
        sa.select(Resident.household_id).join(Household, Resident.household_id == Household.id)
        .join(Courtyard, in_village)
        .where(Resident.phone == phone, Resident.erased.is_(False)).order_by(Resident.id).limit(1))
    if own is not None:
        return int(own)
    landline = session.scalar(
        sa.select(Household.id).join(Courtyard, in_village)
        .where(Household.landline == phone,
               sa.exists().where(Resident.household_id == Household.id, Resident.erased.is_(False)))
        .order_by(Household.id).limit(1))
    return None if landline is None else int(landline)


def _open_request(session: Session, bin_: Bin, kind: str, now: dt.datetime, due_hours: dict[str, float]) -> Request:
    cleaner = bin_.cleaner if bin_.cleaner is not None and bin_.cleaner.active else None
    place = bin_.courtyard.name + (f"，{bin_.location}" if bin_.location else "")
    text = translate(texts.BIN_REQUEST_TEXT, DEFAULT_LOCALE, bin=bin_.name, place=place,
                     kind=translate(KIND_LABELS[kind], DEFAULT_LOCALE))
    return submit_request(session, now=now, due_hours=due_hours, resident_id=None, type=REQUEST_TYPE, channel="qr",
                          text=text, courtyard_id=bin_.courtyard_id, assign_to=cleaner,
                          details={"bin_id": bin_.id, "kind": kind}, system_label="qr")


@dataclass(frozen=True)
class FullBin:
    """A bin on today's route: its open request, how many scans it gathered and since when."""

    bin: Bin
    request: Request
    reports: int
    since: dt.datetime


def full_bins(session: Session, viewer: access.Viewer) -> list[FullBin]:
    """Every bin with an open report the viewer may see, in route order (village, 小院, location, name)."""
    rows: list[tuple[Bin, Request]] = [(row[0], row[1]) for row in session.execute(
        visible_bins(viewer).add_columns(Request)
        .join(Request, Request.id == Bin.open_request_id)
        .where(Request.status.in_(OPEN_STATUSES), Bin.active.is_(True)))]
    counts = dict(session.execute(
        sa.select(BinReport.request_id, sa.func.count(BinReport.id))
        .where(BinReport.request_id.in_([req.id for _, req in rows])).group_by(BinReport.request_id)).all())
    return [FullBin(bin=bin_, request=req, reports=counts.get(req.id, 0), since=req.created_at) for bin_, req in rows]


def empty_bin(session: Session, *, now: dt.datetime, actor: User, bin_id: int, via: str | None = None,
              points: ReportPoints = ReportPoints()) -> Request:
    """已清运: resolve the bin's open request (its cleaner, or staff covering the 小院) and give the reporters'
    households their 环境卫生 points when `points` are on. Audited."""
    bin_ = get_bin_for(session, actor, bin_id)
    req = session.get(Request, bin_.open_request_id) if bin_.open_request_id else None
    if req is None or req.status not in OPEN_STATUSES:
        raise InvalidTransition(N_("这个垃圾桶没有待清运的报告"))
    if bin_.cleaner_id == actor.id:
        # The bin's cleaner may empty it even when the 院长 holds the request (it was opened before they were named).
        req.assignee_id = actor.id
    resolve_request(session, now=now, actor=actor, request_id=req.id,
                    note=translate(texts.BIN_EMPTIED, DEFAULT_LOCALE), via=via)
    bin_.open_request_id = None
    awarded = _award_reporters(session, now=now, actor=actor, bin_=bin_, request_id=req.id, points=points)
    detail: dict[str, Any] = {"via": via} if via else {}
    if awarded:
        detail["points"] = {str(household): delta for household, delta in awarded.items()}
    record_audit(session, at=now, actor=actor, action="bin.emptied", entity_type="bin", entity_id=bin_.id,
                 request_id=req.id, **detail)
    return req


def _award_reporters(session: Session, *, now: dt.datetime, actor: User, bin_: Bin, request_id: int,
                     points: ReportPoints) -> dict[int, int]:
    """Points for each household a report of this request named: once per household, within its daily cap.
    The households are forgotten on the reports afterwards (they were kept for this only)."""
    named = [(household_id, kind) for household_id, kind in session.execute(
        sa.select(BinReport.household_id, BinReport.kind)
        .where(BinReport.request_id == request_id).order_by(BinReport.id)) if household_id is not None]
    awarded: dict[int, int] = {}
    if points.enabled:
        start, end = local_day_bounds(now)
        for household_id, kind in named:
            if household_id in awarded:
                continue
            points_service.lock_account(session, household_id, now)  # concurrent 已清运 then count each other
            already = int(session.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(PointEntry.delta), 0))
                .where(PointEntry.household_id == household_id, PointEntry.source == POINTS_SOURCE,
                       PointEntry.created_at >= start, PointEntry.created_at < end)) or 0)
            delta = min(points.per_report, points.per_day - already)
            awarded[household_id] = max(delta, 0)
            if delta <= 0:
                continue
            points_service.award_points(
                session, now=now, household_id=household_id, delta=delta, category=POINTS_CATEGORY,
                reason=translate(POINTS_REASONS[kind], DEFAULT_LOCALE, bin=bin_.name), actor=actor,
                source=POINTS_SOURCE, categories=(POINTS_CATEGORY,))
    if named:
        _forget_households(session, request_id)
    return {household: delta for household, delta in awarded.items() if delta > 0}


def _forget_households(session: Session, request_id: int) -> None:
    """Drop the reporters' households from a request's reports (they were kept only for its points)."""
    session.execute(sa.update(BinReport).where(BinReport.request_id == request_id, BinReport.household_id.is_not(None))
                    .values(household_id=None).execution_options(synchronize_session=False))


def bin_figures(session: Session, where_request: sa.ColumnElement[bool], start: dt.datetime, end: dt.datetime
                ) -> dict[str, float | int | None]:
    """A report's 爱环境 line: bins reported and scans in the period, bins emptied, and hours to empty them."""
    reported, scans = session.execute(
        sa.select(sa.func.count(sa.distinct(BinReport.bin_id)), sa.func.count(BinReport.id))
        .join(Request, BinReport.request_id == Request.id)
        .where(where_request, BinReport.at >= start, BinReport.at < end)).one()
    emptied = session.execute(
        sa.select(Request.created_at, Request.resolved_at)
        .where(where_request, Request.channel == "qr", Request.resolved_at >= start, Request.resolved_at < end,
               Request.id.in_(sa.select(BinReport.request_id)))).all()
    hours = [(done - opened).total_seconds() / 3600 for opened, done in emptied if done is not None]
    median = statistics.median(hours) if hours else None
    return {"reported": int(reported or 0), "scans": int(scans or 0), "emptied": len(emptied),
            "empty_hours_median": None if median is None else round(median, 2)}
