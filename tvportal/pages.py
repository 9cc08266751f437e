"""TV pages: pairing, home, ranking, rewards, notices, one-key call, check-in, text size, 语音导读, follow-up questions
(找活干 and 帮我卖 are in dayjobs.py and sell.py).

Each view turns a remote key press (a link or a form) into one core service call and renders the
result; the household always comes from the box, never from the URL.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
import secrets
from collections.abc import Callable
from typing import Any

from babel.dates import format_skeleton
from flask import g, jsonify, make_response, redirect, render_template, request, send_file
from flask_babel import get_locale, gettext

from core import throttle
from core.clock import to_local
from core.community import checkins as checkin_service
from core.community import dayjobs as job_service
from core.community import notices as notice_service
from core.community import points as points_service
from core.community import rewards as reward_service
from core.community.spoken import clip_text
from core.community.tvboxes import RateLimited, current_code, register_box, set_text_size, set_voice_guide
from core.community.tvhome import home_facts
from core.errors import ServiceError
from core.i18n import DEFAULT_LOCALE, LOCALES, N_, SPOKEN_LOCALE, translate
from core.models.places import Courtyard
from core.models.tvbox import TvBox
from core.people.directory import place_of_household
from core.phone import helpcalls as helpcall_service
from core.requests import followup as followup_service
from core.requests import reminders as reminder_service
from core.requests import texts as reminder_texts
from core.tts import wav_is_complete
from tvportal.views import (
    COOKIE,
    bp,
    household_required,
    read_unit,
    require_form_token,
    services,
    tv_cache,
    tv_config,
    tvurl,
    unit_of_work,
)

log = logging.getLogger(__name__)

RANK_TABS = (
    ("courtyard", "month", N_("本院光荣榜")),
    ("village", "month", N_("全村光荣榜")),
    ("courtyard", "progress", N_("进步榜")),
    ("courtyard", "all", N_("本院总榜")),
    ("village", "all", N_("全村总榜")),
)
# What fits the notice body box (tv.css `.body`): characters per line and lines per page; fewer
# characters per line beside a photo.
NOTICE_LINES = {"standard": (34, 5, 25), "large": (27, 4, 21)}


def _page_slice(items: list[Any], page: int, size: int) -> tuple[list[Any], int, int]:
    pages = max(1, math.ceil(len(items) / size))
    page = min(max(page, 1), pages)
    return items[(page - 1) * size: page * size], page, pages


def _int_arg(name: str, default: int = 1) -> int:
    try:
        return int(request.args.get(name, default))
    except (TypeError, ValueError):
        return default


def _focused_page(items: list[dict[str, Any]], prefix: str, size: int) -> int:
    """The page asked for (`p`); without one, the page of the row `f` names (`prefix` and its id), else 1."""
    focus = request.args.get("f", "")
    if focus.startswith(prefix) and "p" not in request.args:
        for index, item in enumerate(items):
            if f"{prefix}{item['id']}" == focus:
                return index // size + 1
    return _int_arg("p", 1)


def _locale() -> str:
    """The language of this TV page ("zh" unless the URL asked for another one)."""
    locale = get_locale()
    return locale.language if locale is not None and locale.language in LOCALES else DEFAULT_LOCALE


@bp.context_processor
def _page_language() -> dict[str, str]:
    """`<html lang>` for the page: screen readers and TV speech pick their voice from it."""
    locale = _locale()
    return {"tv_lang": "zh-CN" if locale == "zh" else locale}


def tv_date(value: dt.date, locale: str) -> str:
    """A short date on the TV in the reader's language: "3月5日" or "Mar 5" (pure)."""
    return format_skeleton("MMMd", dt.datetime.combine(value, dt.time()), locale=locale)


def _error_page(text: str, status: int) -> Any:
    return make_response(render_template("tv/error.html", message=text, back=tvurl("tv.index")), status)


def _tv_error(message: str, status: int) -> Any:
    """An error screen; `message` is a msgid translated here."""
    return _error_page(gettext(message), status)


@bp.errorhandler(ServiceError)
def _service_error(exc: ServiceError) -> Any:
    """A service's refusal in the page's language (Chinese unless the URL asked for another)."""
    return _error_page(exc.text(_locale()) or gettext(N_("出了点问题")), exc.status)


@bp.errorhandler(404)
def _not_found(_exc: Any) -> Any:
    return _tv_error(N_("没有找到这个页面"), 404)


@bp.errorhandler(403)
def _forbidden(_exc: Any) -> Any:
    return _tv_error(N_("这台电视不能做这件事"), 403)


# --- pairing and home --------------------------------------------------------------------------

@bp.get("/")
def index() -> Any:
    """Home for a paired box; the pairing screen for anything else."""
    if g.get("tv_household_id") is not None:
        return home()
    return pairing()


def pairing() -> Any:
    """Show a 6-digit code; a box seen for the first time gets its token here."""
    now = services().clock.now()
    config = tv_config()
    if g.get("tv_box_id") is None:
        try:
            with unit_of_work() as session:
                _box, token = register_box(session, now=now, client_addr=request.remote_addr or "", config=config)
        except RateLimited as exc:
            return _service_error(exc)
        lang = request.args.get("lang")
        response = redirect(f"{request.path}?t={token}" + (f"&lang={lang}" if lang in LOCALES else ""))
        response.set_cookie(
            COOKIE, token, max_age=config.cookie_days * 86400, httponly=True, samesite="Lax", path="/tv",
            secure=services().settings.web.secure_cookies,
        )
        return response
    try:
        shown = _shown_code(now)
    except RateLimited as exc:
        return _service_error(exc)
    return render_template(
        "tv/pair.html", code=shown["code"], valid_until=shown["valid_until"],
        status_url=tvurl("tv.pair_status"), poll_seconds=max(2, config.status_poll_seconds),
    )


def _shown_code(now: dt.datetime) -> dict[str, str]:
    """The code this pending box shows now (replaced shortly before it expires) and its validity line."""
    with unit_of_work() as session:
        box = session.get_one(TvBox, g.tv_box_id)
        code = current_code(session, now=now, box=box, config=tv_config())
        digits, expires = code.code, code.expires_at
    valid_until = gettext(N_("配对码 %(time)s 前有效。"), time=to_local(expires).strftime("%H:%M"))
    return {"code": digits, "valid_until": valid_until}


@bp.get("/pair/status")
def pair_status() -> Any:
    """Tiny JSON the pairing screen polls: has staff bound this box yet, and which code to show now."""
    status: dict[str, Any] = {"paired": g.get("tv_household_id") is not None, "home": tvurl("tv.index")}
    if not status["paired"] and g.get("tv_box_id") is not None:
        try:
            status.update(_shown_code(services().clock.now()))
        except (RateLimited, ServiceError):
            log.warning("pairing screen could not get a code", exc_info=True)
    response = jsonify(status)
    response.headers["Cache-Control"] = "no-store"
    return response


def home() -> Any:
    """Nine tiles in two rows, focus on 一键呼叫; name, points, rank, unread notices, today's meeting and reminders.

    Tiles: 1 一键呼叫, 2 积分榜, 3 兑换, 4 通知, 5 我很好, 6 找活干 (open jobs), 7 帮我卖 (requests the 院长 has),
    then 大字 and 语音导读.

    A follow-up question (was the resolved request handled well?) takes the tiles' place until it is
    answered with 1/2/3 or put off with 稍后再说 (`?later=1`); it comes back on the next visit.
    """
    household_id = g.tv_household_id
    now = services().clock.now()
    cache = tv_cache()
    # The page differs by box (its token is in the forms), text size, language and query, never by focus.
    key = ("home", g.tv_box_id, g.tv_token, g.tv_text_size, g.tv_voice, request.cookies.get(COOKIE) == g.tv_token,
           tuple(sorted((k, v) for k, v in request.args.items(multi=True) if k != "f")), _tts_available())
    cached = cache.get(key)
    if cached is not None:
        return cached
    generation = cache.generation
    with read_unit() as session:
        # One query for the household's own figures; the rare parts are read only when they are there.
        facts = home_facts(session, household_id=household_id, now=now,
                           active_call_minutes=tv_config().help_call_active_minutes)
        if facts is None:
            return redirect(tvurl("tv.index"))
        place = facts.place
        month_start, _end = points_service.month_bounds(now)
        board = cache.remember(("board", place.courtyard_id, month_start), lambda: points_service.ranking(
            session, now=now, scope="courtyard", scope_id=place.courtyard_id, period="month"))
        rank, total = points_service.rank_in_board(board, household_id)
        # Today's meeting is the same for every box of the 小院: looked up once per 小院 and day.
        meeting_view: dict[str, Any] | None = cache.remember(
            ("meeting", place.courtyard_id, to_local(now).date()),
            lambda: _meeting_view(notice_service.todays_meeting(session, now=now, household_id=household_id,
                                                                place=place)))
        prompts = (followup_service.pending_followups_for_household(session, household_id, _locale())
                   if facts.has_followup else [])
        reminders = (reminder_service.reminders_for_household_today(session, household_id, now)
                     if facts.has_reminders else [])
        call_on = _call_in_progress(session, now, household_id) if facts.has_active_call else None
        # Open day jobs are the same for every box of a village: counted once per village and day.
        jobs = cache.remember(("jobs", place.village_id, to_local(now).date()),
                              lambda: job_service.open_job_count(session, now=now, place=place))
    followup = prompts[0] if prompts and request.args.get("later") != "1" else None
    shown = visible_reminders(reminders, meeting_view["time"] if meeting_view else None)
    page = render_template(
        "tv/home.html", household={"name": facts.name}, balance=facts.balance, rank=rank, total=total,
        unread=facts.unread, meeting=meeting_view, checked_in=facts.checked_in, back_url=None, followup=followup,
        call_on=call_on, reminders=shown, reminder_line=reminder_line(shown, gettext), can_speak=_tts_available(),
        jobs=jobs, selling=facts.selling,
    )
    if call_on is None:  # a call in progress changes by the second: never reuse that page
        cache.put(key, page, generation)
    return page


def _meeting_view(meeting: Any) -> dict[str, Any] | None:
    """What the home shows of today's meeting notice (plain values, safe to share between requests)."""
    if meeting is None:
        return None
    return {"id": meeting.id, "title": meeting.title,
            "time": to_local(meeting.event_at).strftime("%H:%M") if meeting.event_at else ""}


def _call_in_progress(session: Any, now: dt.datetime, household_id: int) -> dict[str, Any] | None:
    """The household's help call still going on (the home says so after Back), or None."""
    active = helpcall_service.active_help_call(session, now=now, household_id=household_id,
                                               active_minutes=tv_config().help_call_active_minutes)
    if active is None:
        return None
    status = helpcall_service.help_call_status(session, active.id, _locale())
    return {"url": tvurl("tv.call_status_page", help_call_id=active.id), "current": status["current"]}


def visible_reminders(items: list[Any], meeting_time: str | None) -> list[Any]:
    """Today's reminders for the home, without a meeting reminder that repeats today's meeting notice (pure)."""
    return [item for item in items if not (item.kind == "meeting" and meeting_time and item.time == meeting_time)]


def reminder_line(items: list[Any], translate: Callable[[str], str] = str) -> str:
    """The home's one-line summary of today's reminders, e.g. "19:00 用药：晚饭后吃降压药" (pure).

    `translate` turns the kind label and the punctuation (msgids) into the page's language.
    """
    return translate("；").join(f"{item.time} {translate(item.kind_label)}{translate('：')}{item.text}"
                               for item in items)


def reminders_speech(items: list[Any], locale: str = SPOKEN_LOCALE) -> str:
    """What 读给我听 says for today's reminders (pure; the TV's voice speaks Chinese)."""
    if not items:
        return translate(reminder_texts.NO_REMINDERS_SPOKEN, locale)
    said = translate(reminder_texts.SENTENCE_SEPARATOR, locale).join(
        translate(reminder_texts.REMINDER_SPOKEN, locale, time=item.time, kind=translate(item.kind_label, locale),
                  text=item.text) for item in items)
    return translate(reminder_texts.REMINDERS_SPOKEN, locale, items=said)


def _tts_available() -> bool:
    tts = services().tts
    return tts is not None and bool(getattr(tts, "available", False))


@bp.post("/textsize")
@household_required
def text_size() -> Any:
    """Switch 标准 / 大字 for this box."""
    require_form_token()
    size = request.form.get("size", "standard")
    with unit_of_work() as session:
        set_text_size(session, box=session.get_one(TvBox, g.tv_box_id), size=size)
    return redirect(tvurl("tv.index", f="tile-size"))


MAX_SAY_CHARS = 300  # what a page may ask to hear at once (a focused row's full text fits)
NEW_CLIPS_PER_BOX = 300  # clips not yet cached a box may have made per window (a busy hour of browsing)
NEW_CLIPS_WINDOW = dt.timedelta(minutes=10)


def _same_tv_page(url: str) -> str | None:
    """`url` when it is a path on this TV portal (never another site), else None."""
    if url.startswith("/tv/") and not url.startswith("//") and "\\" not in url:
        return url
    return None


@bp.post("/voice")
@household_required
def voice_guide() -> Any:
    """Switch 语音导读 on or off for this box (home tile, or the blue key on any page); back where it was."""
    require_form_token()
    on = request.form.get("on") == "1"
    with unit_of_work() as session:
        set_voice_guide(session, box=session.get_one(TvBox, g.tv_box_id), on=on)
    return redirect(_same_tv_page(request.form.get("back", "")) or tvurl("tv.index", f="tile-voice"))


@bp.get("/say")
@household_required
def say() -> Any:
    """语音导读: the spoken clip (cached WAV) of the focused tile or row, numbers said naturally.

    Only for a paired box with the guide switched on; the text is what the page shows on the element.
    """
    raw = request.args.get("x", "")
    if not g.tv_voice:
        return _tv_error(N_("语音导读没有打开"), 403)
    if len(raw) > MAX_SAY_CHARS:
        return _tv_error(N_("要读的字太多了"), 400)
    text = clip_text(raw)
    if not text:
        return _tv_error(N_("没有要读的字"), 404)
    tts = services().tts
    if tts is not None and not wav_is_complete(tts.cached_path(text)):
        # A box may ask for any short text: new clips (synthesis and disk) are limited per box.
        verdict = throttle.take(services().session_factory, bucket=f"tv.say:{g.tv_box_id}",
                                now=services().clock.now(), window=NEW_CLIPS_WINDOW, limit=NEW_CLIPS_PER_BOX)
        if not verdict.allowed:
            return _tv_error(N_("语音导读太忙，请稍后再试"), 429)
    response = _speech(text, in_memory=True)
    if response.mimetype == "audio/wav":
        response.cache_control.public = False
        response.cache_control.private = True  # the URL holds only page text, but it is this household's
    return response


# --- ranking -----------------------------------------------------------------------------------

@bp.get("/ranking")
@household_required
def ranking() -> Any:
    """挂榜晾晒: my 小院 or my village, this month / all time / most improved; paged with up/down."""
    household_id = g.tv_household_id
    now = services().clock.now()
    tab = min(max(_int_arg("tab", 0), 0), len(RANK_TABS) - 1)
    scope, period, title = RANK_TABS[tab]
    with unit_of_work() as session:
        place = place_of_household(session, household_id)
        scope_id = place.courtyard_id if scope == "courtyard" else place.village_id
        board = points_service.ranking(session, now=now, scope=scope, scope_id=scope_id, period=period)
        size = tv_config().page_size("ranking", g.tv_text_size)
        default_page = 1
        for index, row in enumerate(board):
            if row.household_id == household_id:
                default_page = index // size + 1
        page_rows, page, pages = _page_slice(board, _int_arg("p", default_page), size)
        page_rows = points_service.with_reasons(session, page_rows)
        courtyard_name = session.get_one(Courtyard, place.courtyard_id).name
    return render_template(
        "tv/ranking.html", tabs=RANK_TABS, tab=tab, title=title, rows=page_rows, page=page, pages=pages,
        mine=household_id, period=period, page_size=size, courtyard_name=courtyard_name,
        back_url=tvurl("tv.index", f="tile-ranking"),
    )


# --- rewards -----------------------------------------------------------------------------------

@bp.get("/rewards")
@household_required
def rewards() -> Any:
    """The catalogue: name, photo, points, stock; paged."""
    household_id = g.tv_household_id
    with unit_of_work() as session:
        balance = points_service.balance(session, household_id)
        items = [{"id": r.id, "name": r.name, "cost": r.cost, "stock": r.stock, "photo_url": r.photo_url,
                  "description": r.description}
                 for r in session.scalars(reward_service.rewards_for_household(session, household_id))]
    page_items, page, pages = _page_slice(items, _int_arg("p", 1), tv_config().page_size("rewards", g.tv_text_size))
    return render_template("tv/rewards.html", items=page_items, balance=balance, page=page, pages=pages,
                           back_url=tvurl("tv.index", f="tile-rewards"))


@bp.get("/rewards/<int:reward_id>")
@household_required
def reward_confirm(reward_id: int) -> Any:
    """Confirm screen: cost and the balance after; focus starts on 取消."""
    household_id = g.tv_household_id
    with unit_of_work() as session:
        reward = reward_service.get_reward_for_household(session, household_id, reward_id)
        balance = points_service.balance(session, household_id)
        problem = reward_service.can_redeem(balance, reward.cost, reward.stock, reward.active)
        view: dict[str, Any] = {"id": reward.id, "name": reward.name, "cost": reward.cost, "stock": reward.stock,
                "photo_url": reward.photo_url}
    return render_template(
        "tv/reward_confirm.html", reward=view, balance=balance,
        after=reward_service.balance_after(balance, view["cost"]), problem=problem,
        request_key=secrets.token_hex(8), back_url=tvurl("tv.rewards", f=f"reward-{reward_id}"),
    )


@bp.post("/rewards/<int:reward_id>/redeem")
@household_required
def redeem(reward_id: int) -> Any:
    """Redeem once (a double press returns the same redemption) and show the pickup code."""
    require_form_token()
    household_id = g.tv_household_id
    key = (request.form.get("k") or "")[:40] or None
    try:
        with unit_of_work() as session:
            redemption = reward_service.redeem(
                session, now=services().clock.now(), household_id=household_id, reward_id=reward_id,
                request_key=key,
            )
            redemption_id = redemption.id
    except reward_service.AlreadyRedeemed as exc:
        redemption_id = exc.redemption_id
    return redirect(tvurl("tv.redemption", redemption_id=redemption_id))


@bp.get("/redemptions/<int:redemption_id>")
@household_required
def redemption(redemption_id: int) -> Any:
    """The pickup code, large, and read aloud."""
    with unit_of_work() as session:
        item = reward_service.get_redemption_for_household(session, g.tv_household_id, redemption_id)
        view = {"id": item.id, "code": item.code, "reward_name": item.reward_name, "cost": item.cost,
                "pickup_place": item.pickup_place, "status": item.status}
        balance = points_service.balance(session, g.tv_household_id)
    return render_template("tv/redemption.html", item=view, balance=balance,
                           audio_url=tvurl("tv.redemption_audio", redemption_id=redemption_id),
                           back_url=tvurl("tv.rewards"))


@bp.get("/redemptions/<int:redemption_id>/audio")
@household_required
def redemption_audio(redemption_id: int) -> Any:
    """The pickup code as speech (cached WAV)."""
    with unit_of_work() as session:
        item = reward_service.get_redemption_for_household(session, g.tv_household_id, redemption_id)
        text = reward_service.pickup_speech(item)
    return _speech(text)


def _speech(text: str, *, in_memory: bool = False) -> Any:
    """The cached WAV of `text`, or an error screen when speech cannot be made.

    `in_memory` serves the bytes instead of an open file: a 语音导读 clip is short and is often cut
    off mid-download by the next key press, which would leave the file handle to the garbage collector.
    """
    tts = services().tts
    if tts is None or not getattr(tts, "available", False):
        return _tv_error(N_("语音暂时不能播放，请看屏幕上的文字"), 503)
    from core.tts import TtsUnavailable

    try:
        path = tts.synthesize(text)
    except TtsUnavailable:
        log.warning("TTS failed for a TV page", exc_info=True)
        return _tv_error(N_("语音暂时不能播放，请看屏幕上的文字"), 503)
    if in_memory:
        return send_file(io.BytesIO(path.read_bytes()), mimetype="audio/wav", conditional=True, max_age=86400,
                         etag=path.stem, last_modified=path.stat().st_mtime)
    response = send_file(path, mimetype="audio/wav", conditional=True, max_age=86400)
    return response


# --- notices -----------------------------------------------------------------------------------

@bp.get("/notices")
@household_required
def notices() -> Any:
    """Notices for my town, village and 小院: pinned first, unread marked; paged."""
    now = services().clock.now()
    with unit_of_work() as session:
        rows = session.execute(notice_service.notices_for_household(session, now=now,
                                                                    household_id=g.tv_household_id)).all()
        items = [{"id": n.id, "title": n.title, "category": notice_service.CATEGORY_LABELS.get(n.category, "通知"),
                  "date": tv_date(to_local(n.publish_from).date(), _locale()),
                  "pinned": n.pinned, "unread": read_at is None} for n, read_at in rows]
    size = tv_config().page_size("notices", g.tv_text_size)
    page_items, page, pages = _page_slice(items, _focused_page(items, "notice-", size), size)
    return render_template("tv/notices.html", items=page_items, page=page, pages=pages,
                           back_url=tvurl("tv.index", f="tile-notices"))


def split_lines(text: str, chars_per_line: int, lines_per_page: int, first_chars_per_line: int = 0) -> list[str]:
    """Cut a notice body into TV pages that fit `lines_per_page` lines of `chars_per_line` characters (pure).

    Paragraphs keep their breaks; a paragraph longer than a line takes as many lines as it wraps to, so a
    page of many short paragraphs holds fewer characters than one long paragraph. The first page may
    have narrower lines (a photo beside the text).
    """
    text = text.replace("\r", "").strip()
    if not text:
        return [""]
    pages: list[list[list[str]]] = [[]]  # pages of paragraphs of visual lines
    used = 0
    for paragraph in text.split("\n"):
        width = first_chars_per_line if first_chars_per_line and len(pages) == 1 else chars_per_line
        rest = paragraph or ""
        pieces: list[str] = []
        while True:
            if used >= lines_per_page:
                if pieces:
                    pages[-1].append(pieces)
                    pieces = []
                pages.append([])
                used = 0
                width = chars_per_line
            pieces.append(rest[:width])
            rest = rest[width:]
            used += 1
            if not rest:
                break
        pages[-1].append(pieces)
    out = ["\n".join("".join(lines) for lines in page).strip("\n") for page in pages]
    return [page for page in out if page] or [""]


@bp.get("/notices/<int:notice_id>")
@household_required
def notice(notice_id: int) -> Any:
    """One notice in large text, paged, with 读给我听; opening it marks it read."""
    now = services().clock.now()
    with unit_of_work() as session:
        item = notice_service.get_notice_for_household(session, now=now, household_id=g.tv_household_id,
                                                       notice_id=notice_id)
        notice_service.mark_read(session, now=now, household_id=g.tv_household_id, notice_id=notice_id)
        view = {"id": item.id, "title": item.title, "photo_url": item.photo_url,
                "category": notice_service.CATEGORY_LABELS.get(item.category, "通知"),
                "date": tv_date(to_local(item.publish_from).date(), _locale()),
                "event": _event_time(item.event_at)}
        body = item.body
    per_line, lines, beside_photo = NOTICE_LINES.get(g.tv_text_size, NOTICE_LINES["standard"])
    body_pages = split_lines(body, per_line, lines, beside_photo if view["photo_url"] else 0)
    body_page, page, pages = _page_slice(body_pages, _int_arg("p", 1), 1)
    return render_template(
        "tv/notice.html", item=view, text=body_page[0], page=page, pages=pages,
        audio_url=tvurl("tv.notice_audio", notice_id=notice_id),
        back_url=tvurl("tv.notices", f=f"notice-{notice_id}"),
    )


def _event_time(event_at: dt.datetime | None) -> str:
    """When a notice's event happens, e.g. "3月5日 14:30" / "Mar 5 14:30"; empty when it has none."""
    if event_at is None:
        return ""
    local = to_local(event_at)
    return f"{tv_date(local.date(), _locale())} {local:%H:%M}"


@bp.get("/notices/<int:notice_id>/audio")
@household_required
def notice_audio(notice_id: int) -> Any:
    """读给我听: the notice as speech from the TTS cache."""
    with unit_of_work() as session:
        item = notice_service.get_notice_for_household(session, now=services().clock.now(),
                                                       household_id=g.tv_household_id, notice_id=notice_id)
        text = notice_service.speech_text(item)
    return _speech(text)


# --- one-key call ------------------------------------------------------------------------------

@bp.get("/call")
@household_required
def call() -> Any:
    """The 5-second cancel window before a help call starts (joins a call already in progress)."""
    config = tv_config()
    with unit_of_work() as session:
        active = helpcall_service.active_help_call(session, now=services().clock.now(),
                                                   household_id=g.tv_household_id,
                                                   active_minutes=config.help_call_active_minutes)
        active_id = active.id if active is not None else None
    if active_id is not None:
        return redirect(tvurl("tv.call_status_page", help_call_id=active_id))
    return render_template("tv/call.html", seconds=config.help_call_cancel_seconds,
                           back_url=tvurl("tv.index", f="tile-call"))


@bp.post("/call")
@household_required
def call_start() -> Any:
    """Start (or join) the household's help call and hand it to the dialler."""
    require_form_token()
    svc = services()
    config = tv_config()
    dryrun = svc.telephony is None or svc.settings.telephony.provider == "dryrun"
    with unit_of_work() as session:
        help_call = helpcall_service.start_help_call(
            session, now=svc.clock.now(), household_id=g.tv_household_id, source="tv", dryrun=dryrun,
            active_minutes=config.help_call_active_minutes, box_id=g.get("tv_box_id"),
        )
        help_call_id = help_call.id
    try:
        from core.phone.dialler import advance_help_call

        advance_help_call(svc, help_call_id)
    except Exception:
        log.exception("dialler failed to advance help call %s", help_call_id)
    return redirect(tvurl("tv.call_status_page", help_call_id=help_call_id))


@bp.get("/call/<int:help_call_id>")
@household_required
def call_status_page(help_call_id: int) -> Any:
    """Each step of the help call in large words; the page polls the JSON below."""
    with unit_of_work() as session:
        helpcall_service.get_help_call_for_household(session, g.tv_household_id, help_call_id)
        status = helpcall_service.help_call_status(session, help_call_id, _locale())
    return render_template("tv/call_status.html", status=status, help_call_id=help_call_id,
                           status_url=tvurl("tv.call_status", help_call_id=help_call_id), again_url=tvurl("tv.call"),
                           poll_seconds=tv_config().status_poll_seconds, back_url=tvurl("tv.index", f="tile-call"))


@bp.get("/call/<int:help_call_id>/status")
@household_required
def call_status(help_call_id: int) -> Any:
    """Tiny JSON for the status page: steps in words."""
    with unit_of_work() as session:
        helpcall_service.get_help_call_for_household(session, g.tv_household_id, help_call_id)
        status = helpcall_service.help_call_status(session, help_call_id, _locale())
    response = jsonify(status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/call/<int:help_call_id>/cancel")
@household_required
def call_cancel(help_call_id: int) -> Any:
    """Cancel a help call nobody has accepted yet."""
    require_form_token()
    with unit_of_work() as session:
        helpcall_service.get_help_call_for_household(session, g.tv_household_id, help_call_id)
        helpcall_service.cancel_help_call(session, now=services().clock.now(), help_call_id=help_call_id,
                                          actor="tv")
    return redirect(tvurl("tv.call_status_page", help_call_id=help_call_id))


# --- check-in ----------------------------------------------------------------------------------

@bp.route("/checkin", methods=["GET", "POST"])
@household_required
def checkin() -> Any:
    """我很好: one key says "I'm fine today" (GET shows the button, POST records it)."""
    now = services().clock.now()
    if request.method == "POST":
        require_form_token()
        with unit_of_work() as session:
            row, _created = checkin_service.check_in(session, now=now, household_id=g.tv_household_id)
            at = to_local(row.at).strftime("%H:%M")
        return render_template("tv/checkin.html", done=True, at=at, back_url=tvurl("tv.index", f="tile-checkin"))
    with unit_of_work() as session:
        today = checkin_service.checked_in_today(session, now=now, household_id=g.tv_household_id)
        shown_at = to_local(today.at).strftime("%H:%M") if today else None
    return render_template("tv/checkin.html", done=today is not None, at=shown_at,
                           back_url=tvurl("tv.index", f="tile-checkin"))


# --- follow-up questions and reminders on the home ---------------------------------------------

@bp.post("/followup/<int:request_id>")
@household_required
def followup_answer(request_id: int) -> Any:
    """Answer the follow-up question of a resolved request with 1 满意, 2 基本满意 or 3 不满意."""
    require_form_token()
    digits = (request.form.get("d") or "")[:1]
    with unit_of_work() as session:
        reply = followup_service.answer_followup(session, now=services().clock.now(),
                                                 household_id=g.tv_household_id, request_id=request_id,
                                                 digits=digits, locale=_locale())
    return render_template("tv/followup_done.html", reply=reply, back_url=tvurl("tv.index"))


@bp.get("/followup/<int:request_id>/audio")
@household_required
def followup_audio(request_id: int) -> Any:
    """读给我听 for a follow-up question of this household."""
    with read_unit() as session:
        prompts = followup_service.pending_followups_for_household(session, g.tv_household_id)
    prompt = next((p for p in prompts if p.request_id == request_id), None)
    if prompt is None:
        return _tv_error(N_("这个问题已经回答过了"), 404)
    return _speech(prompt.question)


@bp.get("/reminders/audio")
@household_required
def reminders_audio() -> Any:
    """读给我听 for today's reminders of this household."""
    now = services().clock.now()
    with read_unit() as session:
        items = reminder_service.reminders_for_household_today(session, g.tv_household_id, now)
        meeting = notice_service.todays_meeting(session, now=now, household_id=g.tv_household_id)
        event_at = meeting.event_at if meeting is not None else None
        meeting_time = to_local(event_at).strftime("%H:%M") if event_at is not None else None
    return _speech(reminders_speech(visible_reminders(items, meeting_time)))


@bp.after_request
def _no_store_html(response: Any) -> Any:
    """TV pages show live balances: never cache them (static files and audio keep their own headers)."""
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response
