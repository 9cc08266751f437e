"""Console pages at work: dashboard figures, request actions, submitting for a resident, people and chains,
staff accounts, API tokens, the outbox and the audit log."""

from __future__ import annotations

import re

import sqlalchemy as sa

from core.db import transaction
from core.models.audit import AuditEntry
from core.models.outbox import OutboxMessage
from core.models.places import CaregiverLink, Household, Resident
from core.models.requests import Request
from core.models.staff import ApiToken, User
from core.requests.workorders import resolve_request
from tests.integration.console.conftest import bearer, login_as, post_form


def _count(services, model, *where) -> int:
    with services.session_factory() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0


def _number(page: str, element_id: str) -> int:
    match = re.search(rf'id="{element_id}">(\d+)<', page)
    assert match, element_id
    return int(match.group(1))


def test_dashboard_counts_open_overdue_and_today(web, world, services, clock, requests_by_resident):
    with transaction(services.session_factory) as session:
        resolve_request(session, now=clock.now(), actor=None, request_id=requests_by_resident[0], note="修好了")
    login_as(web, world.users["head_a"])
    page = web.get("/console/").get_data(as_text=True)
    assert (_number(page, "count-open"), _number(page, "count-overdue")) == (2, 0)
    assert (_number(page, "count-today-new"), _number(page, "count-today-resolved")) == (3, 1)
    clock.advance(hours=25)  # past the 24 h due time of a repair, and into the next local day
    login_as(web, world.users["head_a"])  # a day later the session has ended: sign in again
    page = web.get("/console/").get_data(as_text=True)
    assert (_number(page, "count-open"), _number(page, "count-overdue"), _number(page, "count-today-new")) == (2, 2, 0)
    assert "已超期" in page


def test_dashboard_lists_supervised_requests(web, world, services, requests_by_resident):
    with transaction(services.session_factory) as session:
        session.get(Request, requests_by_resident[1]).supervised = True
    login_as(web, world.users["town"])
    page = web.get("/console/").get_data(as_text=True)
    assert _number(page, "count-supervised") == 1
    assert f'href="/console/requests/{requests_by_resident[1]}"' in page


def test_request_list_filters_and_pages(web, world, services, clock, requests_by_resident):
    login_as(web, world.users["admin"])
    first = web.get("/console/requests?per_page=4").get_data(as_text=True)
    assert len(set(re.findall(r'href="/console/requests/(\d+)"', first))) == 4
    assert "第 1 / 2 页，共 6 条" in first and 'rel="next"' in first
    second = web.get("/console/requests?per_page=4&page=2").get_data(as_text=True)
    assert len(set(re.findall(r'href="/console/requests/(\d+)"', second))) == 2
    assert "没有工单" in web.get("/console/requests?overdue=1").get_data(as_text=True)
    clock.advance(hours=25)
    login_as(web, world.users["admin"])  # a day later the session has ended: sign in again
    overdue = web.get("/console/requests?overdue=1&per_page=100").get_data(as_text=True)
    assert len(set(re.findall(r'href="/console/requests/(\d+)"', overdue))) == 6
    assert "没有工单" in web.get("/console/requests?type=help").get_data(as_text=True)
    assert "没有工单" in web.get("/console/requests?status=closed").get_data(as_text=True)


def test_request_actions_follow_the_lifecycle_and_show_errors(web, world, services, requests_by_resident):
    login_as(web, world.users["head_a"])
    request_id = requests_by_resident[0]
    page = web.get(f"/console/requests/{request_id}").get_data(as_text=True)
    assert "开始处理</button>" in page and "重新打开</button>" not in page
    r = post_form(web, f"/console/requests/{request_id}/resolve", {"note": "  "})
    assert r.status_code == 422 and "请写明怎么解决的" in r.get_data(as_text=True)
    post_form(web, f"/console/requests/{request_id}/resolve", {"note": "修好了水管"})
    r = post_form(web, f"/console/requests/{request_id}/start")
    assert r.status_code == 409 and "只有待处理的工单可以开始" in r.get_data(as_text=True)
    post_form(web, f"/console/requests/{request_id}/evaluate", {"satisfaction": "satisfied"})
    page = web.get(f"/console/requests/{request_id}").get_data(as_text=True)
    assert "已评价" in page and "满意" in page and "修好了水管" in page
    assert re.search(r"李院长 · 解决", page)  # the timeline says who did it
    assert _count(services, AuditEntry, AuditEntry.action.in_(("request.resolve", "request.evaluate"))) == 2


def test_reassign_offers_only_staff_covering_the_place(web, world, requests_by_resident):
    login_as(web, world.users["village_a"])
    page = web.get(f"/console/requests/{requests_by_resident[0]}").get_data(as_text=True)
    options = set(re.findall(r'<option value="(\d+)"', page.split('name="assignee_id"')[1].split("</select>")[0]))
    expected = {world.users[n].id for n in ("admin", "town", "village_a", "grid_a", "head_a")}
    assert options == {str(i) for i in expected}


def test_submit_a_request_for_a_resident(web, world, services):
    login_as(web, world.users["grid_a"])
    page = web.get(f"/console/requests/new?resident_id={world.residents[1].id}").get_data(as_text=True)
    assert f'<option value="{world.residents[1].id}" selected' in page
    assert "居民10" not in page  # courtyard B's residents are not offered to village A's 网格员
    r = post_form(web, "/console/requests/new", {"resident_id": world.residents[1].id, "type": "environment",
                                                  "text": "门口垃圾没人收", "urgent": "on"})
    assert r.status_code == 302
    with services.session_factory() as session:
        req = session.scalar(sa.select(Request))
        assert (req.channel, req.type, req.urgent, req.assignee_id) == (
            "console", "environment", True, world.users["head_a"].id)
        assert req.created_by_id == world.users["grid_a"].id
    r = post_form(web, "/console/requests/new", {"resident_id": world.residents[1].id, "type": "party"})
    assert r.status_code == 422 and "未知的工单类型" in r.get_data(as_text=True)


def test_caregiver_can_submit_for_the_resident_they_care_for(web, world, services):
    login_as(web, world.users["carer_a"])
    r = post_form(web, "/console/requests/new", {"resident_id": world.residents[0].id, "type": "help",
                                                  "text": "妈妈说腿疼"})
    assert r.status_code == 302
    r = post_form(web, "/console/requests/new", {"resident_id": world.residents[1].id, "type": "help"})
    assert r.status_code == 404
    assert _count(services, Request) == 1


def test_add_resident_normalises_phone(web, world, services):
    login_as(web, world.users["head_a"])
    household = world.households[1]
    r = post_form(web, f"/console/households/{household.id}/residents/new",
                  {"name": "刘爷爷", "phone": "023-4671 2345", "birth_year": "1940", "lives_alone": "on"})
    assert r.status_code == 302
    with services.session_factory() as session:
        resident = session.scalar(sa.select(Resident).where(Resident.name == "刘爷爷"))
        assert (resident.phone, resident.birth_year, resident.lives_alone) == ("+862346712345", 1940, True)
    r = post_form(web, f"/console/households/{household.id}/residents/new", {"name": "错号", "phone": "12"})
    assert r.status_code == 422 and "电话号码" in r.get_data(as_text=True)
    assert _count(services, Resident, Resident.name == "错号") == 0


def test_edit_resident_and_household(web, world, services):
    login_as(web, world.users["village_a"])
    resident = world.residents[2]
    post_form(web, f"/console/residents/{resident.id}/edit", {"name": "居民02", "phone": "138 0000 9999",
                                                              "birth_year": "1950", "notes": "耳背，说话大声"})
    post_form(web, f"/console/households/{resident.household_id}/edit", {"name": "新户名", "landline": "(023)46710099"})
    with services.session_factory() as session:
        fresh = session.get(Resident, resident.id)
        assert (fresh.phone, fresh.notes, fresh.lives_alone) == ("+8613800009999", "耳背，说话大声", False)
        assert session.get(Household, resident.household_id).landline == "+862346710099"
        assert session.scalar(sa.select(AuditEntry.detail).where(AuditEntry.action == "resident.edit"))["fields"]


def test_caregiver_chain_can_be_reordered_extended_and_shortened(web, world, services):
    login_as(web, world.users["head_a"])
    resident = world.residents[0]

    def chain() -> list[str]:
        with services.session_factory() as session:
            return list(session.scalars(sa.select(CaregiverLink.name).where(CaregiverLink.resident_id == resident.id)
                                        .order_by(CaregiverLink.position)))

    with services.session_factory() as session:
        doctor = session.scalar(sa.select(CaregiverLink.id).where(CaregiverLink.name == "赵医生"))
    url = f"/console/residents/{resident.id}/chain"
    post_form(web, url, {"op": "up", "link_id": doctor})
    assert chain() == ["王小明", "赵医生", "李院长"]
    post_form(web, url, {"op": "up", "link_id": doctor})
    post_form(web, url, {"op": "up", "link_id": doctor})  # already first: nothing changes
    assert chain() == ["赵医生", "王小明", "李院长"]
    post_form(web, url, {"op": "add", "kind": "grid_worker", "name": "陈网格", "phone": "13900000012",
                         "channels": ["dryrun", "bogus"], "hours_start": "8", "hours_end": "20",
                         "username": "grid_a"})
    assert chain() == ["赵医生", "王小明", "李院长", "陈网格"]
    with services.session_factory() as session:
        link = session.scalar(sa.select(CaregiverLink).where(CaregiverLink.name == "陈网格"))
        assert (link.phone, link.channels, link.hours_start, link.user_id) == (
            "+8613900000012", ["dryrun"], 8, world.users["grid_a"].id)
    r = post_form(web, url, {"op": "add", "kind": "family", "name": "钱", "hours_start": "25"},
                  follow_redirects=True)
    assert "0 到 23" in r.get_data(as_text=True)
    post_form(web, url, {"op": "remove", "link_id": doctor})
    assert chain() == ["王小明", "李院长", "陈网格"]
    with services.session_factory() as session:
        positions = session.scalars(sa.select(CaregiverLink.position).where(CaregiverLink.resident_id == resident.id)
                                    .order_by(CaregiverLink.position)).all()
    assert positions == [1, 2, 3]
    page = web.get(f"/console/residents/{resident.id}").get_data(as_text=True).split('id="chain"')[1]
    assert page.index("王小明") < page.index("李院长") < page.index("陈网格")


def test_add_household_only_in_own_courtyard(web, world, services):
    login_as(web, world.users["head_a"])
    r = post_form(web, "/console/households", {"courtyard_id": world.courtyards[0].id, "name": "新来户",
                                               "landline": "023-46719999"})
    assert r.status_code == 302
    assert post_form(web, "/console/households", {"courtyard_id": world.courtyards[1].id, "name": "越界户"}
                     ).status_code == 404
    assert _count(services, Household, Household.name == "越界户") == 0
    assert _count(services, Household, Household.landline == "+862346719999") == 1


def test_village_cadre_creates_accounts_only_in_their_village(web, world, services):
    login_as(web, world.users["village_a"])
    page = web.get("/console/users").get_data(as_text=True)
    assert "head_a" in page and "head_b" not in page
    r = post_form(web, "/console/users", {"username": "head_a2", "password": "long-enough-1", "role": "grid_worker",
                                          "display_name": "新网格员", "phone": "13900001234"})
    assert r.status_code == 302
    with services.session_factory() as session:
        made = session.scalar(sa.select(User).where(User.username == "head_a2"))
        assert (made.village_id, made.town_id, made.phone) == (world.villages[0].id, world.town.id, "+8613900001234")
    for form in ({"username": "b_head", "role": "courtyard_head", "courtyard_id": world.courtyards[1].id},
                 {"username": "town2", "role": "town"}, {"username": "root2", "role": "admin"}):
        r = post_form(web, "/console/users", {"password": "long-enough-1", **form}, follow_redirects=True)
        assert r.status_code in (403, 422) and 'class="flash error"' in r.get_data(as_text=True)  # shown as typed
        assert _count(services, User, User.username == form["username"]) == 0
    assert _count(services, AuditEntry, AuditEntry.action == "user.create") == 1


def test_new_courtyard_head_becomes_the_head_of_an_unheaded_courtyard(web, world, services):
    with transaction(services.session_factory) as session:
        from core.models.places import Courtyard

        session.get(Courtyard, world.courtyards[1].id).head_user_id = None
    login_as(web, world.users["town"])
    post_form(web, "/console/users", {"username": "head_b2", "password": "long-enough-1", "role": "courtyard_head",
                                      "courtyard_id": world.courtyards[1].id})
    with services.session_factory() as session:
        from core.models.places import Courtyard

        head = session.scalar(sa.select(User).where(User.username == "head_b2"))
        assert session.get(Courtyard, world.courtyards[1].id).head_user_id == head.id
        assert head.village_id == world.villages[1].id


def test_deactivating_an_account_ends_its_access(web, world, services):
    login_as(web, world.users["admin"])
    post_form(web, f"/console/users/{world.users['grid_a'].id}/active", {"active": "0"})
    with services.session_factory() as session:
        assert session.get(User, world.users["grid_a"].id).active is False
    login_as(web, world.users["village_a"])
    assert post_form(web, f"/console/users/{world.users['head_b'].id}/active", {"active": "0"}).status_code == 404


def test_api_token_is_shown_once_works_and_can_be_revoked(web, world, services):
    login_as(web, world.users["head_a"])
    r = post_form(web, "/console/tokens", {"name": "报表"})
    token = re.search(r'id="new-token"[^>]*>(xy_[^<]+)<', r.get_data(as_text=True)).group(1)
    assert token not in web.get("/console/tokens").get_data(as_text=True)
    assert web.get("/api/v1/me", headers=bearer(token)).status_code == 200
    with services.session_factory() as session:
        token_id = session.scalar(sa.select(ApiToken.id).where(ApiToken.name == "报表"))
    login_as(web, world.users["head_b"])
    assert post_form(web, f"/console/tokens/{token_id}/revoke").status_code == 404  # not theirs
    login_as(web, world.users["head_a"])
    post_form(web, f"/console/tokens/{token_id}/revoke")
    assert web.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_outbox_labels_dry_run_rows_not_sent_and_filters_by_status(web, world, services, requests_by_resident):
    with transaction(services.session_factory) as session:
        rows = session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert len(rows) == 6  # one message to the 院长 per request
        rows[0].channel, rows[0].status = "dryrun", "not_sent"
        rows[1].channel, rows[1].status = "twilio_sms", "sent"
    login_as(web, world.users["head_a"])
    page = web.get("/console/outbox").get_data(as_text=True)
    assert page.count('class="outbox-row"') == 3  # only messages about courtyard A
    assert page.count("NOT SENT") == 1 and "未发送" in page
    assert "+8613900000000" not in page and "***0000" in page  # phones are masked
    only_sent = web.get("/console/outbox?status=sent").get_data(as_text=True)
    assert only_sent.count('class="outbox-row"') == 1 and "NOT SENT" not in only_sent
    login_as(web, world.users["head_b"])
    assert web.get("/console/outbox").get_data(as_text=True).count('class="outbox-row"') == 3


def test_audit_log_is_scoped_to_the_viewers_staff(web, world, services, requests_by_resident):
    login_as(web, world.users["head_b"])
    post_form(web, f"/console/requests/{requests_by_resident[3]}/start")
    login_as(web, world.users["head_a"])
    post_form(web, f"/console/requests/{requests_by_resident[0]}/start")
    login_as(web, world.users["village_a"])
    page = web.get("/console/audit").get_data(as_text=True)
    assert "head_a" in page and "head_b" not in page
    login_as(web, world.users["admin"])
    page = web.get("/console/audit?action=request").get_data(as_text=True)
    assert "head_a" in page and "head_b" in page


def test_nul_characters_are_refused(web, world):
    login_as(web, world.users["admin"])
    assert web.get("/console/residents?q=a%00b").status_code == 400


def test_town_dashboard_breaks_open_requests_down_by_courtyard(web, world, clock, requests_by_resident):
    clock.advance(hours=25)
    login_as(web, world.users["town"])
    table = web.get("/console/").get_data(as_text=True).split('id="by-courtyard"')[1].split("</table>")[0]
    assert "椒香小院</td><td>3</td>" in table and "荷花小院</td><td>3</td>" in table
    login_as(web, world.users["head_a"])
    assert 'id="by-courtyard"' not in web.get("/console/").get_data(as_text=True)


def test_user_text_with_percent_signs_in_messages_is_shown_verbatim(web, world):
    login_as(web, world.users["village_a"])
    form = {"username": "50%", "password": "long-enough-1", "role": "grid_worker"}
    assert post_form(web, "/console/users", form).status_code == 302
    r = post_form(web, "/console/users", form, follow_redirects=True)  # taken: the message repeats the name
    assert r.status_code == 422 and "用户名已存在：50%" in r.get_data(as_text=True)
