"""Console pages for people and places: residents, households and caregiver chains (view and edit)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from console import chains
from console.auth import current_staff, staff_required
from console.blueprint import bp
from console.common import DEFAULT_PER_PAGE, MAX_PER_PAGE, error_text, paginate, parse_positive_int
from console.db import db_session
from console.nav import MANAGERS
from core.container import current_services
from core.errors import InvalidInput, NotFound, ServiceError
from core.i18n import N_
from core.models.places import CAREGIVER_KINDS, Courtyard, Household, Resident, Village
from core.models.requests import Request
from core.models.staff import User
from core.people.access import (
    get_household_for,
    get_resident_for,
    place_clause,
    request_scope,
    scoped_households,
    scoped_residents,
)
from core.people.audit import record_audit
from core.requests.workorders import STATUS_LABELS, TYPE_LABELS

KIND_LABELS = {"family": N_("家人"), "courtyard_head": N_("院长"), "doctor": N_("村医"), "grid_worker": N_("网格员"),
               "other": N_("其他")}


def scoped_courtyards(user: User) -> sa.Select:
    """A select of the 小院 whose households a manager may add or edit."""
    return (
        sa.select(Courtyard)
        .join(Village, Courtyard.village_id == Village.id)
        .where(place_clause(user, courtyard_col=Courtyard.id, village_col=Courtyard.village_id,
                            town_col=Village.town_id))
    )


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


def _birth_year(raw: str | None, now_year: int) -> int | None:
    if raw is None or not raw.strip():
        return None
    if not raw.strip().isdigit() or not 1900 <= int(raw) <= now_year:
        raise InvalidInput("出生年份不对 / birth year out of range")
    return int(raw)


def _resident_fields(form, now_year: int) -> dict:
    name = (form.get("name") or "").strip()
    if not name:
        raise InvalidInput("请填写姓名 / a name is required")
    return {
        "name": name[:80],
        "phone": chains.parse_phone(form.get("phone")),
        "birth_year": _birth_year(form.get("birth_year"), now_year),
        "lives_alone": form.get("lives_alone") == "on",
        "notes": (form.get("notes") or "").strip()[:2000],
    }


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
        kinds=CAREGIVER_KINDS, kind_labels=KIND_LABELS, channels=chains.KNOWN_CHANNELS,
        type_labels=TYPE_LABELS, status_labels=STATUS_LABELS,
    )


def _audit(action: str, entity_type: str, entity_id: int, **detail) -> None:
    record_audit(db_session(), at=current_services().clock.now(), actor=current_staff(), action=action,
                 entity_type=entity_type, entity_id=entity_id, **detail)


def _commit_or_flash(success: str) -> None:
    db_session().commit()
    flash(success, "success")


@bp.post("/residents/<int:resident_id>/edit")
@staff_required(*MANAGERS)
def resident_edit(resident_id: int) -> Response:
    """Change a resident's name, phone (normalised), birth year, lives-alone flag, notes."""
    resident = _load_resident(resident_id)
    try:
        fields = _resident_fields(request.form, current_services().clock.now().year)
    except ServiceError as exc:
        flash(error_text(exc), "error")
        return redirect(url_for("console.resident_detail", resident_id=resident.id))
    changed = sorted(k for k, v in fields.items() if getattr(resident, k) != v)
    for key, value in fields.items():
        setattr(resident, key, value)
    _audit("resident.edit", "resident", resident.id, fields=changed)
    _commit_or_flash(N_("已保存"))
    return redirect(url_for("console.resident_detail", resident_id=resident.id))


@bp.post("/residents/<int:resident_id>/chain")
@staff_required(*MANAGERS)
def chain_edit(resident_id: int) -> Response:
    """Edit the caregiver chain: add a caregiver, remove one, or move one up or down."""
    resident = _load_resident(resident_id)
    session = db_session()
    op = request.form.get("op", "")
    link_id = parse_positive_int(request.form.get("link_id"), 0)
    try:
        if op == "add":
            link = chains.add_link(
                session, resident, kind=request.form.get("kind", ""), name=request.form.get("name", ""),
                relation=request.form.get("relation", ""), phone=request.form.get("phone"),
                channels=request.form.getlist("channels"),
                hours_start=chains.parse_hour(request.form.get("hours_start")),
                hours_end=chains.parse_hour(request.form.get("hours_end")),
                username=request.form.get("username", ""),
            )
            _audit("chain.add", "resident", resident.id, link_id=link.id, kind=link.kind)
        elif op == "remove":
            chains.remove_link(session, resident, link_id)
            _audit("chain.remove", "resident", resident.id, link_id=link_id)
        elif op in ("up", "down"):
            ids = [link.id for link in resident.caregivers]
            chains.set_chain_order(session, resident, chains.moved(ids, link_id, op))
            _audit("chain.reorder", "resident", resident.id, link_id=link_id, direction=op)
        else:
            raise InvalidInput("未知操作 / unknown operation")
    except ServiceError as exc:
        session.rollback()
        flash(error_text(exc), "error")
        return redirect(url_for("console.resident_detail", resident_id=resident_id))
    _commit_or_flash(N_("照护顺序已保存"))
    return redirect(url_for("console.resident_detail", resident_id=resident_id) + "#chain")


@bp.route("/households/<int:household_id>/residents/new", methods=["GET", "POST"])
@staff_required(*MANAGERS)
def resident_new(household_id: int) -> Response | tuple[str, int]:
    """Add a resident to a household the user covers."""
    household = _load_household(household_id)
    session = db_session()
    status = 200
    if request.method == "POST":
        now = current_services().clock.now()
        try:
            fields = _resident_fields(request.form, now.year)
        except ServiceError as exc:
            flash(error_text(exc), "error")
            status = exc.status
        else:
            resident = Resident(household_id=household.id, created_at=now, **fields)
            session.add(resident)
            session.flush()
            _audit("resident.create", "resident", resident.id, household_id=household.id)
            _commit_or_flash(N_("已添加居民"))
            return redirect(url_for("console.resident_detail", resident_id=resident.id))
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
    """Add a household to a 小院 the user covers."""
    user = current_staff()
    session = db_session()
    courtyard_id = parse_positive_int(request.form.get("courtyard_id"), 0)
    courtyard = session.scalar(scoped_courtyards(user).where(Courtyard.id == courtyard_id))
    if courtyard is None:
        abort(404)
    name = (request.form.get("name") or "").strip()
    try:
        if not name:
            raise InvalidInput("请填写户名 / a household name is required")
        landline = chains.parse_phone(request.form.get("landline"))
    except ServiceError as exc:
        flash(error_text(exc), "error")
        return redirect(url_for("console.household_list"))
    household = Household(courtyard_id=courtyard.id, name=name[:80], address=(request.form.get("address") or "")[:200],
                          landline=landline, created_at=current_services().clock.now())
    session.add(household)
    session.flush()
    _audit("household.create", "household", household.id, courtyard_id=courtyard.id)
    _commit_or_flash(N_("已添加住户"))
    return redirect(url_for("console.household_detail", household_id=household.id))


@bp.get("/households/<int:household_id>")
@staff_required()
def household_detail(household_id: int) -> str:
    """One household: its 小院, landline, address and residents."""
    household = _load_household(household_id)
    user = current_staff()
    residents = list(db_session().scalars(
        scoped_residents(user).where(Resident.household_id == household.id).order_by(Resident.id)
    ))
    return render_template("console/people/household.html", household=household, residents=residents,
                           can_edit=user.role in MANAGERS)


@bp.post("/households/<int:household_id>/edit")
@staff_required(*MANAGERS)
def household_edit(household_id: int) -> Response:
    """Change a household's name, address and landline (normalised with its area code)."""
    household = _load_household(household_id)
    try:
        name = (request.form.get("name") or "").strip()
        if not name:
            raise InvalidInput("请填写户名 / a household name is required")
        landline = chains.parse_phone(request.form.get("landline"))
    except ServiceError as exc:
        flash(error_text(exc), "error")
        return redirect(url_for("console.household_detail", household_id=household.id))
    household.name = name[:80]
    household.address = (request.form.get("address") or "").strip()[:200]
    household.landline = landline
    _audit("household.edit", "household", household.id)
    _commit_or_flash(N_("已保存"))
    return redirect(url_for("console.household_detail", household_id=household.id))
