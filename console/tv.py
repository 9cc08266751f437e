"""Console pages for the TV area: notices, rewards, redemptions, points, TV box pairing, today's check-ins.

Every list and every action is scoped to the signed-in staff member's place (core.people.access and
core.community.visibility); the community services do the writes and their audit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from flask import redirect, render_template, request, url_for
from flask_babel import gettext

from console.auth import current_staff, staff_required
from console.blueprint import bp
from console.common import households_in_scope, photo_hosts, request_int, submitted_photo_url
from console.db import db_session
from console.forms import form_action
from console.nav import register_nav
from core.clock import LOCAL_TZ, to_local
from core.community import checkins as checkin_service
from core.community import notices as notice_service
from core.community import points as points_service
from core.community import rewards as reward_service
from core.community import tvboxes as tvbox_service
from core.community.visibility import (
    find_open_redemption_for,
    get_notice_for_edit,
    get_redemption_for,
    get_reward_for,
    notice_audiences,
    notice_place,
    notice_scope,
    redemption_scope,
    reward_place,
    reward_scope,
)
from core.container import current_services
from core.errors import InvalidInput, NotFound
from core.i18n import N_
from core.models.places import Courtyard, Household
from core.models.rewards import Redemption, Reward
from core.models.tvbox import TvBox
from core.people.access import (
    MANAGER_ROLES,
    get_courtyard_for,
    get_household_for,
    household_scope,
    scoped_courtyards,
    scoped_households,
)

register_nav("console.tv_points", N_("积分"), MANAGER_ROLES, 40, group="community")
register_nav("console.tv_redemptions", N_("兑换"), MANAGER_ROLES, 42, group="community")
register_nav("console.tv_rewards", N_("奖品"), MANAGER_ROLES, 43, group="community")
register_nav("console.tv_notices", N_("通知"), MANAGER_ROLES, 44, group="community")
register_nav("console.tv_boxes", N_("电视配对"), MANAGER_ROLES, 46, group="community")
register_nav("console.tv_checkins", N_("今日平安"), MANAGER_ROLES, 48, group="people")


def _now() -> dt.datetime:
    return current_services().clock.now()


def _courtyards(user: Any) -> list[Courtyard]:
    return list(db_session().scalars(scoped_courtyards(user).order_by(Courtyard.id)))


def _typed_int(name: str) -> int:
    """A whole number typed into field `name` (empty is 0); InvalidInput naming the field otherwise."""
    raw = (request.form.get(name) or "").strip()
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError:
        error = InvalidInput(N_("分值必须是整数"))
        error.field = name
        raise error from None


def _batch_error(household_id: int, name: str, problem: InvalidInput,
                 error: points_service.BatchLineInvalid | None = None) -> points_service.BatchLineInvalid:
    """The error of one batch line, tied to that household's score or reason field."""
    error = error or points_service.BatchLineInvalid(household_id=household_id, household_name=name, problem=problem)
    error.field = f"{POINT_FIELDS.get(problem.message, 'delta')}_{household_id}"
    return error


# Which field a points error is about (the page shows it there).
POINT_FIELDS = {
    N_("分值必须是整数"): "delta", N_("分值不能为 0"): "delta", N_("一次最多 %(limit)s 分"): "delta",
    N_("未知类别：%(category)s"): "category", N_("这个类别只由系统使用"): "category",
    N_("请写明原因"): "reason", N_("原因太长（最多 200 字）"): "reason", N_("找不到这一户"): "household_id",
}


# --- points ------------------------------------------------------------------------------------

@bp.route("/tv/points", methods=["GET", "POST"])
@staff_required(*MANAGER_ROLES)
def tv_points() -> Any:
    """Award or deduct for one household; the batch form for a whole 小院; recent entries."""
    user = current_staff()
    categories = points_service.point_categories(current_services().settings)
    if request.method == "POST":
        def award(session, user, now) -> int:
            household = get_household_for(session, user, request_int("household_id", 0) or 0)
            points_service.award_points(
                session, now=now, household_id=household.id, delta=_typed_int("delta"),
                category=request.form.get("category", ""), reason=request.form.get("reason", ""), actor=user,
                categories=categories,
            )
            return household.id

        outcome = form_action(award, done=N_("已记分"), fields=POINT_FIELDS)
        if outcome.ok:
            return redirect(url_for("console.tv_points_household", household_id=outcome.value))
        return render_template("console/tv/points.html", households=households_in_scope(user),
                               courtyards=_courtyards(user), categories=categories), outcome.status
    return render_template("console/tv/points.html", households=households_in_scope(user), courtyards=_courtyards(user),
                           categories=categories)


@bp.route("/tv/points/batch/<int:courtyard_id>", methods=["GET", "POST"])
@staff_required(*MANAGER_ROLES)
def tv_points_batch(courtyard_id: int) -> Any:
    """After an inspection: points for many households of one 小院 in one form, each with a reason."""
    user = current_staff()
    session = db_session()
    categories = points_service.point_categories(current_services().settings)
    try:
        courtyard = get_courtyard_for(session, user, courtyard_id)
    except NotFound:
        return render_template("console/error.html", title=N_("找不到"), message=N_("找不到这个小院")), 404
    households = list(session.scalars(sa.select(Household).where(Household.courtyard_id == courtyard.id)
                                      .order_by(Household.id)))
    if request.method == "POST":
        def award(session, user, now) -> points_service.BatchResult:
            lines = []
            for household in households:
                try:
                    delta = _typed_int(f"delta_{household.id}")
                except InvalidInput as exc:
                    raise _batch_error(household.id, household.name, exc) from exc
                if delta:
                    lines.append(points_service.BatchLine(
                        household_id=household.id, delta=delta,
                        reason=request.form.get(f"reason_{household.id}", "") or request.form.get("reason", ""),
                        category=(N_("扣分") if delta < 0 and "扣分" in categories else ""),
                    ))
            try:
                return points_service.award_batch(session, now=now, courtyard_id=courtyard.id, lines=lines,
                                                  category=request.form.get("category", ""), actor=user,
                                                  categories=categories)
            except points_service.BatchLineInvalid as exc:
                raise _batch_error(exc.household_id, "", exc.problem, exc) from exc

        outcome = form_action(award, done=lambda result: gettext("已为 %(n)s 户记分", n=len(result.entries)),
                              fields=POINT_FIELDS)
        if outcome.ok:
            return redirect(url_for("console.tv_points_batch", courtyard_id=courtyard.id))
        return render_template("console/tv/points_batch.html", courtyard=courtyard, households=households,
                               categories=categories), outcome.status
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
        def reverse(session, user, now) -> None:
            entry = session.get(points_service.PointEntry, request_int("entry_id", 0) or 0)
            if entry is None or entry.household_id != household.id:
                raise NotFound(N_("找不到这条积分记录"))
            points_service.reverse_entry(session, now=now, entry_id=entry.id,
                                         reason=request.form.get("reason", ""), actor=user)

        form_action(reverse, done=N_("已冲正"))
        return redirect(url_for("console.tv_points_household", household_id=household.id))
    return render_template("console/tv/points_household.html", household=household,
                           balance=points_service.balance(session, household.id),
                           entries=points_service.history(session, household.id, limit=200))


# --- rewards and redemptions -------------------------------------------------------------------

REWARD_FIELDS = {
    N_("请填写奖品名称"): "name", N_("所需积分必须大于 0"): "cost", N_("库存不能为负"): "stock",
    N_("照片地址不能用：请上传照片，或用允许的网站的 https 地址"): "photo_url", N_("照片是空的"): "photo",
    N_("照片太大（最多 %(kb)s KB）"): "photo", N_("只能上传 JPEG、PNG、GIF 或 WebP 图片"): "photo",
    N_("找不到这个小院"): "courtyard_id",
}


@bp.route("/tv/rewards", methods=["GET", "POST"])
@staff_required(*MANAGER_ROLES)
def tv_rewards() -> Any:
    """The catalogue of the villages (and 小院) in scope: add rewards, change stock, switch on/off."""
    user = current_staff()
    session = db_session()
    if request.method == "POST":
        def change(session, user, now) -> None:
            action = request.form.get("action", "create")
            if action == "create":
                village_id, courtyard_id = reward_place(
                    session, user, village_id=request_int("village_id", 0) or None,
                    courtyard_id=request_int("courtyard_id") if request.form.get("courtyard_id") else None)
                reward_service.create_reward(
                    session, now=now, village_id=village_id, courtyard_id=courtyard_id,
                    name=request.form.get("name", ""), cost=request_int("cost", 0) or 0,
                    stock=request_int("stock", 0) or 0,
                    description=request.form.get("description", ""), photo_url=submitted_photo_url(),
                    pickup_place=request.form.get("pickup_place", ""), actor=user, photo_hosts=photo_hosts(),
                )
                return
            reward = get_reward_for(session, user, request_int("reward_id", 0) or 0)
            if action == "stock":
                reward_service.adjust_stock(session, now=now, reward_id=reward.id, change=request_int("change", 0) or 0,
                                            actor=user)
            elif action == "toggle":
                reward_service.update_reward(session, now=now, reward=reward, actor=user, active=not reward.active)

        outcome = form_action(change, done=N_("已保存"), fields=REWARD_FIELDS)
        if outcome.ok or request.form.get("action", "create") != "create":
            return redirect(url_for("console.tv_rewards"))
        status = outcome.status  # the new reward's form is shown again with what was typed
    else:
        status = 200
    rewards = list(session.scalars(sa.select(Reward).where(reward_scope(user))
                                   .order_by(Reward.village_id, Reward.sort_order, Reward.id)))
    return render_template("console/tv/rewards.html", rewards=rewards, courtyards=_courtyards(user)), status


@bp.route("/tv/redemptions", methods=["GET", "POST"])
@staff_required(*MANAGER_ROLES)
def tv_redemptions() -> Any:
    """Redemptions in scope; collect by pickup code; cancel (points refunded by a ledger entry)."""
    user = current_staff()
    session = db_session()
    if request.method == "POST":
        def change(session, user, now) -> str:
            if request.form.get("action", "collect") == "collect":
                found = find_open_redemption_for(session, user, request.form.get("code", ""))
                reward_service.collect(session, now=now, redemption=found, actor=user)
                return gettext("已领取：%(name)s", name=found.reward_name)
            item = get_redemption_for(session, user, request_int("redemption_id", 0) or 0)
            reward_service.cancel(session, now=now, redemption=item, reason=request.form.get("reason", ""),
                                  actor=user)
            return N_("已取消，积分已退还")

        form_action(change, done=lambda message: message)
        return redirect(url_for("console.tv_redemptions"))
    status = request.args.get("status", "open")
    query = sa.select(Redemption, Household.name).join(Household, Redemption.household_id == Household.id).where(
        redemption_scope(user))
    if status in ("open", "collected", "cancelled"):
        query = query.where(Redemption.status == status)
    rows = list(session.execute(query.order_by(Redemption.created_at.desc()).limit(200)))
    return render_template("console/tv/redemptions.html", rows=rows, status=status)


# --- notices -----------------------------------------------------------------------------------

def _parse_local(name: str) -> dt.datetime | None:
    raw = request.form.get(name)
    if not raw:
        return None
    try:
        return dt.datetime.fromisoformat(raw).replace(tzinfo=LOCAL_TZ)
    except ValueError as exc:
        error = InvalidInput(N_("时间格式不对"))
        error.field = name
        raise error from exc


def _notice_fields() -> dict[str, Any]:
    return {
        "title": request.form.get("title", ""), "body": request.form.get("body", ""),
        "category": request.form.get("category", "notice"), "pinned": bool(request.form.get("pinned")),
        "photo_url": submitted_photo_url(), "event_at": _parse_local("event_at"),
        "publish_from": _parse_local("publish_from"), "publish_until": _parse_local("publish_until"),
    }


# Which field a notice error is about (the page shows it there).
NOTICE_FIELDS = {
    N_("请填写标题"): "title", N_("标题太长"): "title", N_("未知类别：%(category)s"): "category",
    N_("未知范围：%(audience)s"): "audience", N_("只有镇里可以发全镇通知"): "audience",
    N_("院长只能发本小院的通知"): "audience", N_("结束时间要晚于开始时间"): "publish_until",
    N_("请选择小院"): "courtyard_id", N_("请选择村"): "courtyard_id", N_("找不到这个小院"): "courtyard_id",
    N_("照片地址不能用：请上传照片，或用允许的网站的 https 地址"): "photo_url", N_("照片是空的"): "photo",
    N_("照片太大（最多 %(kb)s KB）"): "photo", N_("只能上传 JPEG、PNG、GIF 或 WebP 图片"): "photo",
}


def _notice_page(user: Any, *, edit: Any = None, status: int = 200) -> tuple[str, int]:
    notices = [] if edit is not None else list(db_session().scalars(
        notice_service.notices_in_scope(db_session(), notice_scope(user)).limit(200)))
    audiences = {key: notice_service.AUDIENCE_LABELS[key] for key in notice_audiences(user)}
    return render_template("console/tv/notices.html", notices=notices, courtyards=_courtyards(user),
                           labels=notice_service.CATEGORY_LABELS, audiences=audiences,
                           all_audiences=notice_service.AUDIENCE_LABELS, now=_now(), edit=edit,
                           to_local=to_local), status


@bp.route("/tv/notices", methods=["GET", "POST"])
@staff_required(*MANAGER_ROLES)
def tv_notices() -> Any:
    """Post a notice for the town / a village / a 小院 in scope (the author's own scope by default); list them."""
    user = current_staff()
    if request.method == "POST":
        def post(session, user, now) -> None:
            audience = request.form.get("audience") or notice_audiences(user)[0]
            town_id, village_id, courtyard_id = notice_place(
                session, user, audience=audience, courtyard_id=request_int("courtyard_id") or user.courtyard_id)
            notice_service.post_notice(session, now=now, audience=audience, town_id=town_id, village_id=village_id,
                                       courtyard_id=courtyard_id, actor=user, photo_hosts=photo_hosts(),
                                       **_notice_fields())

        outcome = form_action(post, done=N_("通知已发布"), fields=NOTICE_FIELDS)
        if outcome.ok:
            return redirect(url_for("console.tv_notices"))
        return _notice_page(user, status=outcome.status)
    return _notice_page(user)


@bp.route("/tv/notices/<int:notice_id>", methods=["GET", "POST"])
@staff_required(*MANAGER_ROLES)
def tv_notice_edit(notice_id: int) -> Any:
    """Edit or withdraw a notice in scope."""
    user = current_staff()
    try:
        notice = get_notice_for_edit(db_session(), user, notice_id)
    except NotFound:
        return render_template("console/error.html", title=N_("找不到"), message=N_("找不到这条通知")), 404
    if request.method == "POST":
        def edit(session, user, now) -> None:
            fields = _notice_fields()
            fields["publish_from"] = fields["publish_from"] or notice.publish_from
            fields["withdrawn"] = bool(request.form.get("withdrawn"))
            notice_service.edit_notice(session, now=now, notice=notice, actor=user, photo_hosts=photo_hosts(),
                                       **fields)

        outcome = form_action(edit, done=N_("已保存"), fields=NOTICE_FIELDS)
        if outcome.ok:
            return redirect(url_for("console.tv_notices"))
        return _notice_page(user, edit=notice, status=outcome.status)
    return _notice_page(user, edit=notice)


# --- TV boxes and check-ins --------------------------------------------------------------------

PAIRING_FIELDS = {N_("配对码是 6 位数字"): "code", N_("配对码不对或已过期"): "code",
                  N_("输错次数太多，请 10 分钟后再试"): "code", N_("找不到这一户"): "household_id"}


@bp.route("/tv/boxes", methods=["GET", "POST"])
@staff_required(*MANAGER_ROLES)
def tv_boxes() -> Any:
    """Bind a TV box to a household by the 6-digit code on its screen; unbind boxes."""
    user = current_staff()
    session = db_session()
    services = current_services()
    if request.method == "POST":
        def change(session, user, now) -> str:
            if request.form.get("action", "pair") == "pair":
                household = get_household_for(session, user, request_int("household_id", 0) or 0)
                # Counted and paired in transactions of their own (a wrong code must stay counted); end
                # this request's transaction first, or on SQLite they would wait for its write lock.
                session.commit()
                tvbox_service.pair_by_code(services.session_factory, now=now, code=request.form.get("code", ""),
                                           household_id=household.id, actor=user,
                                           config=tvbox_service.TvConfig.from_settings(services.settings))
                return gettext("配对成功：%(name)s", name=household.name)
            box = session.get(TvBox, request_int("box_id", 0) or 0)
            if box is None or box.household_id is None:
                raise NotFound(N_("找不到这台机顶盒"))
            get_household_for(session, user, box.household_id)
            tvbox_service.revoke_box(session, now=now, box_id=box.id, actor=user)
            return N_("已解除配对")

        outcome = form_action(change, done=lambda message: message, fields=PAIRING_FIELDS)
        if outcome.ok or request.form.get("action", "pair") != "pair":
            return redirect(url_for("console.tv_boxes"))
        status = outcome.status
    else:
        status = 200
    boxes = tvbox_service.boxes_in_scope(session, Household.id.in_(
        scoped_households(user).with_only_columns(Household.id)))
    return render_template("console/tv/boxes.html", boxes=boxes, households=households_in_scope(user)), status


@bp.get("/tv/checkins")
@staff_required(*MANAGER_ROLES)
def tv_checkins() -> Any:
    """Today's 我很好 check-ins, and who living alone has not checked in yet."""
    user = current_staff()
    session = db_session()
    now = _now()
    done = checkin_service.checkins_today(session, now=now, place_clause=household_scope(user))
    visible = {h.id for h in households_in_scope(user)}
    missing = [r for r in checkin_service.missing_checkins(session, now=now, only_tv_households=False)
               if r.household_id in visible]
    return render_template("console/tv/checkins.html", done=done, missing=missing, today=to_local(now).date())
