"""The `cmd` downlink payload: what a band is told, and what it refuses to be told."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core.errors import InvalidInput
from devices.commands import build_command, cmd_topic, parse_command

NOW = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


def build(**kw):
    args = {"root": "xiaoyuan/v1/", "site": "hut1", "device_id": "864001", "cmd": "measure_now", "now": NOW,
            "command_id": "c1"}
    return build_command(**{**args, **kw})


def test_measure_now_goes_to_the_bands_own_cmd_topic_with_ts_and_id():
    command = build()
    assert command.topic == "xiaoyuan/v1/hut1/band/864001/cmd"
    assert json.loads(command.encode()) == {"ts": int(NOW.timestamp()), "id": "c1", "cmd": "measure_now"}


@pytest.mark.parametrize("seconds", [30, 300, 3600])
def test_set_interval_carries_the_interval(seconds):
    assert build(cmd="set_interval", interval_s=seconds).payload["interval_s"] == seconds


@pytest.mark.parametrize("seconds", [29, 0, -60, 3601, 86400, True])
def test_set_interval_outside_30_to_3600_seconds_is_refused_in_both_languages(seconds):
    with pytest.raises(InvalidInput) as err:
        build(cmd="set_interval", interval_s=seconds)
    assert err.value.text("zh") == "上报间隔应在30到3600秒之间" and "30–3600 s" in err.value.text("en")


def test_set_interval_without_seconds_and_measure_now_with_seconds_are_refused():
    with pytest.raises(InvalidInput):
        build(cmd="set_interval")
    with pytest.raises(InvalidInput):
        build(cmd="measure_now", interval_s=60)


def test_unknown_command_is_refused():
    with pytest.raises(InvalidInput):
        build(cmd="reboot")


@pytest.mark.parametrize("device_id", ["+", "#", "a/b", "", "x"])
def test_a_device_id_that_would_widen_the_topic_is_refused(device_id):
    with pytest.raises(InvalidInput):
        cmd_topic("xiaoyuan/v1", "hut1", device_id)


def test_a_band_parses_what_the_service_builds():
    command = build(cmd="set_interval", interval_s=120)
    assert parse_command(command.encode()) == command.payload


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'{"cmd": "measure_now"}', b'{"id": "1", "cmd": "reboot"}',
                                 b'{"id": "1", "cmd": "set_interval"}', b'{"id": "1", "cmd": "set_interval", '
                                 b'"interval_s": 5}', b'{"id": "1", "cmd": "set_interval", "interval_s": "60"}',
                                 b"\xff\xfe"])
def test_a_band_ignores_malformed_commands(raw):
    assert parse_command(raw) is None
