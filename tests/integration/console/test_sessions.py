"""Revocable console sessions: a captured cookie dies at logout, a new password, deactivation or a role change,
after the idle timeout and after the absolute lifetime; passwords are changed in the console and the CLI."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner

from core.db import transaction
from core.models.audit import AuditEntry
from core.models.staff import User
from core.people.users import authenticate
from tests.factories import PASSWORD
from tests.integration.console.conftest import csrf_token

NEW_PASSWORD = "plum-blossom-river-7"


def _login(client, username: str = "head_a", password: str = PASSWORD):
    token = csrf_token(client, "/console/login")
    return client.post("/console/login", data={"username": username, "password": password, "csrf_token": token})


def _signed_in(client) -> bool:
    return client.get("/console/").status_code == 200


def _cookie(client) -> str:
    return client.get_cookie("session").value


def _replay(console_app, cookie: str):
    """A fresh browser (the attacker's) holding a copied session cookie."""
    other = console_app.test_client()
    other.set_cookie("session", cookie)
    return other


def test_a_cookie_captured_before_logout_is_worthless_after_it(console_app, web, world):
    assert _login(web).status_code == 302
    captured = _cookie(web)
    assert _signed_in(_replay(console_app, captured))
    web.post("/console/logout", data={"csrf_token": csrf_token(web)})
    assert not _signed_in(_replay(console_app, captured))


def test_logout_ends_the_users_sessions_on_every_device(console_app, world):
    phone, desk = console_app.test_client(), console_app.test_client()
    _login(phone)
    _login(desk)
    assert _signed_in(phone) and _signed_in(desk)
    phone.post("/console/logout", data={"csrf_token": csrf_token(phone)})
    assert not _signed_in(desk)
    other = console_app.test_client()  # someone else's session is untouched
    _login(other, "head_b")
    assert _signed_in(other)


def test_deactivation_and_role_change_end_sessions(console_app, world, services):
    grid, head = console_app.test_client(), console_app.test_client()
    _login(grid, "grid_a")
    _login(head, "head_a")
    with transaction(services.session_factory) as session:
        session.get(User, world.users["grid_a"].id).active = False
        session.get(User, world.users["head_a"].id).role = "caregiver"
    with transaction(services.session_factory) as session:
        # reactivated: the cookie from before the deactivation still must not come back
        session.get(User, world.users["grid_a"].id).active = True
    assert not _signed_in(grid) and not _signed_in(head)


def test_sessions_end_after_the_idle_timeout(web, world, clock, services):
    idle = services.settings.web.session_idle_minutes
    _login(web)
    clock.advance(minutes=idle - 1)
    assert _signed_in(web)  # a request within the idle time keeps it alive
    clock.advance(minutes=idle - 1)
    assert _signed_in(web)
    clock.advance(minutes=idle + 1)
    assert not _signed_in(web)


def test_sessions_end_after_their_absolute_lifetime_even_when_busy(web, world, clock, services):
    _login(web)
    for _ in range(services.settings.web.session_max_hours * 2 - 1):
        clock.advance(minutes=30)
        assert _signed_in(web)
    clock.advance(minutes=31)
    assert not _signed_in(web)


def test_a_cookie_from_before_revocable_sessions_is_refused(console_app, web, world):
    with web.session_transaction() as sess:  # what the old code put in the cookie: just the user id
        sess["_user_id"] = str(world.users["admin"].id)
        sess["_fresh"] = True
    assert not _signed_in(web)


def test_password_change_in_the_console_ends_every_session(console_app, web, world, services):
    other = console_app.test_client()
    _login(web)
    _login(other)
    page = web.get("/console/password")
    assert page.status_code == 200 and "修改密码" in page.get_data(as_text=True)
    r = web.post("/console/password", data={"current": PASSWORD, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD,
                                            "csrf_token": csrf_token(web, "/console/password")})
    assert r.status_code == 302 and r.headers["Location"].startswith("/console/login")
    assert not _signed_in(web) and not _signed_in(other)
    assert _login(web, "head_a", PASSWORD).status_code == 401
    assert _login(web, "head_a", NEW_PASSWORD).status_code == 302
    with services.session_factory() as session:
        actions = set(session.scalars(sa.select(AuditEntry.action).where(
            AuditEntry.actor_id == world.users["head_a"].id)))
    assert {"user.password", "user.sessions_ended"} <= actions


def test_password_change_needs_the_current_password_and_a_good_new_one(web, world, services):
    _login(web)
    token = csrf_token(web, "/console/password")
    cases = [
        ({"current": "wrong-password", "new": NEW_PASSWORD, "confirm": NEW_PASSWORD}, "当前密码不对"),
        ({"current": PASSWORD, "new": "short", "confirm": "short"}, "密码至少 8 位"),
        ({"current": PASSWORD, "new": "12345678", "confirm": "12345678"}, "这个密码太常见"),
        ({"current": PASSWORD, "new": "Password1", "confirm": "Password1"}, "这个密码太常见"),
        ({"current": PASSWORD, "new": "head_a", "confirm": "head_a"}, "密码至少 8 位"),
        ({"current": PASSWORD, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD + "x"}, "两次输入的新密码不一样"),
    ]
    for form, message in cases:
        r = web.post("/console/password", data={**form, "csrf_token": token})
        assert r.status_code in (400, 422) and message in r.get_data(as_text=True), (form, r.status_code)
    assert _signed_in(web)
    with services.session_factory() as session:
        assert authenticate(session, "head_a", PASSWORD) is not None


def test_new_accounts_refuse_common_passwords(web, world):
    _login(web, "admin")
    r = web.post("/console/users", data={"role": "caregiver", "username": "newcarer", "password": "woaini1314",
                                         "csrf_token": csrf_token(web, "/console/users")}, follow_redirects=True)
    assert "这个密码太常见" in r.get_data(as_text=True)


def test_cli_passwd_and_reset_password_end_sessions(console_app, world, services, monkeypatch):
    from xiaoyuan import bootstrap
    from xiaoyuan.cli import _load_command_modules, cli

    _load_command_modules()
    monkeypatch.setattr(bootstrap, "build_services", lambda *a, **k: services)
    monkeypatch.setattr(bootstrap, "close_services", lambda *_a, **_k: None)
    runner = CliRunner()
    web = console_app.test_client()
    _login(web)
    wrong = runner.invoke(cli, ["user", "passwd", "head_a", "--current", "nope-nope", "--password", NEW_PASSWORD])
    assert wrong.exit_code == 1 and "当前密码不对" in wrong.output
    ok = runner.invoke(cli, ["user", "passwd", "head_a", "--current", PASSWORD, "--password", NEW_PASSWORD])
    assert ok.exit_code == 0, ok.output
    assert not _signed_in(web)
    _login(web, "head_a", NEW_PASSWORD)
    reset = runner.invoke(cli, ["user", "reset-password", "head_a", "--generate", "--by", "ops-zhang"])
    assert reset.exit_code == 0, reset.output
    generated = reset.output.strip().splitlines()[-1]
    assert not _signed_in(web)
    assert _login(web, "head_a", generated).status_code == 302
    common = runner.invoke(cli, ["user", "reset-password", "head_a", "--password", "12345678"])
    assert common.exit_code == 1 and "这个密码太常见" in common.output
    missing = runner.invoke(cli, ["user", "reset-password", "nobody", "--password", NEW_PASSWORD])
    assert missing.exit_code == 1
