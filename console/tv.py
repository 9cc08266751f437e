"""Console pages for the TV area: notices, rewards, redemptions, points, TV box pairing, today's check-ins.

Every list and every action is scoped to the signed-in staff member's place (core/people/access.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext

from console.auth import current_staff, staff_required
from console.blueprint import bp
from console.db import db_session
from console.nav import register_nav
from core.clock import LOCAL_TZ, to_local
from core.community import checkins as checkin_service
from core.community import notices as notice_service
from core.community import points as points_service
from core.community import rewards as reward_service
from core.community import tvboxes as tvbox_service
from core.container import current_services
from core.errors import InvalidInput, NotFound, PermissionDenied, ServiceError
from core.i18n import N_
from core.models.notices import Notice
from core.models.places import Courtyard, Household, Village
from core.models.rewards import Redemption, Reward
from core.models.tvbox import TvBox
from core.people.access import (
    MANAGER_ROLES,
    can_see_place,
    get_household_for,
    household_scope,
    place_clause,
    scoped_households,
)

register_nav("console.tv_points", N_("积分"), MANAGER_ROLES, 40)
register_nav("console.tv_redemptions", N_("兑换"), MANAGER_ROLES, 42)
register_nav("console.tv_rewards", N_("奖品"), MANAGER_ROLES, 43)
register_nav("console.tv_notices", N_("通知"), MANAGER_ROLES, 44)
register_nav("console.tv_boxes", N_("电视配对"), MANAGER_ROLES, 46)
register_nav("console.tv_checkins", N_("今日平安"), MANAGER_ROLES, 48)


def _now() -> dt.datetime:
    return current_services().clock.now()


def _fail(exc: ServiceError) -> None:
    flash(str(exc).split(" / ")[0], "error")


def _households(user: Any) -> list[Household]:
    return list(db_session().scalars(scoped_households(user).order_by(Household.courtyard_id, Household.id)))


def _courtyards(user: Any) -> list[Courtyard]:
    ids = sa.select(Household.courtyard_id).where(Household.id.in_(
        scoped_households(user).with_only_columns(Household.id)))
    query = sa.select(Courtyard).order_by(Courtyard.id)
    if user.role == "admin":
        return list(db_session().scalars(query))
    if user.role == "town":
        return list(db_session().scalars(query.join(Village).where(Village.town_id == user.town_id)))
    if user.role in ("village", "grid_worker"):
        return list(db_session().scalars(query.where(Courtyard.village_id == user.village_id)))
    return list(db_session().scalars(query.where(Courtyard.id.in_(ids))))


def _courtyard_for(user: Any, courtyard_id: int) -> Courtyard:
    courtyard = db_session().get(Courtyard, courtyard_id)
    if courtyard is None or courtyard.id not in {c.id for c in _courtyards(user)}:
        raise NotFound("找不到这个小院 / courtyard not found")
    return courtyard


def _redemption_scope(user: Any):
    return place_clause(user, courtyard_col=Redemption.courtyard_id, village_col=Redemption.village_id,
                        town_col=Redemption.town_id)


def _int(name: str, default: int | None = None) -> int | None:
    try:
        return int(request.values.get(name, ""))
    except ValueError:
        return default


# --- points ------------------------------------------------------------------------------------

@bp.route("/tv/points", methods=["GET", "POST"])
@staff_required(*MANAGER_ROLES)
def tv_points() -> Any:
    """Award or deduct for one household; the batch form for a whole 小院; recent entries."""
    user = current_staff()
    session = db_session()
    categories = points_service.point_categories(current_services().settings)
    if request.method == "POST":
        try:
            household = get_household_for(session, user, _int("household_id", 0) or 0)
            points_service.award_points(
                session, now=_now(), household_id=household.id, delta=_int("delta", 0) or 0,
                category=request.form.get("category", ""), reason=request.form.get("reason", ""), actor=user,
                categories=categories,
            )
            session.commit()
            flash(N_("已记分"), "success")
            return redirect(url_for("console.tv_points_household", household_id=household.id))
        except ServiceError as exc:
            session.rollback()
            _fail(exc)
    return render_template("console/tv/points.html", households=_households(user), courtyards=_courtyards(user),
                           categories=categories)


@bp.route("/tv/points/batch/<int:courtyard_id>", methods=["GET", "POST"])
@staff_required(*MANAGER_ROLES)
def tv_points_batch(courtyard_id: int) -> Any:
    """After an inspection: points for many households of one 小院 in one form, each with a reason."""
    user = current_staff()
    session = db_session()
    categories = points_service.point_categories(current_services().settings)
    try:
        courtyard = _courtyard_for(user, courtyard_id)
    except NotFound:
        return render_template("console/error.html", title=N_("找不到"), message=N_("找不到这个小院")), 404
    households = list(session.scalars(sa.select(Household).where(Household.courtyard_id == courtyard.id)
                                      .order_by(Household.id)))
    if request.method == "POST":
        lines = []
        for household in households:
            delta = _int(f"delta_{household.id}", 0) or 0
            if delta:
                lines.append(points_service.BatchLine(
                    household_id=household.id, delta=delta,
                    reason=request.form.get(f"reason_{household.id}", "") or request.form.get("reason", ""),
                    category=(N_("扣分") if delta < 0 and "扣分" in categories else ""),
                ))
        try:
            result = points_service.award_batch(session, now=_now(), courtyard_id=courtyard.id, lines=lines,
                                                category=request.form.get("category", ""), actor=user,
                                                categories=categories)
            session.commit()
            flash(gettext("已为 %(n)s 户记分", n=len(result.entries)), "success")
            return redirect(url_for("console.tv_points_batch", courtyard_id=courtyard.id))
        except ServiceError as exc:
            session.rollback()
            _fail(exc)
    return render_template("console/tv/points_batch.html", courtyard=courtyard, households=households,
                           categories=categories)


@bp.route("/tv/points/household/<int:household_id>", methods=["GET", "POST"])
@staff_required(*MANAGER_ROLES)
def tv_points_household(household_id: int) -> Any:
    """One household's balance and history; a wrong entry is corrected by a reversal entry."""
    user = current_staff()
    session = db_session()
    try:
        household = get_household_for(session, user, household_id)
    except NotFound:
        return render_template("console/error.html", title=N_("找不到"), message=N_("找不到这一户")), 404
    if request.method == "POST":
        try:
            entry = session.get(points_service.PointEntry, _int("entry_id", 0) or 0)
            if entry is None or entry.household_id != household.id:
                raise NotFound("找不到这条积分记录 / entry not found")
            points_service.reverse_entry(session, now=_now(), entry_id=entry.id,
                                         reason=request.form.get("reason", ""), actor=user)
            session.commit()
            flash(N_("已冲正"), "success")
        except ServiceError as exc:
            session.rollback()
            _fail(exc)
        return redirect(url_for("console.tv_points_household", household_id=household.id))
    return render_template("console/tv/points_household.html", household=household,
                           balance=points_service.balance(session, household.id),
                           entries=points_service.history(session, household.id, limit=200))


# --- rewards and redemptions -------------------------------------------------------------------

@bp.route("/tv/rewards", methods=["GET", "POST"])
@staff_required(*MANAGER_ROLES)
def tv_rewards() -> Any:
    """The catalogue of the villages (and 小院) in scope: add rewards, change stock, switch on/off."""
    user = current_staff()
    session = db_session()
    courtyards = _courtyards(user)
    village_ids = sorted({c.village_id for c in courtyards})
    if request.method == "POST":
        try:
            action = request.form.get("action", "create")
            if action == "create":
                courtyard_id = _int("courtyard_id") if request.form.get("courtyard_id") else None
                if user.role == "courtyard_head":
                    courtyard_id = user.courtyard_id
                village_id = _int("village_id", 0) or (village_ids[0] if village_ids else 0)
                if courtyard_id is not None:
                    village_id = _courtyard_for(user, courtyard_id).village_id
                if village_id not in village_ids:
                    raise PermissionDenied("不能为这个村添加奖品 / not your village")
                reward_service.create_reward(
                    session, now=_now(), village_id=village_id, courtyard_id=courtyard_id,
                    name=request.form.get("name", ""), cost=_int("cost", 0) or 0, stock=_int("stock", 0) or 0,
                    description=request.form.get("description", ""), photo_url=request.form.get("photo_url", ""),
                    pickup_place=request.form.get("pickup_place", ""), actor=user,
                )
            else:
                reward = session.get(Reward, _int("reward_id", 0) or 0)
                if reward is None or reward.village_id not in village_ids or (
                        user.role == "courtyard_head" and reward.courtyard_id != user.courtyard_id):
                    raise NotFound("找不到这个奖品 / reward not found")
                if action == "stock":
                    reward_service.adjust_stock(session, now=_now(), reward_id=reward.id,
                                                change=_int("change", 0) or 0, actor=user)
                elif action == "toggle":
                    reward_service.update_reward(session, now=_now(), reward=reward, actor=user,
                                                 active=not reward.active)
            session.commit()
            flash(N_("已保存"), "success")
        except ServiceError as exc:
            session.rollback()
            _fail(exc)
        return redirect(url_for("console.tv_rewards"))
    rewards = list(session.scalars(sa.select(Reward).where(Reward.village_id.in_(village_ids))
                                   .order_by(Reward.village_id, Reward.sort_order, Reward.id)))
    return render_template("console/tv/rewards.html", rewards=rewards, courtyards=courtyards)


@bp.route("/tv/redemptions", methods=["GET", "POST"])
@staff_required(*MANAGER_ROLES)
def tv_redemptions() -> Any:
    """Redemptions in scope; collect by pickup code; cancel (points refunded by a ledger entry)."""
    user = current_staff()
    session = db_session()
    if request.method == "POST":
        try:
            action = request.form.get("action", "collect")
            if action == "collect":
                code = request.form.get("code", "")
                villages = sorted({c.village_id for c in _courtyards(user)})
                found = None
                for village_id in villages:
                    try:
                        found = reward_service.find_open_by_code(session, village_id=village_id, code=code)
                        break
                    except NotFound:
                        continue
                if found is None or not session.scalar(sa.select(Redemption.id).where(
                        Redemption.id == found.id, _redemption_scope(user))):
                    raise NotFound("没有这个取货码的待取兑换 / no open redemption with this code")
                reward_service.collect(session, now=_now(), redemption=found, actor=user)
                flash(gettext("已领取：%(name)s", name=found.reward_name), "success")
            else:
                item = session.scalar(sa.select(Redemption).where(Redemption.id == (_int("redemption_id", 0) or 0),
                                                                  _redemption_scope(user)))
                if item is None:
                    raise NotFound("找不到这次兑换 / redemption not found")
                reward_service.cancel(session, now=_now(), redemption=item, reason=request.form.get("reason", ""),
                                      actor=user)
                flash(N_("已取消，积分已退还"), "success")
            session.commit()
        except ServiceError as exc:
            session.rollback()
            _fail(exc)
        return redirect(url_for("console.tv_redemptions"))
    status = request.args.get("status", "open")
    query = sa.select(Redemption, Household.name).join(Household, Redemption.household_id == Household.id).where(
        _redemption_scope(user))
    if status in ("open", "collected", "cancelled"):
        query = query.where(Redemption.status == status)
    rows = list(session.execute(query.order_by(Redemption.created_at.desc()).limit(200)))
    return render_template("console/tv/redemptions.html", rows=rows, status=status)


# --- notices -----------------------------------------------------------------------------------

def _notice_scope(user: Any):
    if user.role == "admin":
        return sa.true()
    if user.role == "town":
        return Notice.town_id == user.town_id
    if user.role in ("village", "grid_worker"):
        return sa.and_(Notice.town_id == user.town_id,
                       sa.or_(Notice.audience == "town", Notice.village_id == user.village_id))
    return sa.and_(Notice.town_id == user.town_id, sa.or_(
        Notice.audience == "town", sa.and_(Notice.audience == "village", Notice.village_id == user.village_id),
        Notice.courtyard_id == user.courtyard_id))


def _may_edit(user: Any, notice: Notice) -> bool:
    if notice.audience == "town":
        return user.role in ("admin", "town") and (user.role == "admin" or notice.town_id == user.town_id)
    return can_see_place(user, courtyard_id=notice.courtyard_id if notice.audience == "courtyard" else None,
                         village_id=notice.village_id if user.role != "courtyard_head" else None,
                         town_id=notice.town_id)


def _parse_local(raw: str | None) -> dt.datetime | None:
    if not raw:
        return None
    try:
        return dt.datetime.fromisoformat(raw).replace(tzinfo=LOCAL_TZ)
    except ValueError as exc:
        raise InvalidInput("时间格式不对 / bad time") from exc


def _notice_fields() -> dict[str, Any]:
    return {
        "title": request.form.get("title", ""), "body": request.form.get("body", ""),
        "category": request.form.get("category", "notice"), "pinned": bool(request.form.get("pinned")),
        "photo_url": request.form.get("photo_url", ""), "event_at": _parse_local(request.form.get("event_at")),
        "publish_from": _parse_local(request.form.get("publish_from")),
        "publish_until": _parse_local(request.form.get("publish_until")),
    }


@bp.route("/tv/notices", methods=["GET", "POST"])
@staff_required(*MANAGER_ROLES)
def tv_notices() -> Any:
    """Post a notice for the town / a village / a 小院 in scope; list the notices in scope."""
    user = current_staff()
    session = db_session()
    courtyards = _courtyards(user)
    if request.method == "POST":
        try:
            audience = request.form.get("audience", "courtyard")
            courtyard_id = _int("courtyard_id")
            village_id = None
            town_id = user.town_id
            if audience == "town":
                if user.role not in ("admin", "town"):
                    raise PermissionDenied("只有镇里可以发全镇通知 / only the town may post to the whole town")
                town_id = user.town_id or session.scalar(sa.select(Village.town_id).limit(1))
            elif audience == "village":
                if user.role == "courtyard_head":
                    raise PermissionDenied("院长只能发本小院的通知 / heads post to their courtyard")
                courtyard = _courtyard_for(user, courtyard_id or 0)
                village_id = courtyard.village_id
                courtyard_id = None
            else:
                courtyard = _courtyard_for(user, courtyard_id or 0)
                village_id = courtyard.village_id
            if town_id is None and village_id is not None:
                town_id = session.get(Village, village_id).town_id
            fields = _notice_fields()
            notice_service.post_notice(session, now=_now(), audience=audience, town_id=town_id, village_id=village_id,
                                       courtyard_id=courtyard_id, actor=user, **fields)
            session.commit()
            flash(N_("通知已发布"), "success")
            return redirect(url_for("console.tv_notices"))
        except ServiceError as exc:
            session.rollback()
            _fail(exc)
    notices = list(session.scalars(notice_service.notices_in_scope(session, _notice_scope(user)).limit(200)))
    return render_template("console/tv/notices.html", notices=notices, courtyards=courtyards,
                           labels=notice_service.CATEGORY_LABELS, audiences=notice_service.AUDIENCE_LABELS,
                           now=_now(), edit=None)


@bp.route("/tv/notices/<int:notice_id>", methods=["GET", "POST"])
@staff_required(*MANAGER_ROLES)
def tv_notice_edit(notice_id: int) -> Any:
    """Edit or withdraw a notice in scope."""
    user = current_staff()
    session = db_session()
    notice = session.scalar(sa.select(Notice).where(Notice.id == notice_id, _notice_scope(user)))
    if notice is None or not _may_edit(user, notice):
        return render_template("console/error.html", title=N_("找不到"), message=N_("找不到这条通知")), 404
    if request.method == "POST":
        try:
            fields = _notice_fields()
            fields["publish_from"] = fields["publish_from"] or notice.publish_from
            fields["withdrawn"] = bool(request.form.get("withdrawn"))
            notice_service.edit_notice(session, now=_now(), notice=notice, actor=user, **fields)
            session.commit()
            flash(N_("已保存"), "success")
            return redirect(url_for("console.tv_notices"))
        except ServiceError as exc:
            session.rollback()
            _fail(exc)
    return render_template("console/tv/notices.html", notices=[], courtyards=_courtyards(user),
                           labels=notice_service.CATEGORY_LABELS, audiences=notice_service.AUDIENCE_LABELS,
                           now=_now(), edit=notice, to_local=to_local)


# --- TV boxes and check-ins --------------------------------------------------------------------

@bp.route("/tv/boxes", methods=["GET", "POST"])
@staff_required(*MANAGER_ROLES)
def tv_boxes() -> Any:
    """Bind a TV box to a household by the 6-digit code on its screen; unbind boxes."""
    user = current_staff()
    session = db_session()
    services = current_services()
    if request.method == "POST":
        action = request.form.get("action", "pair")
        try:
            if action == "pair":
                household = get_household_for(session, user, _int("household_id", 0) or 0)
                code = request.form.get("code", "")
                label, user_id = tvbox_service.actor_label_of(user), user.id
                try:
                    tvbox_service.pair_box(session, now=_now(), code=code, household_id=household.id, actor=user,
                                           config=tvbox_service.TvConfig.from_settings(services.settings))
                except NotFound:
                    session.rollback()
                    tvbox_service.record_failed_pairing(services.session_factory, now=_now(), actor_label=label,
                                                        actor_id=user_id, code=code)
                    raise
                flash(gettext("配对成功：%(name)s", name=household.name), "success")
            else:
                box = session.get(TvBox, _int("box_id", 0) or 0)
                if box is None or box.household_id is None:
                    raise NotFound("找不到这台机顶盒 / box not found")
                get_household_for(session, user, box.household_id)
                tvbox_service.revoke_box(session, now=_now(), box_id=box.id, actor=user)
                flash(N_("已解除配对"), "success")
            session.commit()
        except ServiceError as exc:
            session.rollback()
            _fail(exc)
        return redirect(url_for("console.tv_boxes"))
    boxes = tvbox_service.boxes_in_scope(session, Household.id.in_(
        scoped_households(user).with_only_columns(Household.id)))
    return render_template("console/tv/boxes.html", boxes=boxes, households=_households(user))


@bp.get("/tv/checkins")
@staff_required(*MANAGER_ROLES)
def tv_checkins() -> Any:
    """Today's 我很好 check-ins, and who living alone has not checked in yet."""
    user = current_staff()
    session = db_session()
    now = _now()
    done = checkin_service.checkins_today(session, now=now, place_clause=household_scope(user))
    visible = {h.id for h in _households(user)}
    missing = [r for r in checkin_service.missing_checkins(session, now=now, only_tv_households=False)
               if r.household_id in visible]
    return render_template("console/tv/checkins.html", done=done, missing=missing, today=to_local(now).date(),
                           )
