"""Signing in: argon2 passwords, CSRF on every form, rate-limited attempts, secure cookies, safe redirects."""

from __future__ import annotations

import sqlalchemy as sa

from core.container import Services
from core.models.audit import AuditEntry
from core.models.staff import User
from core.settings import load_settings
from tests.factories import PASSWORD
from tests.integration.console.conftest import csrf_token, login_as


def _login(client, username: str, password: str, next_url: str | None = None):
    token = csrf_token(client, "/console/login")
    path = "/console/login" + (f"?next={next_url}" if next_url else "")
    return client.post(path, data={"username": username, "password": password, "csrf_token": token})


def test_anonymous_pages_redirect_to_login(web, world):
    r = web.get("/console/requests?status=open")
    assert r.status_code == 302
    assert r.headers["Location"].startswith("/console/login?next=")


def test_good_login_opens_the_dashboard_and_is_audited(web, world, services):
    r = _login(web, "head_a", PASSWORD)
    assert r.status_code == 302 and r.headers["Location"] == "/console/"
    page = web.get("/console/").get_data(as_text=True)
    assert "李院长" in page and "今日概况" in page
    with services.session_factory() as session:
        entry = session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "login"))
        assert entry is not None and entry.actor_id == world.users["head_a"].id


def test_login_follows_only_local_next(web, world):
    assert _login(web, "admin", PASSWORD, "/console/outbox").headers["Location"] == "/console/outbox"
    web.post("/console/logout", data={"csrf_token": csrf_token(web)})
    assert _login(web, "admin", PASSWORD, "https://evil.example/").headers["Location"] == "/console/"


def test_login_never_redirects_to_another_host_through_a_tab(web, world):
    """`next=/%09/evil.example` reached the browser as `/\t/evil.example`, which it reads as //evil.example."""
    for sneaky in ("/%09/evil.example", "/%0a/evil.example", "/%5C/evil.example", "%2F%2Fevil.example"):
        r = _login(web, "admin", PASSWORD, sneaky)
        assert r.status_code == 302 and r.headers["Location"] == "/console/", sneaky
        web.post("/console/logout", data={"csrf_token": csrf_token(web)})


def test_wrong_password_and_unknown_user_are_refused_alike(web, world):
    for username, password in (("head_a", "wrong-password"), ("nobody", PASSWORD)):
        r = _login(web, username, password)
        assert r.status_code == 401
        assert "用户名或密码不对" in r.get_data(as_text=True)
    assert web.get("/console/").status_code == 302


def test_deactivated_user_cannot_log_in_and_is_signed_out(web, world, services):
    login_as(web, world.users["grid_a"])
    assert web.get("/console/").status_code == 200
    with services.session_factory() as session, session.begin():
        session.get(User, world.users["grid_a"].id).active = False
    assert web.get("/console/").status_code == 302
    assert _login(web, "grid_a", PASSWORD).status_code == 401


def test_login_form_requires_csrf(web, world):
    r = web.post("/console/login", data={"username": "admin", "password": PASSWORD})
    assert r.status_code == 400
    assert web.get("/console/").status_code == 302


def test_console_forms_require_csrf(web, world, services):
    login_as(web, world.users["admin"])
    r = web.post("/console/tokens", data={"name": "no-csrf"})
    assert r.status_code == 400
    r = web.post("/console/logout")
    assert r.status_code == 400
    assert web.get("/console/").status_code == 200  # still signed in


def test_logout_signs_out(web, world):
    login_as(web, world.users["admin"])
    r = web.post("/console/logout", data={"csrf_token": csrf_token(web)})
    assert r.status_code == 302
    assert web.get("/console/").status_code == 302


def test_login_attempts_are_rate_limited(web, world, services):
    limit = int(services.settings.web.login_rate_limit.split()[0])
    token = csrf_token(web, "/console/login")
    for _ in range(limit):
        assert web.post("/console/login", data={"username": "admin", "password": "guess", "csrf_token": token}
                        ).status_code == 401
    r = web.post("/console/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 429
    assert "登录尝试太多" in r.get_data(as_text=True)
    assert web.get("/console/").status_code == 302
    # Viewing the login page is not limited: only attempts are.
    assert web.get("/console/login").status_code == 200


def test_session_cookie_is_httponly_and_secure_when_configured(settings, session_factory, clock, world, tmp_path):
    from xiaoyuan.app import create_app

    secure = load_settings(environ={}, overrides={"data": {"dir": str(tmp_path / "s")},
                                                  "web": {"secure_cookies": True}})
    app = create_app(Services(settings=secure, session_factory=session_factory, clock=clock))
    if "csrf" not in app.extensions:
        from console.setup import init_console

        app.secret_key = app.secret_key or "x"
        init_console(app)
    client = app.test_client()
    r = _login(client, "admin", PASSWORD)
    cookie = r.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "Secure" in cookie
    assert app.config["REMEMBER_COOKIE_SECURE"] is True



def _attempt(app, username: str, password: str, addr: str):
    """One sign-in from a fresh browser at `addr`."""
    client = app.test_client()
    token = csrf_token(client, "/console/login")
    return client.post("/console/login", data={"username": username, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": addr})


def test_login_limit_is_shared_by_every_web_process_and_survives_a_restart(console_app, world, services, clock):
    """The limit lived in each process's memory: under `gunicorn -w 4` an attacker got four times the tries."""
    from xiaoyuan.app import create_app

    limit = int(services.settings.web.login_rate_limit.split()[0])
    workers = [console_app] + [create_app(services) for _ in range(3)]
    for attempt in range(limit):  # a different username each time: only the address limit applies
        assert _attempt(workers[attempt % 4], f"user{attempt}", "guess", "203.0.113.9").status_code == 401
    restarted = create_app(services)
    r = _attempt(restarted, "admin", PASSWORD, "203.0.113.9")
    assert r.status_code == 429 and "登录尝试太多" in r.get_data(as_text=True)
    assert _attempt(restarted, "admin", PASSWORD, "198.51.100.7").status_code == 302  # another address may


def test_login_limit_per_account_holds_across_addresses(console_app, world, services, clock):
    per_account = int(services.settings.web.login_account_limit.split()[0])
    for i in range(per_account):
        assert _attempt(console_app, "head_a", "guess", f"198.51.100.{i + 1}").status_code == 401
    assert _attempt(console_app, "head_a", PASSWORD, "192.0.2.200").status_code == 429
    assert _attempt(console_app, "HEAD_A", "guess", "192.0.2.201").status_code == 429  # the same name, other case
    assert _attempt(console_app, "head_b", PASSWORD, "192.0.2.202").status_code == 302  # others are not locked
    clock.advance(minutes=16)
    assert _attempt(console_app, "head_a", PASSWORD, "192.0.2.203").status_code == 302


def test_successful_logins_are_not_counted(console_app, world, services):
    limit = int(services.settings.web.login_rate_limit.split()[0])
    for _ in range(limit + 2):
        assert _attempt(console_app, "admin", PASSWORD, "203.0.113.50").status_code == 302
