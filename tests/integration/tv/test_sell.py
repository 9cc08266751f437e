"""帮我卖 on the TV: home tile 7 → pick an item → confirm (focus on 取消) → the phone line's own `sell` request for
the 院长, once per press and once per item while it is open; the result page reads aloud; scoped to the box."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.community import market
from core.community.spoken import chinese_number
from core.db import transaction
from core.models.audit import AuditEntry
from core.models.outbox import OutboxMessage
from core.models.requests import Request
from core.models.staff import User
from core.requests import workorders
from tests.integration.tv.conftest import pair_client
from tests.integration.tv.test_tv_pages import SpokenTexts

ITEMS = ("花椒", "鸡蛋", "土鸡", "蔬菜", "其他")


def _text(response) -> str:
    return response.get_data(as_text=True)


def _key(page: str) -> str:
    return re.search(r'name="k" value="([0-9a-f]+)"', page).group(1)


def _ask(client, choice: int) -> str:
    """Open the confirm screen of item `choice` and press 确认; the result page's address."""
    key = _key(_text(client.get(f"/tv/sell/{choice}")))
    response = client.post(f"/tv/sell/{choice}", data={"t": client.tv_token, "k": key})
    assert response.status_code == 302, _text(response)
    return response.headers["Location"]


def _press(client, choice: int, key: str = "0123456789abcdef") -> str:
    """确认 on a confirm screen of item `choice` opened earlier (its own nonce); the result page's address."""
    response = client.post(f"/tv/sell/{choice}", data={"t": client.tv_token, "k": key})
    assert response.status_code == 302, _text(response)
    return response.headers["Location"]


def _requests(services) -> list[Request]:
    with services.session_factory() as session:
        return list(session.scalars(sa.select(Request).where(Request.type == "sell").order_by(Request.id)))


def _told(services, user_id: int) -> list[OutboxMessage]:
    with services.session_factory() as session:
        return list(session.scalars(sa.select(OutboxMessage).where(OutboxMessage.recipient_user_id == user_id,
                                                                   OutboxMessage.template == "request.assigned")))


def test_home_tile_7_picks_confirms_and_makes_the_sell_request_the_head_is_told_of(tv_client, services, world_ids,
                                                                                    tmp_path):
    home = _text(tv_client.get("/tv/"))
    tile = re.search(r'<a class="tile f" id="tile-sell" href="/tv/sell" data-key="7">(.*?)</a>', home).group(1)
    assert "帮我卖" in tile and "院长帮您卖" in tile
    choose = _text(tv_client.get("/tv/sell"))
    for n, item in enumerate(ITEMS, start=1):
        assert re.search(rf'id="sell-{n}" href="/tv/sell/{n}" data-key="{n}"[^>]*>'
                         rf'<span class="key">{n}</span><span class="label">{item}</span>', choose), item
    assert 'data-back="/tv/?f=tile-sell"' in choose
    confirm = _text(tv_client.get("/tv/sell/1"))
    assert "帮我卖：花椒" in confirm and "院长会打电话问您卖多少、什么价" in confirm
    assert re.search(r'id="cancel" href="/tv/sell\?f=sell-1" data-default-focus>取消<', confirm)
    assert 'id="confirm"' in confirm and "data-default-focus" not in confirm.split('id="confirm"')[1]

    done = _ask(tv_client, 1)
    [req] = _requests(services)
    assert done == f"/tv/sell/requests/{req.id}"
    # The phone line's kind of request: type sell, for this household's 院长, what to sell in details["goods"].
    assert (req.channel, req.household_id, req.status) == ("tv", world_ids.households[0], "assigned")
    assert req.assignee_id == world_ids.users["head_a"] and req.resident_id == world_ids.residents[0]
    assert req.text.startswith("帮我卖：花椒") and req.details["goods"] == "花椒"
    assert market.sell_request_defaults(req.details, req.text)["item"] == "花椒"  # the listing form is prefilled
    [message] = _told(services, world_ids.users["head_a"])
    assert f"新工单 #{req.id}（帮我卖）：帮我卖：花椒" in message.text
    with services.session_factory() as session:
        audit = session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "market.ask"))
        assert audit.entity_id == req.id and audit.actor_label == f"household:{world_ids.households[0]}"

    page = _text(tv_client.get(done))
    assert "已经记下了：要卖花椒" in page and f'id="request-number">{req.id}<' in page
    assert "李院长 会打电话问您卖多少、什么价。" in page
    assert re.search(r'id="read-aloud" href="([^"]+)" data-audio="\1" data-default-focus', page)
    services.tts = SpokenTexts(tmp_path)
    with tv_client.get(f"{done}/audio") as audio:
        assert audio.status_code == 200 and audio.mimetype == "audio/wav"
    assert services.tts.said == [f"要卖花椒，已经告诉李院长了。工单号是{chinese_number(req.id)}。"
                                 "李院长会打电话问您卖多少、什么价。"]
    assert "院长在办 1 件" in _text(tv_client.get("/tv/"))  # the cached home shows the new request at once
    assert 'class="tile choice f done" id="sell-1"' in _text(tv_client.get("/tv/sell"))

    with transaction(services.session_factory) as session:  # the 院长 lists it as from a phone request
        head = session.get_one(User, world_ids.users["head_a"])
        market.list_from_request(session, now=services.clock.now(), actor=head, request_id=req.id,
                                 fields=market.ListingFields(item="花椒", quantity=Decimal(20), unit="斤",
                                                             price=Decimal(30)))
    assert _requests(services)[0].status == "in_progress"


def test_a_double_press_makes_one_request(tv_client, services, world_ids):
    key = _key(_text(tv_client.get("/tv/sell/2")))
    first = tv_client.post("/tv/sell/2", data={"t": tv_client.tv_token, "k": key})
    second = tv_client.post("/tv/sell/2", data={"t": tv_client.tv_token, "k": key})
    assert first.headers["Location"] == second.headers["Location"]  # the same result page, not "already"
    assert "already" not in second.headers["Location"]
    assert len(_requests(services)) == 1
    assert len(_told(services, world_ids.users["head_a"])) == 1


def test_an_item_already_with_the_head_is_not_asked_again(tv_client, services, world_ids):
    first = _ask(tv_client, 1)
    confirm = _text(tv_client.get("/tv/sell/1"))
    [req] = _requests(services)
    assert f"花椒已经托给院长了（工单号 {req.id}），院长会打电话给您。" in confirm and 'id="confirm"' not in confirm
    again = _press(tv_client, 1)  # a confirm screen opened before the first press
    assert again == f"{first}?already=1"
    page = _text(tv_client.get(again))
    assert "花椒已经托给李院长了" in page and "李院长 会打电话给您，不用再按了。" in page
    assert len(_requests(services)) == 1 and len(_told(services, world_ids.users["head_a"])) == 1

    # Another item is a new request; an item asked for on the phone counts too.
    assert _ask(tv_client, 3) != first
    with transaction(services.session_factory) as session:
        phone = workorders.submit_request(
            session, now=services.clock.now(), due_hours=services.settings.requests.due_hours,
            resident_id=world_ids.residents[0], type="sell", channel="phone", text="帮我卖：三十个鸡蛋",
            details={"intent": "sell", "goods": "鸡蛋", "quantity": "三十个"})
        phone_id = phone.id
    assert "鸡蛋已经托给院长了" in _text(tv_client.get("/tv/sell/2"))
    assert _press(tv_client, 2) == f"/tv/sell/requests/{phone_id}?already=1"
    assert len(_requests(services)) == 3

    # Once the 院长 has dealt with it, the same item may be asked for again.
    with transaction(services.session_factory) as session:
        head = session.get_one(User, world_ids.users["head_a"])
        workorders.resolve_request(session, now=services.clock.now(), actor=head, request_id=req.id, note="卖掉了")
    assert _ask(tv_client, 1) not in (first, f"{first}?already=1")
    assert len(_requests(services)) == 4


def test_a_box_asks_only_for_its_own_household_and_sees_only_its_requests(app, services, world_ids):
    a = app.test_client()
    a.tv_token = pair_client(a, services, world_ids.households[0])
    b = app.test_client()
    b.tv_token = pair_client(b, services, world_ids.households[3])  # another village, 张院长's 小院
    done_b = _ask(b, 1)
    [req] = _requests(services)
    assert req.household_id == world_ids.households[3] and req.assignee_id == world_ids.users["head_b"]
    assert a.get(done_b).status_code == 404
    assert a.get(f"{done_b}/audio").status_code == 404
    assert b.get(done_b).status_code == 200
    assert "院长帮您卖" in _text(a.get("/tv/"))  # A's home does not count B's request
    assert _ask(a, 1) != done_b  # the same item for another household is its own request
    assert a.post("/tv/sell/1", data={"k": "x"}).status_code == 403  # no box token in the form: refused
    assert a.get("/tv/sell/6").status_code == 404 and a.post("/tv/sell/0", data={"t": a.tv_token}).status_code == 404
    with transaction(services.session_factory) as session:  # a request that is not 帮我卖 is not shown here
        other = workorders.submit_request(
            session, now=services.clock.now(), due_hours=services.settings.requests.due_hours,
            resident_id=world_ids.residents[0], type="repair", channel="phone", text="修水管")
        other_id = other.id
    assert a.get(f"/tv/sell/requests/{other_id}").status_code == 404
    unpaired = app.test_client()
    assert unpaired.get("/tv/sell").status_code == 302 and unpaired.get(done_b).status_code == 302
    assert len(_requests(services)) == 2


def test_asking_is_rate_limited_per_household_and_repeats_do_not_count(tv_client, services, world_ids):
    market_settings = services.settings.market.model_copy(update={"tv_asks_per_household": "2 per day"})
    services.settings = services.settings.model_copy(update={"market": market_settings})
    _ask(tv_client, 1)
    _press(tv_client, 1)  # already with the 院长: not counted
    _ask(tv_client, 2)
    key = _key(_text(tv_client.get("/tv/sell/3")))
    refused = tv_client.post("/tv/sell/3", data={"t": tv_client.tv_token, "k": key})
    assert refused.status_code == 429
    assert "今天托院长卖的东西太多了，请直接给院长打电话" in _text(refused)
    assert len(_requests(services)) == 2
    services.clock.advance(hours=25)
    _ask(tv_client, 3)
    assert len(_requests(services)) == 3


def test_the_cached_home_counts_new_jobs_and_requests_at_once(tv_client, services, world_ids):
    import datetime as dt

    from core.clock import to_local
    from core.community import dayjobs

    home = _text(tv_client.get("/tv/"))
    no_jobs = '<span class="label">找活干</span></a>'  # no open job: no sub-label
    assert 'id="tile-jobs" href="/tv/jobs" data-key="6"><span class="key">6</span>' + no_jobs in home
    assert _text(tv_client.get("/tv/?f=tile-call")) == home  # served from the cache
    with transaction(services.session_factory) as session:  # a cadre posts a job in this process
        cadre = session.get_one(User, world_ids.users["village_a"])
        job = dayjobs.post_job(session, now=services.clock.now(), actor=cadre, village_id=world_ids.villages[0],
                               fields=dayjobs.JobFields(title="摘花椒", pay="100元/天", place="大坡",
                                                        work_date=to_local(services.clock.now()).date()
                                                        + dt.timedelta(days=1), workers=3))
        job_id = job.id
    assert "1 个活在招人" in _text(tv_client.get("/tv/"))
    with transaction(services.session_factory) as session:
        dayjobs.close_job(session, now=services.clock.now(), actor=session.get_one(User, world_ids.users["village_a"]),
                          job_id=job_id)
    assert "个活在招人" not in _text(tv_client.get("/tv/"))
    with transaction(services.session_factory) as session:  # a 帮我卖 asked on the phone
        workorders.submit_request(session, now=services.clock.now(), due_hours=services.settings.requests.due_hours,
                                  resident_id=world_ids.residents[0], type="sell", channel="phone", text="帮我卖：花椒",
                                  details={"goods": "花椒"})
    assert "院长在办 1 件" in _text(tv_client.get("/tv/"))


@pytest.mark.parametrize("items", [[], ["花椒", ""], ["花椒", "花椒"], [str(n) for n in range(10)],
                                   ["红薯粉条", "土鸡蛋和鸭蛋"]])
def test_the_item_list_must_fit_the_digit_keys(items):
    from core.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="tv_items"):
        load_settings(environ={}, overrides={"market": {"tv_items": items}})


def test_presses_at_the_same_moment_make_one_request(session_factory, clock, world_ids):
    """Four presses released together (one screen's double press, and stale screens for the same item): one request."""
    import threading

    barrier = threading.Barrier(4)
    results: list[object] = []
    lock = threading.Lock()

    def press(key: str) -> None:
        barrier.wait()
        asked = market.ask_to_sell(session_factory, now=clock.now(), household_id=world_ids.households[0],
                                   item="土鸡", due_hours={"sell": 48.0}, request_key=key)
        with lock:
            results.append(asked.request_id)

    threads = [threading.Thread(target=press, args=(key,)) for key in ("aa", "aa", "bb", "cc")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    with session_factory() as session:
        ids = list(session.scalars(sa.select(Request.id).where(Request.type == "sell")))
    assert len(ids) == 1 and results == ids * 4


def test_the_voice_guide_speaks_the_new_tiles_choices_and_screens(tv_client, services, world_ids):
    tv_client.post("/tv/voice", data={"t": tv_client.tv_token, "on": "1"})
    choose = _text(tv_client.get("/tv/sell"))
    assert 'id="sell-1" href="/tv/sell/1" data-key="1" data-default-focus data-say="花椒|按 1"' in choose
    confirm = _text(tv_client.get("/tv/sell/1"))
    assert 'data-say="帮我卖：花椒|院长会打电话问您卖多少、什么价|取消"' in confirm  # the question, then the key
    done = _text(tv_client.get(_ask(tv_client, 1)))
    assert 'data-say="已经记下了：要卖花椒|读给我听"' in done
    assert 'data-say="花椒|院长在办|按 1"' in _text(tv_client.get("/tv/sell"))
    home = _text(tv_client.get("/tv/"))  # the tiles are said from what they show (label and sub-label)
    assert re.search(r'id="tile-sell"[^>]*><span class="key">7</span><span class="label">帮我卖</span>'
                     r'<span class="sub">院长在办 1 件</span>', home)
