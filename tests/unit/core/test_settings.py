"""Settings layering: defaults < XIAOYUAN_CONFIG file < XIAOYUAN_* environment."""

import pytest

from core.settings import SettingsError, load_settings


def test_embedded_defaults_need_no_configuration():
    """With nothing configured: SQLite in the data dir, dry-run telephony, embedded broker, port 8000."""
    s = load_settings(environ={})
    assert s.web.port == 8000
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith("xiaoyuan.db")
    assert s.telephony.provider == "dryrun"
    assert s.mqtt.url == ""
    assert s.broker.port == 18830  # not 1883: the system Mosquitto that make setup starts holds that


def test_file_overrides_defaults_and_environment_overrides_file(tmp_path):
    """An operator's file beats the defaults; an environment variable beats the file."""
    cfg = tmp_path / "site.toml"
    cfg.write_text('[web]\nport = 9100\n[telephony]\nprovider = "twilio"\n', encoding="utf-8")
    s = load_settings(environ={"XIAOYUAN_CONFIG": str(cfg), "XIAOYUAN_WEB_PORT": "9200"})
    assert s.web.port == 9200
    assert s.telephony.provider == "twilio"


def test_documented_variable_names_are_honoured():
    """The names DESIGN.md promises to operators and scripts all work."""
    env = {
        "XIAOYUAN_WEB_HOST": "0.0.0.0", "XIAOYUAN_DATA_DIR": "/srv/xy", "XIAOYUAN_DATABASE_URL": "postgresql://x/y",
        "XIAOYUAN_MQTT_URL": "mqtt://broker:1883", "XIAOYUAN_BROKER_PORT": "1999",
        "XIAOYUAN_TELEPHONY_PROVIDER": "twilio", "XIAOYUAN_TWILIO_ACCOUNT_SID": "AC1",
        "XIAOYUAN_TWILIO_AUTH_TOKEN": "t", "XIAOYUAN_TWILIO_FROM_NUMBER": "+8623000",
        "XIAOYUAN_TWILIO_API_BASE": "http://127.0.0.1:9", "XIAOYUAN_PUBLIC_BASE_URL": "https://xy.example/",
        "XIAOYUAN_VOSK_MODEL": "/models/cn",
    }
    s = load_settings(environ=env)
    assert (s.web.host, str(s.data_dir), s.database_url) == ("0.0.0.0", "/srv/xy", "postgresql://x/y")
    assert (s.mqtt.url, s.broker.port, s.telephony.provider) == ("mqtt://broker:1883", 1999, "twilio")
    assert (s.twilio.account_sid, s.twilio.api_base, s.vosk.model) == ("AC1", "http://127.0.0.1:9", "/models/cn")
    assert s.public_base_url == "https://xy.example"


def test_bad_values_are_reported_in_plain_words(tmp_path):
    """A non-number port or a missing config file is a clear error naming the variable."""
    with pytest.raises(SettingsError, match="XIAOYUAN_WEB_PORT"):
        load_settings(environ={"XIAOYUAN_WEB_PORT": "eighty"})
    with pytest.raises(SettingsError, match="missing file"):
        load_settings(environ={"XIAOYUAN_CONFIG": str(tmp_path / "nope.toml")})


def test_settings_are_frozen():
    """Nobody can change settings at run time by accident."""
    s = load_settings(environ={})
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError for frozen models
        s.web.port = 1


def test_fractional_values_for_integer_defaults_are_accepted():
    """XIAOYUAN_WORKER_TICK_SECONDS=0.5 works although the default is written as 5."""
    s = load_settings(environ={"XIAOYUAN_WORKER_TICK_SECONDS": "0.5", "XIAOYUAN_NOTIFY_BACKOFF_BASE_S": "2.5"})
    assert s.worker.tick_seconds == 0.5 and s.notify.backoff_base_s == 2.5
    with pytest.raises(SettingsError):
        load_settings(environ={"XIAOYUAN_WEB_PORT": "80.5"})
