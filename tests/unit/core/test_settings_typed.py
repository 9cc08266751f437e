"""Typed, strict settings: every section is a model, unknown keys and variables are errors naming their source."""

from __future__ import annotations

import tomllib

import pytest

from core.bands.config import DevicesSettings
from core.community.config import TvSettings
from core.notify.config import NotifySettings
from core.phone.config import SipSettings, TelephonySettings, VoiceSettings
from core.privacy.config import PrivacySettings
from core.requests.config import OpsSettings, RequestSettings
from core.settings import (
    DEFAULTS_FILE,
    NOT_SETTINGS,
    Settings,
    SettingsError,
    load_settings,
    render_defaults,
    setting_fields,
    variable_name,
)


def _site(tmp_path, text: str) -> dict[str, str]:
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    return {"XIAOYUAN_CONFIG": str(path)}


def test_every_section_is_a_typed_model_of_its_area():
    """No section is an untyped dict: each is the model its area package defines."""
    s = load_settings(environ={})
    for name, model in {"devices": DevicesSettings, "tv": TvSettings, "ops": OpsSettings, "sip": SipSettings,
                        "voice": VoiceSettings, "telephony": TelephonySettings, "notify": NotifySettings,
                        "requests": RequestSettings, "privacy": PrivacySettings}.items():
        assert isinstance(getattr(s, name), model), name
    assert s.devices.thresholds.hr_high == 120 and s.devices.escalation.critical.repeat == 3
    assert s.tv.pairing_code_minutes == 10 and s.voice.menu_tries == 2 and s.ops.digest_hour == 8
    assert not hasattr(s, "section")


def test_unknown_key_in_the_file_names_file_and_key(tmp_path):
    env = _site(tmp_path, "[tv]\nhome_tiels = 5\n")
    with pytest.raises(SettingsError) as err:
        load_settings(environ=env)
    assert "tv.home_tiels" in str(err.value) and env["XIAOYUAN_CONFIG"] in str(err.value)


def test_unknown_section_and_nested_key_are_errors(tmp_path):
    with pytest.raises(SettingsError, match=r"televison"):
        load_settings(environ=_site(tmp_path, "[televison]\nport = 5\n"))
    with pytest.raises(SettingsError, match=r"devices\.thresholds\.hr_hihg"):
        load_settings(environ=_site(tmp_path, "[devices.thresholds]\nhr_hihg = 130\n"))


def test_known_keys_from_the_file_are_typed(tmp_path):
    site = "[devices.escalation.warning]\ntimeout_min = 7\n[tv]\nranking_page_size = 4\n"
    s = load_settings(environ=_site(tmp_path, site))
    assert s.devices.escalation.warning.timeout_min == 7 and s.tv.ranking_page_size == 4
    # the rest of the severity keeps its own defaults, not the generic policy's
    assert s.devices.escalation.warning.kinds == ("family",) and s.devices.escalation.critical.timeout_min == 2


def test_unknown_environment_variable_is_an_error():
    with pytest.raises(SettingsError, match="XIAOYUAN_TV_HOME_TIELS"):
        load_settings(environ={"XIAOYUAN_TV_HOME_TIELS": "5"})


def test_variables_that_are_not_settings_are_allowed():
    """The config file's name and the test suite's switches are not settings and are not refused."""
    env = {"XIAOYUAN_TEST_DATABASE_URL": "postgresql://x/y", "XIAOYUAN_REQUIRE_POSTGRES": "1", "OTHER": "x"}
    assert load_settings(environ=env).web.port == 8000
    assert {"XIAOYUAN_CONFIG", "XIAOYUAN_TEST_DATABASE_URL", "XIAOYUAN_REQUIRE_POSTGRES"} <= NOT_SETTINGS


def test_every_setting_has_a_variable_including_nested_sections():
    names = {variable_name(path) for path, _ in setting_fields()}
    assert {"XIAOYUAN_WEB_PORT", "XIAOYUAN_TV_RANKING_PAGE_SIZE", "XIAOYUAN_DEVICES_THRESHOLDS_HR_HIGH",
            "XIAOYUAN_DEVICES_ESCALATION_CRITICAL_TIMEOUT_MIN", "XIAOYUAN_OPS_DIGEST_HOUR"} <= names
    s = load_settings(environ={"XIAOYUAN_DEVICES_THRESHOLDS_HR_HIGH": "130",
                               "XIAOYUAN_OPS_DIGEST_ROLES": "town,village",
                               "XIAOYUAN_REQUESTS_DUE_HOURS": '{"environment": 1, "find_head": 1, "sell": 1, "job": 1, '
                                                              '"help": 1, "repair": 1, "other": 1}'})
    assert s.devices.thresholds.hr_high == 130 and s.ops.digest_roles == ("town", "village")
    assert s.requests.due_hours["environment"] == 1


@pytest.mark.parametrize("variable", ["XIAOYUAN_WEB_PORT", "XIAOYUAN_BROKER_PORT", "XIAOYUAN_SIP_PORT"])
@pytest.mark.parametrize("value", ["0", "65536", "99999", "-1"])
def test_ports_must_be_1_to_65535(variable, value):
    with pytest.raises(SettingsError, match=variable):
        load_settings(environ={variable: value})
    assert load_settings(environ={variable: "65535"})


def test_a_bad_port_in_the_file_names_the_file(tmp_path):
    env = _site(tmp_path, "[web]\nport = 70000\n")
    with pytest.raises(SettingsError) as err:
        load_settings(environ=env)
    assert "web.port" in str(err.value) and env["XIAOYUAN_CONFIG"] in str(err.value)


@pytest.mark.parametrize(("variable", "value"), [
    ("XIAOYUAN_PUBLIC_BASE_URL", "xy.example.org"),
    ("XIAOYUAN_PUBLIC_BASE_URL", "ftp://xy.example.org"),
    ("XIAOYUAN_TWILIO_API_BASE", "http://"),
    ("XIAOYUAN_MQTT_URL", "http://broker:1883"),
    ("XIAOYUAN_MQTT_URL", "mqtt://broker:99999"),
    ("XIAOYUAN_WECOM_WEBHOOK_URL", "qyapi.weixin.qq.com/cgi-bin/webhook"),
    ("XIAOYUAN_DATABASE_URL", "not a url"),
])
def test_urls_are_validated(variable, value):
    with pytest.raises(SettingsError, match=variable):
        load_settings(environ={variable: value})


def test_good_urls_and_paths_pass():
    s = load_settings(environ={"XIAOYUAN_PUBLIC_BASE_URL": "https://xy.example/", "XIAOYUAN_MQTT_URL": "mqtts://b:8883",
                               "XIAOYUAN_DATABASE_URL": "postgresql://u:p@h:5432/db", "XIAOYUAN_DATA_DIR": "/srv/xy"})
    assert s.public_base_url == "https://xy.example" and s.database_url.startswith("postgresql://")


@pytest.mark.parametrize("value", ["", " /srv/xy"])
def test_paths_are_validated(value):
    with pytest.raises(SettingsError, match="XIAOYUAN_DATA_DIR"):
        load_settings(environ={"XIAOYUAN_DATA_DIR": value})


def test_every_problem_is_reported_at_once(tmp_path):
    env = {**_site(tmp_path, "[tv]\nhome_tiels = 5\n"), "XIAOYUAN_WEB_PORT": "0", "XIAOYUAN_NOPE": "1"}
    with pytest.raises(SettingsError) as err:
        load_settings(environ=env)
    assert len(err.value.problems) == 3


def test_errors_are_chinese_then_english(tmp_path):
    with pytest.raises(SettingsError) as err:
        load_settings(environ=_site(tmp_path, "[tv]\nhome_tiels = 5\n"))
    assert "没有这项设置" in str(err.value) and "unknown setting" in str(err.value)


def test_defaults_file_is_generated_from_the_models():
    """config/defaults.toml documents exactly the models' defaults (regenerate: python -m core.settings)."""
    assert DEFAULTS_FILE.read_text(encoding="utf-8") == render_defaults(), \
        "run: .venv/bin/python -m core.settings > config/defaults.toml"
    assert Settings.model_validate(tomllib.loads(render_defaults())) == Settings()


def test_defaults_file_is_a_valid_config_file():
    """An operator may start from a copy of the defaults: it loads without errors."""
    assert load_settings(environ={"XIAOYUAN_CONFIG": str(DEFAULTS_FILE)}) == load_settings(environ={})


def test_flags_from_the_environment():
    assert load_settings(environ={"XIAOYUAN_WEB_SECURE_COOKIES": "yes"}).web.secure_cookies is True
    assert load_settings(environ={"XIAOYUAN_VOICE_PUSH_RESULT": ""}).voice.push_result is False
    with pytest.raises(SettingsError, match="XIAOYUAN_WEB_SECURE_COOKIES"):
        load_settings(environ={"XIAOYUAN_WEB_SECURE_COOKIES": "maybe"})
