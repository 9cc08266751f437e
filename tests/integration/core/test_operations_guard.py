"""/metrics and the detailed /healthz body only for loopback, the allow-list or the bearer token; up/down is public."""

from __future__ import annotations

import pytest

from core.container import Services
from core.settings import load_settings
from xiaoyuan.operations_guard import address_allowed

OUTSIDE = {"REMOTE_ADDR": "203.0.113.7"}


@pytest.fixture
def guarded(session_factory, clock, tmp_path):
    """An app whose operations endpoints allow 10.20.0.0/16 and a token."""
    from xiaoyuan.app import create_app

    settings = load_settings(environ={}, overrides={"data": {"dir": str(tmp_path / "var")}, "web": {
        "ops_allow_from": ["127.0.0.0/8", "10.20.0.0/16"], "ops_token": "scrape-secret-123"}})
    return create_app(Services(settings=settings, session_factory=session_factory, clock=clock)).test_client()


def test_metrics_and_health_details_are_not_public(guarded):
    """Anyone on the internet could read process names, queue depths and failure reasons."""
    assert guarded.get("/metrics", environ_base=OUTSIDE).status_code == 403
    health = guarded.get("/healthz", environ_base=OUTSIDE)
    assert health.status_code == 503 and health.get_json() == {"status": "failing"}  # up/down stays public


def test_loopback_allow_list_and_token_see_everything(guarded):
    for environ, headers in (({"REMOTE_ADDR": "127.0.0.1"}, {}), ({"REMOTE_ADDR": "10.20.3.4"}, {}),
                             (OUTSIDE, {"Authorization": "Bearer scrape-secret-123"})):
        assert guarded.get("/metrics", environ_base=environ, headers=headers).status_code == 200
        assert "problems" in guarded.get("/healthz", environ_base=environ, headers=headers).get_json()
    assert guarded.get("/metrics", environ_base=OUTSIDE,
                       headers={"Authorization": "Bearer wrong"}).status_code == 403


def test_a_proxied_request_is_not_trusted_for_its_loopback_address(guarded):
    """Behind nginx every request comes from 127.0.0.1: with forwarding headers and no web.proxies, no trust."""
    r = guarded.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"},
                    headers={"X-Forwarded-For": "198.51.100.9"})
    assert r.status_code == 403


def test_address_rules():
    assert address_allowed("127.0.0.5", ["127.0.0.0/8"]) and address_allowed("::1", ["::1/128"])
    assert not address_allowed("10.0.0.1", ["127.0.0.0/8", "not-a-network"])
    assert not address_allowed("", ["0.0.0.0/0"])
