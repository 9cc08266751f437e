"""Console pages of the TV area through the Flask client: scoped to the staff member's place."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from core.community import points as pts
from core.community import rewards as rw
from core.db import transaction
from core.models.notices import Notice
from core.models.tvbox import TvBox
from tests.integration.console.conftest import csrf_token, login_as


@pytest.fixture
def staff_app(app):
    """The app with the console's login, Babel and CSRF set up (as the console tests do)."""
    if not app.secret_key:
        app.secret_key = "test-secret"
    if "babel" not in app.extensions:
        import flask_babel

        flask_babel.Babel(app, default_locale="zh")
    if "csrf" not in app.extensions:
        from console.setup import init_console

        init_console(app)
    return app


def _post(client, path, data):
    payload = dict(data)
    payload["csrf_token"] = csrf_token(client, path if not path.endswith("/batch") else "/console/tv/points")
    return client.post(path, data=payload, follow_redirects=True)


def test_every_tv_console_page_opens_for_a_head(staff_app, world_ids):
    web = staff_app.test_client()
    login_as(web, SimpleNamespace(id=world_ids.users["head_a"]))
    for path in ("/console/tv/points", f"/console/tv/points/batch/{world_ids.courtyards[0]}",
                 f"/console/tv/points/household/{world_ids.households[0]}", "/console/tv/rewards",
                 "/console/tv/redemptions", "/console/tv/notices", "/console/tv/boxes", "/console/tv/checkins"):
        assert web.get(path).status_code == 200, path
    # another 小院's household and batch form stay hidden
    assert web.get(f"/console/tv/points/household/{world_ids.households[3]}").status_code == 404
    assert web.get(f"/console/tv/points/batch/{world_ids.courtyards[1]}").status_code == 404


def test_head_pairs_a_box_awards_a_batch_collects_and_posts(staff_app, services, world_ids):
    tv = staff_app.test_client()
    first = tv.get("/tv/")
    code = re.search(r'id="pair-code"[^>]*>(\d{6})<', tv.get(first.headers["Location"]).get_data(as_text=True))[1]
    web = staff_app.test_client()
    login_as(web, SimpleNamespace(id=world_ids.users["head_a"]))
    wrong = _post(web, "/console/tv/boxes", {"action": "pair", "code": "999999" if code != "999999" else "111111",
                                             "household_id": world_ids.households[0]})
    assert "配对码不对或已过期" in wrong.get_data(as_text=True)
    ok = _post(web, "/console/tv/boxes", {"action": "pair", "code": code, "household_id": world_ids.households[0]})
    assert "配对成功" in ok.get_data(as_text=True)
    assert "椒香小院1号户" in tv.get("/tv/").get_data(as_text=True)

    h = world_ids.households
    batch = {"category": "环境卫生", "reason": "检查合格", f"delta_{h[0]}": "5", f"delta_{h[1]}": "95",
             f"delta_{h[2]}": "-5", f"reason_{h[2]}": "垃圾乱倒"}
    done = _post(web, f"/console/tv/points/batch/{world_ids.courtyards[0]}", batch)
    assert "已为 3 户记分" in done.get_data(as_text=True)
    with transaction(services.session_factory) as session:
        assert [pts.balance(session, x) for x in h[:3]] == [5, 95, -5]
        reward = rw.create_reward(session, now=services.clock.now(), village_id=world_ids.villages[0], name="菜籽油",
                                 cost=85, stock=1)
        redemption = rw.redeem(session, now=services.clock.now(), household_id=h[1], reward_id=reward.id)
        pickup = redemption.code
    collected = _post(web, "/console/tv/redemptions", {"action": "collect", "code": pickup})
    assert "已领取：菜籽油" in collected.get_data(as_text=True)

    posted = _post(web, "/console/tv/notices", {"title": "周六开云坝会", "body": "九点", "category": "meeting",
                                                "audience": "courtyard", "courtyard_id": world_ids.courtyards[0]})
    assert "通知已发布" in posted.get_data(as_text=True)
    refused = _post(web, "/console/tv/notices", {"title": "全镇", "category": "notice", "audience": "town"})
    assert "只有镇里可以发全镇通知" in refused.get_data(as_text=True)
    with transaction(services.session_factory) as session:
        assert session.scalar(sa.select(sa.func.count(Notice.id))) == 1
        box_id = session.scalar(sa.select(TvBox.id).where(TvBox.status == "paired"))
    _post(web, "/console/tv/boxes", {"action": "revoke", "box_id": box_id})
    assert tv.get("/tv/ranking").status_code == 302  # unbound: pairing screen again


def test_head_of_another_courtyard_cannot_collect_or_unbind(staff_app, services, world_ids):
    with transaction(services.session_factory) as session:
        pts.award_points(session, now=services.clock.now(), household_id=world_ids.households[0], delta=50,
                       category="环境卫生", reason="好")
        reward = rw.create_reward(session, now=services.clock.now(), village_id=world_ids.villages[0], name="香皂",
                                 cost=5, stock=3)
        code = rw.redeem(session, now=services.clock.now(), household_id=world_ids.households[0],
                        reward_id=reward.id).code
    web = staff_app.test_client()
    login_as(web, SimpleNamespace(id=world_ids.users["head_b"]))
    response = _post(web, "/console/tv/redemptions", {"action": "collect", "code": code})
    assert "没有这个取货码的待取兑换" in response.get_data(as_text=True)
    assert code not in web.get("/console/tv/redemptions").get_data(as_text=True)
