"""Pure rules of console sessions (version, idle timeout, lifetime), new passwords and attempt rates."""

from __future__ import annotations

import datetime as dt

import pytest

from core.clock import UTC
from core.errors import InvalidInput
from core.people import sessions
from core.people.passwords import check_new_password
from core.throttle import parse_rate

T0 = dt.datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
POLICY = sessions.SessionPolicy(idle=dt.timedelta(minutes=30), lifetime=dt.timedelta(hours=8))


def test_a_session_lives_while_version_idle_time_and_lifetime_allow():
    cookie: dict = {}
    sessions.stamp(cookie, version=3, now=T0)
    assert sessions.is_live(cookie, version=3, now=T0 + dt.timedelta(minutes=30), policy=POLICY)
    assert not sessions.is_live(cookie, version=4, now=T0, policy=POLICY)  # ended server-side
    assert not sessions.is_live(cookie, version=3, now=T0 + dt.timedelta(minutes=31), policy=POLICY)
    now = T0
    for _ in range(16):  # busy all day: used every 30 minutes
        now += dt.timedelta(minutes=30)
        assert sessions.is_live(cookie, version=3, now=now, policy=POLICY)
        sessions.touch(cookie, now=now)
    assert not sessions.is_live(cookie, version=3, now=now + dt.timedelta(seconds=1), policy=POLICY)


@pytest.mark.parametrize("cookie", [{}, {"_user_id": "1"}, {sessions.VERSION_KEY: "x", sessions.STARTED_KEY: 0,
                                                             sessions.SEEN_KEY: 0}])
def test_cookies_without_marks_are_not_live(cookie):
    assert not sessions.is_live(cookie, version=0, now=T0, policy=POLICY)


@pytest.mark.parametrize("password", ["short", "12345678", "PASSWORD1", "woaini1314", "xiaoyuan-demo", "aaaaaaaaaa",
                                      "head_a_01"])
def test_weak_new_passwords_are_refused(password):
    with pytest.raises(InvalidInput):
        check_new_password(password, username="head_a_01")


def test_a_decent_password_is_accepted():
    check_new_password("plum-blossom-river-7", username="head_a")


@pytest.mark.parametrize(("text", "expected"), [
    ("10 per minute", (10, dt.timedelta(minutes=1))), ("10 per 15 minutes", (10, dt.timedelta(minutes=15))),
    ("5/hour", (5, dt.timedelta(hours=1))), ("3 per day", (3, dt.timedelta(days=1))),
])
def test_rates_are_read_like_the_config_writes_them(text, expected):
    assert parse_rate(text) == expected


@pytest.mark.parametrize("text", ["ten per minute", "10 per fortnight", "10", "10 per x minutes", ""])
def test_unreadable_rates_are_config_errors(text):
    from core.settings import SettingsError, load_settings

    with pytest.raises(ValueError):
        parse_rate(text)
    with pytest.raises(SettingsError):
        load_settings(environ={"XIAOYUAN_WEB_LOGIN_ACCOUNT_LIMIT": text or "x"})
