"""Console pages for 爱环境 bins: the list, one bin, add / edit within scope, today's route for the cleaner, label
sheets, and the photos passers-by sent (served only to staff who may see the bin or its request)."""

from __future__ import annotations

from typing import Any

import segno
import sqlalchemy as sa
from flask import abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from console.auth import current_staff, staff_required
from console.blueprint import bp
from console.db import db_session
from console.forms import form_action
from console.nav import MANAGERS, register_nav
from core.community import bin_photos
from core.community import bins as bin_service
from core.container import current_services
from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.models.bins import Bin, BinReport
from core.models.places import Courtyard
from core.models.requests import Request
from core.models.staff import User
from core.people import access
from core.requests.workorders import OPEN_STATUSES, STATUS_LABELS

register_nav("console.bin_route", N_("今日清运"), MANAGERS, 38, group="home")
register_nav("console.bin_list", N_("垃圾桶"), MANAGERS, 39, group="home")


def _number(raw: str | None) -> float | None:
    """An optional latitude / longitude from a form field."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise InvalidInput(N_("经纬度不对")) from None


def _optional_id(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and int(raw) < 2**31 else None


def _form_choices(user: User) -> dict[str, Any]:
    """The 小院 a bin may be put in, and the staff who may empty bins there."""
    session = db_session()
    courtyards = list(session.scalars(access.scoped_courtyards(user).order_by(Courtyard.village_id, Courtyard.id)))
    cleaners = list(session.scalars(sa.select(User).where(
        User.active.is_(True), User.role.in_(access.MANAGER_ROLES),
        sa.or_(*[access.staff_covering(courtyard_id=c.id, village_id=c.village_id, town_id=c.village.town_id)
                 for c in courtyards] or [sa.false()])).order_by(User.display_name)))
    return {"courtyards": courtyards, "cleaners": cleaners}


def label_url(bin_: Bin) -> str:
    """What a label's QR code opens: the configured public address, else the one this page was reached on."""
    base = current_services().settings.public.base_url or request.url_root
    return f"{str(base).rstrip('/')}/q/{bin_.token}"


@bp.get("/bins")
@staff_required(*MANAGERS)
def bin_list() -> str:
    """The bins the viewer manages or empties, in route order, with their open report counts."""
    session = db_session()
    bins = list(session.scalars(bin_service.visible_bins(current_staff())))
    reports = {b.id: bin_service.open_report_count(session, b) for b in bins}
    courtyards = sorted({(b.courtyard_id, b.courtyard.name) for b in bins})
    return render_template("console/bins/list.html", bins=bins, reports=reports, courtyards=courtyards)


@bp.route("/bins/new", methods=["GET", "POST"])
@staff_required(*MANAGERS)
def bin_new() -> str | Response | tuple[str, int]:
    """Register a bin (its label token is made here and never changes)."""
    form = request.form if request.method == "POST" else request.args
    if request.method == "POST":
        outcome = form_action(lambda session, viewer, now: bin_service.add_bin(
            session, now=now, actor=viewer, courtyard_id=_optional_id(form.get("courtyard_id")) or 0,
            name=form.get("name", ""), location=form.get("location", ""), lat=_number(form.get("lat")),
            lon=_number(form.get("lon")), cleaner_id=_optional_id(form.get("cleaner_id")), via="console"),
            done=N_("已保存"))
        if outcome.ok:
            return redirect(url_for("console.bin_list"))
        return render_template("console/bins/form.html", bin=None, form=form, **_form_choices(current_staff())), \
            outcome.status
    return render_template("console/bins/form.html", bin=None, form=form, **_form_choices(current_staff()))


@bp.route("/bins/<int:bin_id>/edit", methods=["GET", "POST"])
@staff_required(*MANAGERS)
def bin_edit(bin_id: int) -> str | Response | tuple[str, int]:
    """Change a bin's name, place, cleaner, or take it out of use."""
    user = current_staff()
    try:
        bin_ = bin_service.get_bin_for(db_session(), user, bin_id, to_manage=True)
    except NotFound:
        abort(404)
    if request.method == "POST":
        form = request.form
        outcome = form_action(lambda session, viewer, now: bin_service.update_bin(
            session, now=now, actor=viewer, bin_id=bin_id, name=form.get("name", ""),
            location=form.get("location", ""), lat=_number(form.get("lat")), lon=_number(form.get("lon")),
            cleaner_id=_optional_id(form.get("cleaner_id")), active=form.get("active") == "on", via="console"),
            done=N_("已保存"), missing_is_404=True)
        if outcome.ok:
            return redirect(url_for("console.bin_list"))
        return render_template("console/bins/form.html", bin=bin_, form=form, **_form_choices(user)), outcome.status
    values = {"name": bin_.name, "location": bin_.location, "lat": "" if bin_.lat is None else bin_.lat,
              "lon": "" if bin_.lon is None else bin_.lon, "cleaner_id": bin_.cleaner_id or "",
              "courtyard_id": bin_.courtyard_id, "active": "on" if bin_.active else ""}
    return render_template("console/bins/form.html", bin=bin_, form=values, **_form_choices(user))


@bp.get("/bins/<int:bin_id>")
@staff_required(*MANAGERS)
def bin_detail(bin_id: int) -> str:
    """One bin: where it is, who empties it, its open report (scans and photos) and its last requests."""
    session = db_session()
    user = current_staff()
    try:
        bin_ = bin_service.get_bin_for(session, user, bin_id)
    except NotFound:
        abort(404)
    reported = sa.select(BinReport.request_id).where(BinReport.bin_id == bin_.id)
    requests = list(session.scalars(sa.select(Request).where(Request.id.in_(reported))
                                    .order_by(Request.id.desc()).limit(10)))
    request_ids = [req.id for req in requests]
    # The open request is the newest one scanned, so it is among these (with its status) whenever it has reports.
    open_request = next((r for r in requests if r.id == bin_.open_request_id and r.status in OPEN_STATUSES), None)
    scans = list(session.scalars(sa.select(BinReport).where(BinReport.request_id == open_request.id)
                                 .order_by(BinReport.id))) if open_request else []
    manages = session.scalar(bin_service.scoped_bins(user).where(Bin.id == bin_.id)) is not None
    return render_template("console/bins/detail.html", bin=bin_, open_request=open_request, scans=scans,
                           requests=requests, photos=bin_photos.photos_of_requests(session, request_ids),
                           labels=bin_service.KIND_LABELS, status_labels=STATUS_LABELS, manages=manages)


@bp.get("/bins/photos/<int:photo_id>")
@staff_required(*MANAGERS)
def bin_photo(photo_id: int) -> Response:
    """One photo a passer-by sent, for staff who may see its bin or request; 410 once retention deleted it."""
    try:
        photo = bin_photos.get_photo_for(db_session(), current_staff(), photo_id)
    except NotFound:
        abort(404)
    found = bin_photos.photo_path(current_services().settings.data_dir, photo.file)
    if found is None:
        abort(410)
    path, content_type = found
    response = Response(path.read_bytes(), mimetype=content_type, headers={
        "Cache-Control": "private, max-age=3600", "Content-Disposition": "inline"})
    # Whatever the bytes after the image's magic are, they never run as a page.
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response


@bp.get("/bins/route")
@staff_required(*MANAGERS)
def bin_route() -> str:
    """The cleaner's phone page: today's full bins in route order, each with its photos and a big 已清运 button."""
    session = db_session()
    full = bin_service.full_bins(session, current_staff())
    return render_template("console/bins/route.html", full=full,
                           photos=bin_photos.photos_of_requests(session, [item.request.id for item in full]))


@bp.post("/bins/<int:bin_id>/emptied")
@staff_required(*MANAGERS)
def bin_emptied(bin_id: int) -> Response:
    """已清运: resolve the bin's open request (reporters' households get their points) and go back to the route."""
    points = bin_service.ReportPoints.from_settings(current_services().settings)
    form_action(lambda session, viewer, now: bin_service.empty_bin(session, now=now, actor=viewer, bin_id=bin_id,
                                                                   via="console", points=points),
                done=N_("已清运"), missing_is_404=True)
    back = request.form.get("back")
    if back == "bin":
        return redirect(url_for("console.bin_detail", bin_id=bin_id))
    return redirect(url_for("console.bin_route"))


@bp.get("/bins/labels")
@staff_required(*MANAGERS)
def bin_labels() -> str:
    """A print-ready A4 sheet of labels (8 a page): QR code, bin name, 小院, "扫码报告：垃圾满了"."""
    query = bin_service.scoped_bins(current_staff()).where(Bin.active.is_(True))
    courtyard_id = _optional_id(request.args.get("courtyard_id"))
    if courtyard_id is not None:
        query = query.where(Bin.courtyard_id == courtyard_id)
    labels = [{"bin": b, "url": label_url(b),
               "svg": segno.make(label_url(b), error="m").svg_inline(scale=5, border=2)}
              for b in db_session().scalars(query)]
    return render_template("console/bins/labels.html", labels=labels)
