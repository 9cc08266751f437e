"""Console pages for people and places: residents, households and caregiver chains (view and edit).

Lists are scoped by core.people.access; every change goes through core.people.residents or
core.people.caregivers, which check the place and record the audit entry.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, redirect, render_template, request, url_for
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from console.auth import current_staff, staff_required
from console.blueprint import bp
from console.common import DEFAULT_PER_PAGE, MAX_PER_PAGE, paginate, parse_positive_int
from console.db import db_session
from console.forms import form_action
from console.nav import MANAGERS
from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.models.places import CAREGIVER_KINDS, Courtyard, Household, Resident
from core.models.requests import Request
from core.people import caregivers, residents
from core.people.access import (
    get_household_for,
    get_resident_for,
    scoped_courtyards,
    scoped_households,
    scoped_residents,
)
from core.requests.visibility import request_scope
from core.requests.workorders import STATUS_LABELS, TYPE_LABELS

KIND_LABELS = {"family": N_("家人"), "courtyard_head": N_("院长"), "doctor": N_("村医"), "grid_worker": N_("网格员"),
               "other": N_("其他")}


def _load_resident(resident_id: int) -> Resident:
    try:
        return get_resident_for(db_session(), current_staff(), resident_id)
    except NotFound:
        abort(404)


def _load_household(household_id: int) -> Household:
    try:
        return get_household_for(db_session(), current_staff(), household_id)
    except NotFound:
        abort(404)


def _resident_fields(form) -> residents.ResidentFields:
    return residents.ResidentFields(name=form.get("name") or "", phone=form.get("phone"),
                                    birth_year=form.get("birth_year"), lives_alone=form.get("lives_alone") == "on",
                                    notes=form.get("notes") or "")


@bp.get("/residents")
@staff_required()
def resident_list() -> str:
    """Residents in the user's scope, searchable by name or phone digits, paged."""
    user = current_staff()
    query = scoped_residents(user).options(selectinload(Resident.household))
    q = (request.args.get("q") or "").strip()
    if q:
        like = f"%{q}%"
        query = query.where(sa.or_(Resident.name.like(like), Resident.phone.like(like)))
    if request.args.get("lives_alone") == "1":
        query = query.where(Resident.lives_alone.is_(True))
    page = paginate(
        db_session(), query.order_by(Household.name, Resident.id),
        parse_positive_int(request.args.get("page"), 1),
        parse_positive_int(request.args.get("per_page"), DEFAULT_PER_PAGE, maximum=MAX_PER_PAGE),
    )
    args = {k: v for k, v in {"q": q, "lives_alone": request.args.get("lives_alone", "")}.items() if v}
    return render_template("console/people/residents.html", page=page, q=q, args=args)


@bp.get("/residents/<int:resident_id>")
@staff_required()
def resident_detail(resident_id: int) -> str:
    """One resident: details, household, caregiver chain and recent requests."""
    resident = _load_resident(resident_id)
    user = current_staff()
    recent = list(db_session().scalars(
        sa.select(Request).where(Request.resident_id == resident.id, request_scope(user))
        .order_by(Request.created_at.desc()).limit(10)
    ))
    return render_template(
        "console/people/resident.html", resident=resident, can_edit=user.role in MANAGERS, recent=recent,
        kinds=CAREGIVER_KINDS, kind_labels=KIND_LABELS, channels=caregivers.KNOWN_CHANNELS,
        type_labels=TYPE_LABELS, status_labels=STATUS_LABELS,
    )


@bp.post("/residents/<int:resident_id>/edit")
@staff_required(*MANAGERS)
def resident_edit(resident_id: int) -> Response:
    """Change a resident's name, phone (normalised), birth year, lives-alone flag, notes."""
    fields = _resident_fields(request.form)
    form_action(lambda session, user, now: residents.edit_resident(session, now=now, actor=user,
                                                                   resident_id=resident_id, fields=fields),
                done=N_("已保存"), missing_is_404=True)
    return redirect(url_for("console.resident_detail", resident_id=resident_id))


@bp.post("/residents/<int:resident_id>/chain")
@staff_required(*MANAGERS)
def chain_edit(resident_id: int) -> Response:
    """Edit the caregiver chain: add a caregiver, remove one, or move one up or down."""
    form = request.form
    op = form.get("op", "")
    link_id = parse_positive_int(form.get("link_id"), 0)

    def change(session, user, now) -> None:
        if op == "add":
            caregivers.add_caregiver(
                session, now=now, actor=user, resident_id=resident_id, kind=form.get("kind", ""),
                name=form.get("name", ""), relation=form.get("relation", ""), phone=form.get("phone"),
                channels=form.getlist("channels"), hours_start=caregivers.parse_hour(form.get("hours_start")),
                hours_end=caregivers.parse_hour(form.get("hours_end")), username=form.get("username", ""),
            )
        elif op == "remove":
            caregivers.remove_caregiver(session, now=now, actor=user, resident_id=resident_id, link_id=link_id)
        elif op in ("up", "down"):
            caregivers.move_caregiver(session, now=now, actor=user, resident_id=resident_id, link_id=link_id,
                                      direction=op)
        else:
            raise InvalidInput(N_("未知操作"))

    _load_resident(resident_id)  # 404 outside the user's scope
    outcome = form_action(change, done=N_("照护顺序已保存"))
    target = url_for("console.resident_detail", resident_id=resident_id)
    return redirect(target + "#chain" if outcome.ok else target)


@bp.route("/households/<int:household_id>/residents/new", methods=["GET", "POST"])
@staff_required(*MANAGERS)
def resident_new(household_id: int) -> Response | tuple[str, int]:
    """Add a resident to a household the user covers."""
    household = _load_household(household_id)
    status = 200
    if request.method == "POST":
        fields = _resident_fields(request.form)
        outcome = form_action(lambda session, user, now: residents.create_resident(
            session, now=now, actor=user, household_id=household.id, fields=fields), done=N_("已添加居民"))
        if outcome.ok:
            return redirect(url_for("console.resident_detail", resident_id=outcome.result.id))
        status = outcome.status
    return render_template("console/people/resident_new.html", household=household, form=request.form), status


@bp.get("/households")
@staff_required()
def household_list() -> str:
    """Households in the user's scope, paged, with a form to add one (managers)."""
    user = current_staff()
    query = scoped_households(user).options(selectinload(Household.residents), selectinload(Household.courtyard))
    q = (request.args.get("q") or "").strip()
    if q:
        query = query.where(Household.name.like(f"%{q}%"))
    page = paginate(
        db_session(), query.order_by(Courtyard.name, Household.name, Household.id),
        parse_positive_int(request.args.get("page"), 1),
        parse_positive_int(request.args.get("per_page"), DEFAULT_PER_PAGE, maximum=MAX_PER_PAGE),
    )
    courtyards = list(db_session().scalars(scoped_courtyards(user).order_by(Courtyard.name))) \
        if user.role in MANAGERS else []
    return render_template("console/people/households.html", page=page, q=q, args={"q": q} if q else {},
                           courtyards=courtyards)


@bp.post("/households")
@staff_required(*MANAGERS)
def household_create() -> Response:
    """Add a household to a 小院 the user covers (404 for any other 小院)."""
    form = request.form
    outcome = form_action(lambda session, user, now: residents.create_household(
        session, now=now, actor=user, courtyard_id=parse_positive_int(form.get("courtyard_id"), 0),
        name=form.get("name") or "", address=form.get("address") or "", landline=form.get("landline"),
        number=form.get("number"),
    ), done=N_("已添加住户"), missing_is_404=True)
    if not outcome.ok:
        return redirect(url_for("console.household_list"))
    return redirect(url_for("console.household_detail", household_id=outcome.result.id))


@bp.get("/households/<int:household_id>")
@staff_required()
def household_detail(household_id: int) -> str:
    """One household: its 小院, landline, address and residents."""
    household = _load_household(household_id)
    user = current_staff()
    people = list(db_session().scalars(
        scoped_residents(user).where(Resident.household_id == household.id).order_by(Resident.id)
    ))
    return render_template("console/people/household.html", household=household, residents=people,
                           can_edit=user.role in MANAGERS)


@bp.post("/households/<int:household_id>/edit")
@staff_required(*MANAGERS)
def household_edit(household_id: int) -> Response:
    """Change a household's name, address and landline (normalised with its area code)."""
    form = request.form
    form_action(lambda session, user, now: residents.edit_household(
        session, now=now, actor=user, household_id=household_id, name=form.get("name") or "",
        address=form.get("address") or "", landline=form.get("landline"),
    ), done=N_("已保存"), missing_is_404=True)
    return redirect(url_for("console.household_detail", household_id=household_id))
