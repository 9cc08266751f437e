"""`xiaoyuan check`'s rules that need no database: the cause of a failed connection, busy and shared ports, channels."""

from __future__ import annotations

import socket

import pytest

from core.settings import load_settings
from tests.processes import free_port
from xiaoyuan.checks import check_messaging, check_ports, check_speech, check_telephony, database_failure_cause


class _DriverError(Exception):
    """Stands in for sqlalchemy's OperationalError: the driver's exception is `orig`."""

    def __init__(self, message: str) -> None:
        super().__init__("(psycopg.OperationalError) wrapped")
        self.orig = Exception(message)


@pytest.mark.parametrize(("message", "cause"), [
    ('connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused', "host"),
    ("failed to resolve host 'db.example': [Errno -2] Name or service not known", "host"),
    ("connection failed: timeout expired", "host"),
    ('connection failed: ... FATAL:  password authentication failed for user "xy"', "auth"),
    ('connection failed: ... FATAL:  role "nobody" does not exist', "auth"),
    ('connection failed: ... FATAL:  database "xiaoyuan" does not exist', "missing"),
    ("unable to open database file", "missing"),
    ("something else entirely", "other"),
])
def test_database_failure_cause(message, cause):
    assert database_failure_cause(_DriverError(message)) == cause


def test_free_ports_pass():
    env = {"XIAOYUAN_WEB_PORT": str(free_port()), "XIAOYUAN_BROKER_PORT": str(free_port())}
    settings = load_settings(environ=env)
    assert check_ports(settings) == []


def test_a_busy_broker_port_is_an_error_only_for_the_embedded_broker():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        busy = str(holder.getsockname()[1])
        env = {"XIAOYUAN_WEB_PORT": str(free_port()), "XIAOYUAN_BROKER_PORT": busy}
        problems = check_ports(load_settings(environ=env))
        assert [p.level for p in problems] == ["error"] and "XIAOYUAN_BROKER_PORT" in problems[0].message
        external = check_ports(load_settings(environ={**env, "XIAOYUAN_MQTT_URL": "mqtt://broker:1883"}))
        assert external == []


def test_a_busy_sip_port_is_found_over_udp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        busy = str(holder.getsockname()[1])
        env = {"XIAOYUAN_WEB_PORT": str(free_port()), "XIAOYUAN_BROKER_PORT": str(free_port()),
               "XIAOYUAN_TELEPHONY_PROVIDER": "sip", "XIAOYUAN_SIP_PORT": busy}
        problems = check_ports(load_settings(environ=env))
    assert len(problems) == 1 and "XIAOYUAN_SIP_PORT" in problems[0].message


def test_two_services_on_one_port_is_an_error():
    port = str(free_port())
    problems = check_ports(load_settings(environ={"XIAOYUAN_WEB_PORT": port, "XIAOYUAN_BROKER_PORT": port}))
    assert len(problems) == 1
    assert "XIAOYUAN_WEB_PORT" in problems[0].message and "XIAOYUAN_BROKER_PORT" in problems[0].message


def test_a_robot_channel_without_its_url_names_the_variable_to_set():
    settings = load_settings(environ={"XIAOYUAN_NOTIFY_DEFAULT_CHANNELS": "wecom,dingtalk,webhook",
                                      "XIAOYUAN_DINGTALK_WEBHOOK_URL": "https://oapi.dingtalk.com/robot/send?x=1"})
    errors = [p.message for p in check_messaging(settings) if p.level == "error"]
    assert len(errors) == 2
    assert "XIAOYUAN_WECOM_WEBHOOK_URL" in errors[0] and "XIAOYUAN_WEBHOOK_URL" in errors[1]


@pytest.mark.parametrize(("channels", "errors"), [
    ("dryrun,twilio_sms,voice_call", 0),  # every channel a message can go out by
    ("wecom,dingtalk,webhook", 3),  # real channels, but their URLs are missing (the test above)
    ("default", 1),  # a row's channel, expanded to these defaults: not a channel itself
    ("sms", 1),
])
def test_default_channels_are_checked_against_the_dispatchers_channels(channels, errors):
    settings = load_settings(environ={"XIAOYUAN_NOTIFY_DEFAULT_CHANNELS": channels})
    assert len([p for p in check_messaging(settings) if p.level == "error"]) == errors


def test_the_hang_up_channel_is_named_as_one_that_sends_no_message():
    """call_hangup is a channel of the outbox, but it only ends calls: every message sent by it would fail."""
    settings = load_settings(environ={"XIAOYUAN_NOTIFY_DEFAULT_CHANNELS": "call_hangup,dryrun"})
    errors = [p.message for p in check_messaging(settings) if p.level == "error"]
    assert len(errors) == 1 and "call_hangup" in errors[0] and "未知" not in errors[0]


def test_a_sip_line_without_a_speech_model_is_reported_once():
    """check_speech already says the phone works by keypad and messages only; check_sip said it again."""
    settings = load_settings(environ={"XIAOYUAN_TELEPHONY_PROVIDER": "sip"})
    problems = check_telephony(settings) + check_speech(settings)  # as run_checks adds them up
    speech = [p.message for p in problems if "语音识别" in p.message]
    assert len(speech) == 1, speech
