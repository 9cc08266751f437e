"""`band add` / `broker reload` with XIAOYUAN_BROKER_EXPORT_DIR set but no XIAOYUAN_MQTT_URL in the shell:
they refuse plainly instead of updating the private broker's files and saying nothing (the deployed broker
would then refuse the new band)."""

from __future__ import annotations

from click.testing import CliRunner

from xiaoyuan.cli import _load_command_modules, cli


def _env(db_url: str, tmp_path) -> dict[str, str]:
    return {"XIAOYUAN_DATA_DIR": str(tmp_path / "var"), "XIAOYUAN_CONFIG": "", "XIAOYUAN_DATABASE_URL": db_url,
            "XIAOYUAN_BROKER_EXPORT_DIR": str(tmp_path / "etc"), "XIAOYUAN_MQTT_URL": ""}


def test_band_add_for_a_deployed_broker_without_its_url_says_which_variable_is_missing(db_url, tmp_path):
    _load_command_modules()
    result = CliRunner().invoke(cli, ["band", "add", "--device-id", "865000000000009", "--site", "hut1"],
                                env=_env(db_url, tmp_path))
    assert result.exit_code == 1, result.output
    assert "XIAOYUAN_MQTT_URL" in result.output and "XIAOYUAN_BROKER_EXPORT_DIR" in result.output
    assert not (tmp_path / "var" / "broker" / "passwd").exists()  # the private broker's files are not the target
    assert "band-865000000000009" in result.output and "密码" in result.output  # the registered band's secret shown


def test_broker_reload_without_the_broker_url_says_so(db_url, tmp_path):
    _load_command_modules()
    result = CliRunner().invoke(cli, ["broker", "reload"], env=_env(db_url, tmp_path))
    assert result.exit_code == 1, result.output
    assert "XIAOYUAN_MQTT_URL" in result.output
