"""Console forms keep what was typed on every refusal and show the error at the field it is about."""

from __future__ import annotations

import re

import sqlalchemy as sa

from core.db import transaction
from core.models.notices import Notice
from core.models.points import PointEntry
from tests.integration.console.conftest import login_as, post_form


def _value(page: str, name: str) -> str | None:
    """The value attribute of the input named `name` on a page."""
    match = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*value="([^"]*)"', page)
    return match.group(1) if match else None


def _selected(page: str, name: str) -> str | None:
    """The selected option's value of the select named `name`."""
    select = re.search(rf'<select[^>]*name="{re.escape(name)}"[^>]*>(.*?)</select>', page, re.S)
    assert select, name
    match = re.search(r'<option value="([^"]*)" selected', select.group(1))
    return match.group(1) if match else None


def _count(services, model) -> int:
    with services.session_factory() as s:
        return s.scalar(sa.select(sa.func.count(model.id))) or 0


def test_points_form_keeps_the_household_score_and_reason_and_marks_the_field(web, world, services):
    login_as(web, world.users["head_a"])
    household = world.households[2].id
    refused = post_form(web, "/console/tv/points", {"household_id": household, "category": "孝老爱亲",
                                                    "delta": "5000", "reason": "照顾邻居老人"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert _selected(page, "household_id") == str(household) and _selected(page, "category") == "孝老爱亲"
    assert _value(page, "delta") == "5000" and _value(page, "reason") == "照顾邻居老人"
    assert re.search(r'name="delta"[^>]*aria-invalid="true" aria-describedby="delta-error"', page)
    assert 'id="delta-error">一次最多' in page
    assert _count(services, PointEntry) == 0


def test_batch_award_keeps_every_value_and_names_the_failing_household(web, world, services):
    login_as(web, world.users["head_a"])
    h = world.households
    courtyard = world.courtyards[0].id
    refused = post_form(web, f"/console/tv/points/batch/{courtyard}", {
        "category": "环境卫生", "reason": "", f"delta_{h[0].id}": "5", f"reason_{h[0].id}": "门前干净",
        f"delta_{h[1].id}": "3", f"reason_{h[1].id}": ""})  # the second line has no reason and there is no default
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert f"{h[1].name}：请写明原因" in page  # the flash names the household
    assert _value(page, f"delta_{h[0].id}") == "5" and _value(page, f"reason_{h[0].id}") == "门前干净"
    assert _value(page, f"delta_{h[1].id}") == "3" and _selected(page, "category") == "环境卫生"
    assert f'id="reason_{h[1].id}-error"' in page and f'<tr id="line-{h[1].id}" class="refused">' in page
    assert _count(services, PointEntry) == 0  # all or nothing


def test_batch_award_in_english_names_the_household_in_english_words(web, world):
    login_as(web, world.users["head_a"])
    h = world.households
    page = post_form(web, f"/console/tv/points/batch/{world.courtyards[0].id}?lang=en", {
        "category": "环境卫生", f"delta_{h[1].id}": "0.5"}).get_data(as_text=True)
    assert f"{h[1].name}: Points must be a whole number" in page and f'id="delta_{h[1].id}-error"' in page


def test_wrong_pairing_code_keeps_the_chosen_household(web, world):
    login_as(web, world.users["head_a"])
    household = world.households[2].id
    refused = post_form(web, "/console/tv/boxes", {"action": "pair", "code": "123456", "household_id": household})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 404
    assert _selected(page, "household_id") == str(household) and _value(page, "code") == "123456"
    assert 'id="code-error">配对码不对或已过期' in page


def test_notice_form_defaults_to_the_authors_own_scope(web, world):
    for user, audience, offered in (("head_a", "courtyard", ["courtyard"]),
                                    ("village_a", "village", ["village", "courtyard"]),
                                    ("town", "town", ["town", "village", "courtyard"])):
        login_as(web, world.users[user])
        page = web.get("/console/tv/notices").get_data(as_text=True)
        assert _selected(page, "audience") == audience, user
        select = re.search(r'<select[^>]*name="audience"[^>]*>(.*?)</select>', page, re.S).group(1)
        assert re.findall(r'<option value="(\w+)"', select) == offered, user


def test_a_head_posts_a_notice_to_their_courtyard_with_the_default_choices(web, world, services):
    login_as(web, world.users["head_a"])
    response = post_form(web, "/console/tv/notices", {"title": "周六院坝会", "body": "九点", "category": "meeting"})
    assert response.status_code == 302
    with services.session_factory() as s:
        notice = s.scalar(sa.select(Notice))
    assert (notice.audience, notice.courtyard_id) == ("courtyard", world.courtyards[0].id)


def test_notice_form_keeps_what_was_typed_when_refused(web, world, services):
    login_as(web, world.users["village_a"])
    typed = {"title": "冬季用火安全", "body": "出门前关好炉火", "category": "notice", "audience": "village",
             "courtyard_id": world.courtyards[0].id, "publish_from": "2026-11-27T08:00",
             "publish_until": "2026-11-26T08:00", "pinned": "1"}
    refused = post_form(web, "/console/tv/notices", typed)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert _value(page, "title") == "冬季用火安全" and "出门前关好炉火</textarea>" in page
    assert _value(page, "publish_from") == "2026-11-27T08:00" and _value(page, "publish_until") == "2026-11-26T08:00"
    assert _selected(page, "audience") == "village" and re.search(r'name="pinned" value="1" checked', page)
    assert 'id="publish_until-error">结束时间要晚于开始时间' in page
    with transaction(services.session_factory) as s:
        assert s.scalar(sa.select(sa.func.count(Notice.id))) == 0


def test_new_reward_form_keeps_what_was_typed_and_marks_the_cost(web, world, services):
    from core.models.rewards import Reward

    login_as(web, world.users["head_a"])
    refused = post_form(web, "/console/tv/rewards", {"action": "create", "courtyard_id": world.courtyards[0].id,
                                                     "village_id": world.villages[0].id, "name": "5升菜籽油",
                                                     "cost": "0", "stock": "10", "pickup_place": "村委会"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert _value(page, "name") == "5升菜籽油" and _value(page, "stock") == "10" and _value(page, "cost") == "0"
    assert _value(page, "pickup_place") == "村委会" and _selected(page, "courtyard_id") == str(world.courtyards[0].id)
    assert 'id="cost-error">所需积分必须大于 0' in page
    assert _count(services, Reward) == 0


def test_new_account_form_keeps_what_was_typed_but_never_the_password(web, world):
    login_as(web, world.users["village_a"])
    refused = post_form(web, "/console/users", {"username": "head_c", "display_name": "王院长",
                                                "role": "courtyard_head", "password": "short",
                                                "phone": "13900000099"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert _value(page, "username") == "head_c" and _value(page, "display_name") == "王院长"
    assert _value(page, "phone") == "13900000099" and _selected(page, "role") == "courtyard_head"
    assert 'id="password-error">密码至少 8 位' in page and "short" not in page


def test_a_refused_request_step_keeps_its_note_in_its_own_form(web, world, requests_by_resident):
    login_as(web, world.users["village_a"])
    request_id = requests_by_resident[0]
    refused = post_form(web, f"/console/requests/{request_id}/assign",
                        {"assignee_id": world.users["head_b"].id, "note": "老李出差，请接手"})  # not a 小院 A person
    page = refused.get_data(as_text=True)
    assert refused.status_code >= 400 and 'class="flash error"' in page
    assert 'id="assign-note" name="note" value="老李出差，请接手"' in page
    assert '<textarea id="resolve-note" name="note" rows="2" required></textarea>' in page  # the others stay empty
