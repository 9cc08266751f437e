"""Console pages for 爱环境 bins: the list, add / edit within scope, today's route for the cleaner, label sheets."""

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
from core.community import bins as bin_service
from core.container import current_services
from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.models.bins import Bin
from core.models.places import Courtyard
from core.models.staff import User
from core.people import access

register_nav("console.bin_route", N_("今日清运"), MANAGERS, 38)
register_nav("console.bin_list", N_("垃圾桶"), MANAGERS, 39)


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


@bp.get("/bins/route")
@staff_required(*MANAGERS)
def bin_route() -> str:
    """The cleaner's phone page: today's full bins in route order, each with a big 已清运 button."""
    return render_template("console/bins/route.html", full=bin_service.full_bins(db_session(), current_staff()))


@bp.post("/bins/<int:bin_id>/emptied")
@staff_required(*MANAGERS)
def bin_emptied(bin_id: int) -> Response:
    """已清运: resolve the bin's open request and go back to the route."""
    form_action(lambda session, viewer, now: bin_service.empty_bin(session, now=now, actor=viewer, bin_id=bin_id,
                                                                   via="console"),
                done=N_("已清运"), missing_is_404=True)
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
