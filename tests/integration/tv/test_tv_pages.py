"""TV pages through the Flask client: pairing, home, isolation between households, POST protection."""

from __future__ import annotations

import re

import sqlalchemy as sa

from core.community import notices as notice_service
from core.community import points as points_service
from core.community import rewards as reward_service
from core.community.tvboxes import revoke_box
from core.db import transaction
from core.models.tvbox import TvBox
from tests.integration.tv.conftest import pair_client


def _text(response) -> str:
    return response.get_data(as_text=True)


def test_unknown_box_sees_only_the_pairing_screen(client, world_ids):
    first = client.get("/tv/")
    assert first.status_code == 302 and "t=" in first.headers["Location"]
    page = _text(client.get(first.headers["Location"]))
    assert "这台电视还没有配对" in page
    assert re.search(r'id="pair-code"[^>]*>\d{6}<', page)
    for path in ("/tv/ranking", "/tv/rewards", "/tv/notices", "/tv/call", "/tv/checkin"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/tv/")


def test_reloading_the_pairing_screen_keeps_the_same_code(client, world_ids):
    first = client.get("/tv/")
    a = re.search(r'id="pair-code"[^>]*>(\d{6})<', _text(client.get(first.headers["Location"]))).group(1)
    b = re.search(r'id="pair-code"[^>]*>(\d{6})<', _text(client.get("/tv/"))).group(1)
    assert a == b


def test_the_pairing_screen_gets_a_fresh_code_before_the_shown_one_expires(client, services, world_ids):
    first = client.get("/tv/")
    shown = re.search(r'id="pair-code"[^>]*>(\d{6})<', _text(client.get(first.headers["Location"]))).group(1)
    assert client.get("/tv/pair/status").get_json()["code"] == shown
    services.clock.advance(minutes=9, seconds=5)  # 55 s left: the polling screen must move on by itself
    status = client.get("/tv/pair/status").get_json()
    assert status["paired"] is False and status["code"] != shown and re.fullmatch(r"\d{6}", status["code"])
    assert "前有效" in status["valid_until"]
    assert client.get("/tv/pair/status").get_json()["code"] == status["code"]  # polling again keeps it


def test_paired_box_sees_its_household_home(tv_client, services, world_ids):
    with transaction(services.session_factory) as session:
        points_service.award_points(session, now=services.clock.now(), household_id=world_ids.households[0],
                                    delta=12, category="环境卫生", reason="门前干净")
    page = _text(tv_client.get("/tv/"))
    assert "椒香小院1号户" in page
    assert "积分 12 分" in page
    assert "本月本院第 1 名" in page
    # Two rows of five tile places: 一键呼叫 takes two, then 积分榜 … 帮我卖 (digits 2–7), 大字 and 语音导读.
    tiles = re.findall(r'class="tile( wide)?[ "][^>]*id="([a-z-]+)"', page)
    assert [name for _wide, name in tiles] == ["tile-call", "tile-ranking", "tile-rewards", "tile-notices",
                                               "tile-checkin", "tile-jobs", "tile-sell", "tile-size", "tile-voice"]
    assert sum(2 if wide else 1 for wide, _name in tiles) == 10
    assert re.findall(r'id="tile-[a-z]+"[^>]*data-key="(\d)"', page) == list("1234567")
    assert 'id="tile-call"' in page and "data-default-focus" in page.split('id="tile-call"')[1].split(">")[0]
    assert tv_client.get("/tv/pair/status").get_json()["paired"] is True


def test_cookieless_box_works_with_the_url_token(app, services, world_ids):
    client = app.test_client(use_cookies=False)
    first = client.get("/tv/")
    token = first.headers["Location"].split("t=", 1)[1]
    page = _text(client.get(f"/tv/?t={token}"))
    code = re.search(r'id="pair-code"[^>]*>(\d{6})<', page).group(1)
    from core.community.tvboxes import pair_box

    with transaction(services.session_factory) as session:
        pair_box(session, now=services.clock.now(), code=code, household_id=world_ids.households[1])
    home = _text(client.get(f"/tv/?t={token}"))
    assert "椒香小院2号户" in home
    assert f"/tv/ranking?t={token}" in home  # links carry the token
    assert client.get("/tv/ranking").status_code == 302  # without it: pairing screen


def test_box_of_household_a_cannot_see_or_act_for_b(app, services, world_ids):
    a = app.test_client()
    a_token = pair_client(a, services, world_ids.households[0])
    b = app.test_client()
    b_token = pair_client(b, services, world_ids.households[3])  # another village
    now = services.clock.now()
    with transaction(services.session_factory) as session:
        points_service.award_points(session, now=now, household_id=world_ids.households[3], delta=50,
                                    category="志愿服务", reason="帮忙")
        reward_b = reward_service.create_reward(session, now=now, village_id=world_ids.villages[1], name="大米",
                                                cost=10, stock=5)
        redemption_b = reward_service.redeem(session, now=now, household_id=world_ids.households[3],
                                             reward_id=reward_b.id)
        notice_b = notice_service.post_notice(session, now=now, title="通安村的通知", body="只给B村", category="notice",
                                              audience="village", town_id=world_ids.town,
                                              village_id=world_ids.villages[1])
        reward_id, redemption_id, notice_id = reward_b.id, redemption_b.id, notice_b.id
    call_b = b.post("/tv/call", data={"t": b_token})
    call_id = int(call_b.headers["Location"].rsplit("/", 1)[1])
    assert a.get(f"/tv/redemptions/{redemption_id}").status_code == 404
    assert a.get(f"/tv/redemptions/{redemption_id}/audio").status_code == 404
    assert a.get(f"/tv/rewards/{reward_id}").status_code == 404
    assert a.get(f"/tv/notices/{notice_id}").status_code == 404
    assert a.get(f"/tv/call/{call_id}").status_code == 404
    assert a.get(f"/tv/call/{call_id}/status").status_code == 404
    assert a.post(f"/tv/call/{call_id}/cancel", data={"t": a_token}).status_code == 404
    assert a.post(f"/tv/rewards/{reward_id}/redeem", data={"t": a_token}).status_code == 404
    assert "通安村的通知" not in _text(a.get("/tv/notices"))
    # B still sees its own things
    assert b.get(f"/tv/redemptions/{redemption_id}").status_code == 200
    assert "通安村的通知" in _text(b.get("/tv/notices"))


def test_posts_without_the_box_token_are_refused(tv_client):
    assert tv_client.post("/tv/call").status_code == 403
    assert tv_client.post("/tv/call", data={"t": "forged"}).status_code == 403
    assert tv_client.post("/tv/checkin", data={}).status_code == 403


def test_revoked_box_goes_back_to_pairing(tv_client, services):
    with transaction(services.session_factory) as session:
        box_id = session.query(TvBox.id).filter(TvBox.status == "paired").scalar()
        revoke_box(session, now=services.clock.now(), box_id=box_id)
    response = tv_client.get("/tv/ranking")
    assert response.status_code == 302
    first = tv_client.get("/tv/")
    assert first.status_code == 302  # a new token and a new pairing code
    assert "这台电视还没有配对" in _text(tv_client.get(first.headers["Location"]))


def test_redeem_flow_and_double_press(tv_client, services, world_ids):
    now = services.clock.now()
    with transaction(services.session_factory) as session:
        points_service.award_points(session, now=now, household_id=world_ids.households[0], delta=95,
                                    category="环境卫生", reason="检查优秀")
        oil = reward_service.create_reward(session, now=now, village_id=world_ids.villages[0], name="5升菜籽油",
                                           cost=85, stock=3)
        oil_id = oil.id
    confirm = _text(tv_client.get(f"/tv/rewards/{oil_id}"))
    assert "兑换后剩余 10 分" in confirm
    assert 'id="cancel" href="/tv/rewards?f=reward-' in confirm
    assert "data-default-focus" in confirm.split('id="cancel"')[1]
    key = re.search(r'name="k" value="([0-9a-f]+)"', confirm).group(1)
    token = tv_client.tv_token
    first = tv_client.post(f"/tv/rewards/{oil_id}/redeem", data={"t": token, "k": key})
    second = tv_client.post(f"/tv/rewards/{oil_id}/redeem", data={"t": token, "k": key})
    assert first.headers["Location"] == second.headers["Location"]
    page = _text(tv_client.get(first.headers["Location"]))
    code = re.search(r'id="pickup-code">(\d{4})<', page).group(1)
    assert "椒香小院" in page or "积分超市" in page
    with transaction(services.session_factory) as session:
        assert points_service.balance(session, world_ids.households[0]) == 10
        redemption = reward_service.find_open_by_code(session, village_id=world_ids.villages[0], code=code)
        assert redemption.household_id == world_ids.households[0]


class SpokenTexts:
    """A TTS stand-in that remembers what it was asked to say and writes a tiny WAV."""

    available = True

    def __init__(self, folder) -> None:
        self.folder = folder
        self.said: list[str] = []

    def synthesize(self, text: str):
        import wave

        self.said.append(text)
        path = self.folder / f"{len(self.said)}.wav"
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(8000)
            wav.writeframes(b"\0\0" * 800)
        return path


def _play(client, url: str) -> None:
    with client.get(url) as response:
        assert response.status_code == 200 and response.mimetype == "audio/wav"


def test_replaying_a_collected_pickup_code_says_it_was_collected(tv_client, services, world_ids, tmp_path):
    now = services.clock.now()
    with transaction(services.session_factory) as session:
        points_service.award_points(session, now=now, household_id=world_ids.households[0], delta=95,
                                    category="环境卫生", reason="检查优秀")
        oil = reward_service.create_reward(session, now=now, village_id=world_ids.villages[0], name="5升菜籽油",
                                           cost=85, stock=3)
        redemption = reward_service.redeem(session, now=now, household_id=world_ids.households[0],
                                           reward_id=oil.id)
        redemption_id, code = redemption.id, redemption.code
    services.tts = SpokenTexts(tmp_path)
    _play(tv_client, f"/tv/redemptions/{redemption_id}/audio")
    assert ", ".join(code) in services.tts.said[-1].replace("，", ", ")  # open: the code, digit by digit
    with transaction(services.session_factory) as session:
        reward_service.collect(session, now=now, redemption=reward_service.find_open_by_code(
            session, village_id=world_ids.villages[0], code=code))
    page = _text(tv_client.get(f"/tv/redemptions/{redemption_id}"))
    assert "5升菜籽油 已经领取了" in page and "autoplay" not in page
    _play(tv_client, f"/tv/redemptions/{redemption_id}/audio")
    assert "已经领取" in services.tts.said[-1] and code not in services.tts.said[-1].replace("，", "")


def test_help_call_from_tv_says_it_is_a_demo(tv_client, services):
    response = tv_client.post("/tv/call", data={"t": tv_client.tv_token})
    page = _text(tv_client.get(response.headers["Location"]))
    assert "演示模式：没有真的拨打电话" in page
    assert "王小明" in page
    status = tv_client.get(response.headers["Location"] + "/status").get_json()
    assert status["status"] == "calling" and status["dryrun"] is True
    assert status["current"] == "正在呼叫 王小明（儿子）"
    assert status["dryrun_note"] == "演示模式：没有真的拨打电话"
    again = tv_client.post("/tv/call", data={"t": tv_client.tv_token})
    assert again.headers["Location"] == response.headers["Location"]  # pressing again joins
    assert tv_client.get("/tv/call").headers["Location"] == response.headers["Location"]


def test_checkin_and_text_size(tv_client, services, world_ids):
    done = _text(tv_client.post("/tv/checkin", data={"t": tv_client.tv_token}))
    assert "已报平安" in done
    assert "今天已报平安" in _text(tv_client.get("/tv/"))
    tv_client.post("/tv/textsize", data={"t": tv_client.tv_token, "size": "large"})
    assert '<body class="large"' in _text(tv_client.get("/tv/"))


def test_notice_list_detail_and_unread(tv_client, services, world_ids):
    now = services.clock.now()
    with transaction(services.session_factory) as session:
        meeting = notice_service.post_notice(
            session, now=now, title="本周六上午9点在椒香小院开云坝会", body="请各户派一人参加。", category="meeting",
            audience="courtyard", town_id=world_ids.town, village_id=world_ids.villages[0],
            courtyard_id=world_ids.courtyards[0], event_at=now + __import__("datetime").timedelta(hours=2),
        )
        meeting_id = meeting.id
    home = _text(tv_client.get("/tv/"))
    assert "1 条新通知" in home and "今天开会" in home
    detail = _text(tv_client.get(f"/tv/notices/{meeting_id}"))
    assert "请各户派一人参加" in detail and "读给我听" in detail
    assert "没有新通知" in _text(tv_client.get("/tv/"))
    # no TTS configured in this app: an honest 503 page, not a crash
    audio = tv_client.get(f"/tv/notices/{meeting_id}/audio")
    assert audio.status_code == 503 and "语音暂时不能播放" in _text(audio)


def test_a_token_in_the_url_wins_over_an_old_cookie(app, services, world_ids):
    """An installer's browser paired before still opens the box named in the link, not the old one."""
    old = app.test_client()
    pair_client(old, services, world_ids.households[0])
    other = app.test_client()
    other_token = pair_client(other, services, world_ids.households[1])
    page = _text(old.get(f"/tv/?t={other_token}"))
    assert "椒香小院2号户" in page and "椒香小院1号户" not in page


def test_a_fourth_help_call_from_one_box_in_ten_minutes_tells_staff_instead(tv_client, services):
    """Issue 10 §6: at most 3 starts per box in 10 minutes; then the TV says a person has been told."""
    for _ in range(3):
        response = tv_client.post("/tv/call", data={"t": tv_client.tv_token})
        tv_client.post(response.headers["Location"] + "/cancel", data={"t": tv_client.tv_token})
        services.clock.advance(seconds=60)
    response = tv_client.post("/tv/call", data={"t": tv_client.tv_token})
    status = tv_client.get(response.headers["Location"] + "/status").get_json()
    assert status["status"] == "told" and not status["active"]
    assert status["current"] == "已经告诉院长和村上值班的人，会有人尽快联系您"


def _walk_the_chain(services, until: str = "failed") -> None:
    """Nobody answers: legs time out one by one (dry-run telephony, fake clock) until the call is `until`."""
    from core.models.helpcalls import HelpCall
    from core.phone.dialler import sweep_help_calls

    for _ in range(40):
        with services.session_factory() as session:
            call = session.scalar(sa.select(HelpCall).order_by(HelpCall.id.desc()))
            if call.status == until and (until != "calling" or call.round > 1):
                return
        services.clock.advance(seconds=40)
        sweep_help_calls(services)
    raise AssertionError(f"the help call never reached {until}")


def test_help_call_screen_says_who_rings_that_the_call_goes_on_and_how_it_ended(tv_client, services):
    started = tv_client.post("/tv/call", data={"t": tv_client.tv_token})
    page = _text(tv_client.get(started.headers["Location"]))
    assert "正在呼叫 王小明（儿子）" in page and "已通知院长" not in page
    assert "按返回键回到首页，呼叫不会停止。" in page
    assert 'class="btn gone" id="call-again"' in page
    home = _text(tv_client.get("/tv/?f=tile-call"))  # Back during the call
    assert "一键呼叫还在继续：正在呼叫 王小明（儿子）" in home
    _walk_the_chain(services, until="calling")  # round 2: the son's phone rings again
    status = tv_client.get(started.headers["Location"] + "/status").get_json()
    assert status["current"] == "再打一次给 王小明（儿子）"
    assert status["steps"][-2] == "这一轮没有人接听，已发消息给 王小明、李院长、赵医生，稍后再打一次"
    _walk_the_chain(services)
    status = tv_client.get(started.headers["Location"] + "/status").get_json()
    assert status["ended"] is True and status["active"] is False and status["cancellable"] is False
    assert status["current"] == "没有联系上，已发消息给 王小明、李院长、赵医生"
    page = _text(tv_client.get(started.headers["Location"]))
    assert "呼叫已结束" in page and "按返回键回到首页" not in page
    again = page.split('id="call-again"')[1].split(">")[0]
    assert "gone" not in page.split('id="call-again"')[0].rsplit("<a", 1)[1] and "data-default-focus" in again
    assert "一键呼叫还在继续" not in _text(tv_client.get("/tv/"))
    assert tv_client.get("/tv/call").status_code == 200  # 再呼叫一次 opens a new countdown


def test_without_family_the_help_call_never_claims_family_was_told(app, services, world_ids):
    from core.phone.telephony.factory import make_telephony

    services.telephony = make_telephony(services.settings, services.session_factory, services.clock)
    client = app.test_client()
    client.tv_token = pair_client(client, services, world_ids.households[1])  # chain: the 院长 only
    started = client.post("/tv/call", data={"t": client.tv_token})
    status = client.get(started.headers["Location"] + "/status").get_json()
    assert status["current"] == "正在呼叫 李院长" and not any("已通知" in step for step in status["steps"])
    _walk_the_chain(services)
    status = client.get(started.headers["Location"] + "/status").get_json()
    assert status["told"] == ["李院长"]
    assert status["current"] == "没有联系上，已发消息给 李院长"
    assert not any("家人" in step for step in status["steps"])


def test_a_cached_home_never_hides_a_write_made_here_and_others_show_within_the_cache_time(
        tv_client, services, world_ids, engine):
    from core.db import make_session_factory

    home = _text(tv_client.get("/tv/"))
    assert "积分 0 分" in home
    assert _text(tv_client.get("/tv/?f=tile-ranking")) == home  # served again from the cache
    with transaction(services.session_factory) as session:  # staff award points in this process
        points_service.award_points(session, now=services.clock.now(), household_id=world_ids.households[0],
                                    delta=95, category="环境卫生", reason="检查优秀")
        oil = reward_service.create_reward(session, now=services.clock.now(), village_id=world_ids.villages[0],
                                           name="5升菜籽油", cost=85, stock=3)
        oil_id = oil.id
    assert "积分 95 分" in _text(tv_client.get("/tv/"))
    confirm = _text(tv_client.get(f"/tv/rewards/{oil_id}"))
    key = re.search(r'name="k" value="([0-9a-f]+)"', confirm).group(1)
    tv_client.post(f"/tv/rewards/{oil_id}/redeem", data={"t": tv_client.tv_token, "k": key})
    assert "积分 10 分" in _text(tv_client.get("/tv/"))  # the box's own redemption shows at once
    other_process = make_session_factory(engine)  # e.g. the console in another gunicorn worker
    with transaction(other_process) as session:
        points_service.award_points(session, now=services.clock.now(), household_id=world_ids.households[0],
                                    delta=5, category="环境卫生", reason="门前干净")
    assert "积分 10 分" in _text(tv_client.get("/tv/"))  # not seen here yet ...
    services.clock.advance(seconds=6)
    assert "积分 15 分" in _text(tv_client.get("/tv/"))  # ... but after [tv] home_cache_seconds


def test_writes_the_home_does_not_show_leave_the_cached_homes_alone(tv_client, services, world_ids):
    """Band telemetry, the outbox, audit and the worker's lease write all the time: they must not empty the cache."""
    from core.people.audit import record_audit
    from tvportal.homecache import cache_for

    tv_client.get("/tv/")
    cache = cache_for(services.session_factory, 5, lambda: 0.0)
    before = cache.generation
    with transaction(services.session_factory) as session:
        record_audit(session, at=services.clock.now(), actor="system", action="test.noise", entity_type="x",
                     entity_id=None)
    assert cache.generation == before
    with transaction(services.session_factory) as session:
        points_service.award_points(session, now=services.clock.now(), household_id=world_ids.households[1],
                                    delta=5, category="环境卫生", reason="门前干净")
    assert cache.generation == before + 1
