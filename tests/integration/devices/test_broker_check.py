"""`xiaoyuan check` logs in to the configured broker and says plainly when the credentials are refused."""

from __future__ import annotations

import pytest

from core.settings import load_settings
from devices.broker import listener_usernames, service_password
from tests.integration.devices.brokers import Mosquitto, free_port
from xiaoyuan.checks import check_broker

pytestmark = pytest.mark.slow


@pytest.fixture
def mosquitto(tmp_path):
    settings = load_settings(environ={"XIAOYUAN_DATA_DIR": str(tmp_path / "var")})
    broker = Mosquitto(tmp_path / "mosquitto", settings, []).start()
    yield broker, settings
    broker.stop()


def findings(tmp_path, url: str) -> list[tuple[str, str]]:
    settings = load_settings(environ={"XIAOYUAN_DATA_DIR": str(tmp_path / "var"), "XIAOYUAN_MQTT_URL": url})
    return [(p.level, p.message) for p in check_broker(settings)]


def test_the_printed_listener_url_passes(mosquitto, tmp_path):
    broker, settings = mosquitto
    result = findings(tmp_path, broker.url(listener_usernames(settings)[1], service_password(settings)))
    assert [level for level, _ in result] == ["info"]
    assert "accepted" in result[0][1]


def test_a_wrong_password_is_an_error_naming_where_the_right_one_is(mosquitto, tmp_path):
    broker, settings = mosquitto
    (level, message), = findings(tmp_path, broker.url(listener_usernames(settings)[0], "secret"))
    assert level == "error"
    assert "拒绝" in message and "refused" in message and "service.secret" in message


def test_readmes_old_example_user_is_flagged(mosquitto, tmp_path):
    broker, settings = mosquitto
    result = findings(tmp_path, broker.url("listener", service_password(settings)))
    assert [level for level, _ in result] == ["warning", "info"]  # the password is right, the user is not
    assert any("xiaoyuan-listener-1" in message for _, message in result)


def test_an_unreachable_broker_is_an_error(tmp_path):
    (level, message), = findings(tmp_path, f"mqtt://xiaoyuan-listener-1:x@127.0.0.1:{free_port()}")
    assert level == "error" and "连不上" in message
