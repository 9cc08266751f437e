"""English through the compiled catalogue: the console login page, the 中文 / English switch, the TV's default."""

from __future__ import annotations

import re

import pytest

LANG_ATTR = re.compile(r'<html lang="([^"]+)"')


@pytest.fixture
def web(app):
    """A test client on the whole app (console, TV, Babel as the app factory wires them)."""
    return app.test_client()


def _page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def test_login_page_is_chinese_by_default(web):
    """Staff who choose nothing see the console in Chinese."""
    html = _page(web, "/console/login")
    assert "登录工作台" in html and "用户名" in html and "密码" in html
    assert "Sign in to the console" not in html
    assert LANG_ATTR.search(html).group(1) == "zh-CN"


def test_login_page_in_english_with_lang_parameter(web):
    """?lang=en shows the login page in English from the compiled catalogue, with lang="en" for screen readers."""
    html = _page(web, "/console/login?lang=en")
    assert "Sign in to the console" in html
    assert "Username" in html and "Password" in html
    assert "登录工作台" not in html and "用户名" not in html
    assert LANG_ATTR.search(html).group(1) == "en"


def test_flashed_message_is_translated(app, web):
    """A flashed msgid (a wrong password) is shown in the reader's language."""
    app.config["WTF_CSRF_ENABLED"] = False
    response = web.post("/console/login?lang=en", data={"username": "nobody", "password": "wrong-password"})
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert "The username or password is wrong" in html
    assert "用户名或密码不对" not in html


def test_language_switch_is_on_every_console_page_and_names_each_language_in_itself(web):
    """The header offers 中文 / English; the language in use is marked, the other is a link back to this page."""
    html = _page(web, "/console/login?next=%2Fconsole%2Frequests")
    assert '<strong lang="zh-CN" aria-current="true">中文</strong>' in html
    link = re.search(r'<a href="([^"]+)" lang="en" hreflang="en">English</a>', html)
    assert link, "no English link in the console header"
    assert link.group(1).startswith("/console/lang/en?next=")
    html_en = _page(web, "/console/login?lang=en")
    assert '<strong lang="en" aria-current="true">English</strong>' in html_en
    assert re.search(r'<a href="/console/lang/zh\?next=[^"]*" lang="zh-CN" hreflang="zh-CN">中文</a>', html_en)


def test_switch_remembers_english_and_returns_to_the_same_page(web):
    """Choosing English sets the console-only `lang` cookie and goes back to the page (without a stale ?lang)."""
    response = web.get("/console/lang/en", query_string={"next": "/console/login?lang=zh&next=/console/requests"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/login?next=%2Fconsole%2Frequests"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("lang=en;")
    assert "Path=/console" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Sign in to the console" in _page(web, "/console/login")
    web.get("/console/lang/zh", query_string={"next": "/console/login"})
    assert "登录工作台" in _page(web, "/console/login")


@pytest.mark.parametrize("target", ["https://evil.example/x", "//evil.example/x", "/\\evil.example",
                                    "javascript:alert(1)"])
def test_switch_never_redirects_off_site(web, target):
    """A crafted `next` cannot send staff to another site; they land on the console home instead."""
    response = web.get("/console/lang/en", query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/console/"


def test_switch_rejects_unknown_languages(web):
    """Only the catalogues we have can be chosen."""
    response = web.get("/console/lang/fr")
    assert response.status_code == 404
    assert "Set-Cookie" not in response.headers


def test_tv_stays_chinese_after_the_console_switch_but_honours_lang_parameter(web):
    """Elders see Chinese on the TV even if English was chosen for the console in this browser; ?lang=en works."""
    web.get("/console/lang/en", query_string={"next": "/console/login"})
    first = web.get("/tv/")
    assert first.status_code == 302
    pair_page = first.headers["Location"]
    html = _page(web, pair_page)
    assert "这台电视还没有配对" in html
    assert "This TV is not paired yet" not in html
    joiner = "&" if "?" in pair_page else "?"
    html_en = _page(web, f"{pair_page}{joiner}lang=en")
    assert "This TV is not paired yet" in html_en
    assert "这台电视还没有配对" not in html_en
