"""爱环境 bins (M16, S13): the registry, the public QR page, one open request per bin, limits, CSRF, the CLI."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from core.community import bins as bin_service
from core.db import transaction
from core.models.audit import AuditEntry
from core.models.bins import Bin, BinReport
from core.models.outbox import OutboxMessage
from core.models.requests import Request
from core.people.access import OPERATOR
from xiaoyuan.cli import _load_command_modules, cli

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def _phone(app, address: str):
    """A passer-by's phone: its own cookie jar and address."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _scan(phone, token: str, kind: str = "full"):
    """Open the label's page as a phone camera would, then tap one button."""
    page = phone.get(f"/q/{token}")
    assert page.status_code == 200
    csrf = CSRF_RE.search(page.get_data(as_text=True))
    assert csrf, "the public form carries a CSRF token"
    return phone.post(f"/q/{token}", data={"csrf_token": csrf.group(1), "kind": kind})


@pytest.fixture
def entrance_bin(services, world, clock):
    """村口一号桶 in 椒香小院 (A), emptied by the grid worker of village A."""
    with transaction(services.session_factory) as s:
        bin_ = bin_service.add_bin(s, now=clock.now(), actor=world.users["village_a"],
                                   courtyard_id=world.courtyards[0].id, name="村口一号桶", location="村口大槐树下",
                                   cleaner_id=world.users["grid_a"].id, via="test")
        return bin_.id, bin_.token


def test_s13_three_scans_make_one_request_with_three_reports(console_app, services, world, clock, entrance_bin):
    """S13: a schoolboy and two neighbours scan the same bin: one request, "3 次报告", told to the cleaner once."""
    bin_id, token = entrance_bin
    first = _scan(_phone(console_app, "10.0.0.1"), token)
    assert first.status_code == 200 and "1 次报告" in first.get_data(as_text=True)
    for n, address in ((2, "10.0.0.2"), (3, "10.0.0.3")):
        clock.advance(minutes=20)
        reply = _scan(_phone(console_app, address), token, "smell" if n == 3 else "full")
        assert f"{n} 次报告" in reply.get_data(as_text=True)
    with services.session_factory() as s:
        requests = list(s.scalars(sa.select(Request)))
        assert len(requests) == 1
        req = requests[0]
        assert (req.type, req.channel, req.status) == ("environment", "qr", "assigned")
        assert req.assignee_id == world.users["grid_a"].id
        assert req.courtyard_id == world.courtyards[0].id and req.village_id == world.villages[0].id
        assert req.details["reports"] == 3 and req.details["bin_id"] == bin_id
        assert "村口一号桶" in req.text and "满了" in req.text
        assert s.scalar(sa.select(sa.func.count(BinReport.id)).where(BinReport.request_id == req.id)) == 3
        told = list(s.scalars(sa.select(OutboxMessage).where(OutboxMessage.subject_id == req.id)))
        assert [m.recipient_name for m in told] == [world.users["grid_a"].display_name]
    page = _phone(console_app, "10.0.0.4").get(f"/q/{token}").get_data(as_text=True)
    assert "已有 3 次报告" in page


def test_a_scan_after_the_request_is_resolved_opens_a_new_one(console_app, services, world, clock, entrance_bin):
    """Once the cleaner has resolved it, the next full bin is a new request (not a reopened old one)."""
    from core.requests.workorders import resolve_request

    _, token = entrance_bin
    _scan(_phone(console_app, "10.0.0.1"), token)
    with transaction(services.session_factory) as s:
        first = s.scalar(sa.select(Request.id))
        resolve_request(s, now=clock.now(), actor=world.users["grid_a"], request_id=first, note="已清运")
    clock.advance(hours=5)
    reply = _scan(_phone(console_app, "10.0.0.2"), token)
    assert "1 次报告" in reply.get_data(as_text=True)
    with services.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count(Request.id))) == 2


def test_without_a_cleaner_the_courtyard_head_gets_it(console_app, services, world, clock):
    """A bin nobody is assigned to goes to its 小院's 院长 through the outbox."""
    with transaction(services.session_factory) as s:
        token = bin_service.add_bin(s, now=clock.now(), actor=OPERATOR, courtyard_id=world.courtyards[1].id,
                                    name="荷花池边").token
    _scan(_phone(console_app, "10.0.0.1"), token, "broken")
    with services.session_factory() as s:
        req = s.scalar(sa.select(Request))
        assert req.assignee_id == world.users["head_b"].id and "坏了" in req.text
        assert s.scalar(sa.select(OutboxMessage.recipient_name).where(OutboxMessage.subject_id == req.id)) == "张院长"


def test_scans_are_limited_per_client_and_per_bin(console_app, services, world, clock, entrance_bin):
    """One phone cannot flood a bin, and many phones together cannot either; the window passes with time."""
    _, token = entrance_bin
    limits = bin_service.ScanLimits.from_settings(services.settings)
    per_client, per_bin = limits.per_client[0], limits.per_bin[0]
    phone = _phone(console_app, "10.0.0.9")
    replies = [_scan(phone, token).status_code for _ in range(per_client + 1)]
    assert replies == [200] * per_client + [429]
    assert "报告太频繁" in _scan(phone, token).get_data(as_text=True)
    others = [_scan(_phone(console_app, f"10.0.1.{i}"), token).status_code
              for i in range(per_bin - per_client + 1)]
    assert others[-1] == 429 and set(others[:-1]) == {200}
    with services.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count(BinReport.id))) == per_bin
    clock.advance(hours=1, minutes=1)
    assert _scan(phone, token).status_code == 200


def test_unknown_and_retired_tokens_get_a_plain_404(console_app, services, world, clock, entrance_bin):
    """A made-up token, or a bin taken out of use, shows a plain 404 page and counts nothing."""
    bin_id, token = entrance_bin
    phone = _phone(console_app, "10.0.0.1")
    for bad in ("nope", "x" * 300, token + "x", "%00", token[:8] + "%00", "%E7%8E%8B", "a.b"):
        page = phone.get(f"/q/{bad}")
        assert page.status_code == 404 and "找不到这个二维码" in page.get_data(as_text=True)
    with transaction(services.session_factory) as s:
        s.get(Bin, bin_id).active = False
    assert phone.get(f"/q/{token}").status_code == 404
    assert phone.post(f"/q/{token}", data={"kind": "full"}).status_code in (400, 404)
    with services.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count(Request.id))) == 0


def test_the_public_form_cannot_be_posted_cross_site(console_app, services, world, clock, entrance_bin):
    """No token, or another visitor's token, is refused: another site cannot file reports through a phone."""
    _, token = entrance_bin
    forger = _phone(console_app, "10.0.0.66")
    page = forger.get(f"/q/{token}").get_data(as_text=True)
    stolen = CSRF_RE.search(page).group(1)
    victim = _phone(console_app, "10.0.0.7")
    assert victim.post(f"/q/{token}", data={"kind": "full"}).status_code == 400
    refused = victim.post(f"/q/{token}", data={"kind": "full", "csrf_token": stolen})
    assert refused.status_code == 400 and "请重新扫码" in refused.get_data(as_text=True)
    with services.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count(Request.id))) == 0


def test_an_unknown_kind_is_refused(console_app, services, world, clock, entrance_bin):
    """Only 满了 / 坏了 / 有异味 / 其他 are reports."""
    _, token = entrance_bin
    assert _scan(_phone(console_app, "10.0.0.1"), token, "explode").status_code == 422


def test_adding_a_bin_is_scoped_and_audited(services, world, clock):
    """A 院长 adds bins only in their own 小院; each add is in the audit trail."""
    from core.errors import InvalidInput, NotFound

    with transaction(services.session_factory) as s, pytest.raises(NotFound):
        bin_service.add_bin(s, now=clock.now(), actor=world.users["head_a"], courtyard_id=world.courtyards[1].id,
                            name="别人的桶")
    with transaction(services.session_factory) as s:
        made = bin_service.add_bin(s, now=clock.now(), actor=world.users["head_a"],
                                   courtyard_id=world.courtyards[0].id, name="一号桶")
        assert len(made.token) >= 16
    with transaction(services.session_factory) as s, pytest.raises(InvalidInput):
        bin_service.add_bin(s, now=clock.now(), actor=world.users["head_a"], courtyard_id=world.courtyards[0].id,
                            name="一号桶")
    with transaction(services.session_factory) as s, pytest.raises(InvalidInput):
        bin_service.add_bin(s, now=clock.now(), actor=world.users["head_a"], courtyard_id=world.courtyards[0].id,
                            name="二号桶", cleaner_id=world.users["head_b"].id)
    with services.session_factory() as s:
        audits = list(s.scalars(sa.select(AuditEntry).where(AuditEntry.action == "bin.add")))
        assert [(a.actor_label, a.entity_id) for a in audits] == [("head_a", made.id)]


def test_cli_bin_add_and_list(db_url, tmp_path, services, world):
    """`bin add` prints the id and the public token; `bin list --json` names the foreign keys."""
    _load_command_modules()
    env = {"XIAOYUAN_DATA_DIR": str(tmp_path / "cli-var"), "XIAOYUAN_CONFIG": "", "XIAOYUAN_DATABASE_URL": db_url}
    runner = CliRunner()
    added = runner.invoke(cli, ["bin", "add", "--courtyard", str(world.courtyards[0].id), "--name", "村口一号桶",
                                "--location", "村口", "--cleaner", str(world.users["grid_a"].id)], env=env,
                          catch_exceptions=False)
    assert added.exit_code == 0, added.output
    bin_id, token, url = added.output.strip().split("\t")
    assert url.endswith(f"/q/{token}")
    listed = json.loads(runner.invoke(cli, ["bin", "list", "--json"], env=env, catch_exceptions=False).output)
    assert listed == [{
        "id": int(bin_id), "name": "村口一号桶", "token": token, "courtyard_id": world.courtyards[0].id,
        "courtyard": "椒香小院", "village_id": world.villages[0].id, "village": "高瓷村", "location": "村口",
        "lat": None, "lon": None, "cleaner_id": world.users["grid_a"].id, "cleaner": world.users["grid_a"].display_name,
        "active": True, "open_request_id": None, "open_reports": 0}]
    bad = runner.invoke(cli, ["bin", "add", "--courtyard", "999", "--name", "x"], env=env)
    assert bad.exit_code == 1 and "找不到这个小院" in bad.output


def test_the_label_page_reads_in_english_when_asked(console_app, world, entrance_bin):
    """Chinese first; ?lang=en gives the same page in English."""
    _, token = entrance_bin
    page = _phone(console_app, "10.0.0.1").get(f"/q/{token}?lang=en").get_data(as_text=True)
    assert 'lang="en"' in page and ">Full<" in page and ">Smells<" in page


def test_simultaneous_scans_still_make_one_request(services, world, clock, entrance_bin):
    """Eight phones scanning in the same instant (separate sessions, as separate web processes would) open one
    request between them, and every scan is counted on it."""
    import threading

    _, token = entrance_bin
    start = threading.Barrier(8)
    results: list[bin_service.ScanResult] = []
    errors: list[BaseException] = []

    def scan(n: int) -> None:
        start.wait()
        try:
            results.append(bin_service.report_bin(services.session_factory, now=clock.now(), token=token,
                                                  kind="full", client=f"10.0.2.{n}",
                                                  due_hours=services.settings.requests.due_hours))
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=scan, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(r.reports for r in results) == list(range(1, 9))
    assert sum(r.opened for r in results) == 1
    with services.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count(Request.id))) == 1


def test_scan_limits_come_from_the_bins_section():
    """`[bins]` scans_per_client / scans_per_bin set the limits; an unreadable rate is a config error."""
    import datetime as dt

    from core.settings import SettingsError, load_settings

    settings = load_settings(environ={"XIAOYUAN_BINS_SCANS_PER_CLIENT": "2 per 10 minutes"})
    limits = bin_service.ScanLimits.from_settings(settings)
    assert limits.per_client == (2, dt.timedelta(minutes=10)) and limits.per_bin == (12, dt.timedelta(hours=1))
    with pytest.raises(SettingsError):
        load_settings(environ={"XIAOYUAN_BINS_SCANS_PER_BIN": "lots"})


def test_the_demo_has_three_bins_on_the_route_and_seeding_again_adds_none(services):
    """`xiaoyuan demo` labels three 椒香小院 bins emptied by the village's 网格员; a second run adds nothing."""
    from core.demo import bins as demo_bins
    from core.demo import seed_demo
    from core.models.staff import User

    assert seed_demo(services)["bins"] == 3
    assert demo_bins.seed_demo(services) == {}
    with services.session_factory() as s:
        route = list(s.scalars(bin_service.scoped_bins(OPERATOR)))
        assert [b.name for b in route] == ["村口一号桶", "祠堂桶", "后山路口桶"]
        assert {s.get(User, b.cleaner_id).role for b in route} == {"grid_worker"}
