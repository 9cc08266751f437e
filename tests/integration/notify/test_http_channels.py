"""Each HTTP channel against a real HTTP server on loopback: what goes over the wire and how answers are read."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
from dataclasses import replace
from urllib.parse import unquote_plus

import pytest
import sqlalchemy as sa

from core.clock import FakeClock
from core.models.outbox import OutboxMessage
from core.notify.base import OutgoingMessage
from core.notify.channels.dingtalk import DingtalkRobotChannel
from core.notify.channels.twilio_sms import IDEMPOTENCY_HEADER, TwilioSmsChannel
from core.notify.channels.webhook import WebhookChannel
from core.notify.channels.wecom import WecomRobotChannel
from core.notify.dispatcher import Dispatcher, channel_idempotency_key
from tests.integration.notify.sink import Sink, twilio_messages_responder

SID = "AC" + "0" * 32
TOKEN = "twilio-test-token"


def _message(**changes) -> OutgoingMessage:
    message = OutgoingMessage(
        id=7, idempotency_key="k" * 32 + "-x", channel="x", recipient_name="李院长", recipient_phone="+8613900000001",
        recipient_user_id=3, template="request.assigned", params={"request_id": 12}, text="您有一条新的工单：修路灯",
        priority=3, attempts=0, subject_type="request", subject_id=12,
    )
    return replace(message, **changes)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- webhook


def test_webhook_posts_signed_json_with_idempotency_key(sink) -> None:
    """The receiver can verify the body came from us (HMAC of the exact bytes) and drop repeated keys."""
    channel = WebhookChannel(sink.url + "/hook", "s3cret")
    try:
        delivery = channel.send(_message())
    finally:
        channel.close()
    assert delivery.ok and not delivery.not_sent
    (request,) = sink.snapshot()
    expected = "sha256=" + hmac.new(b"s3cret", request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-xiaoyuan-signature"] == expected
    assert request.headers["idempotency-key"] == "k" * 32 + "-x"
    body = request.json()
    assert body["idempotency_key"] == "k" * 32 + "-x"
    assert body["text"] == "您有一条新的工单：修路灯"
    assert body["recipient"] == {"name": "李院长", "phone": "+8613900000001", "user_id": 3}
    assert body["subject"] == {"type": "request", "id": 12}


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(500, False), (503, False), (429, False), (408, False), (400, True), (401, True), (404, True)],
)
def test_webhook_status_codes_decide_retry_or_give_up(sink, status: int, permanent: bool) -> None:
    """5xx, 408 and 429 are worth retrying; other 4xx will not get better by retrying."""
    sink.fail(1, status=status)
    channel = WebhookChannel(sink.url, "s")
    try:
        delivery = channel.send(_message())
    finally:
        channel.close()
    assert (delivery.ok, delivery.permanent) == (False, permanent)
    assert str(status) in delivery.error


def test_webhook_unreachable_is_transient() -> None:
    """A receiver that is down is retried later, not given up on."""
    channel = WebhookChannel(f"http://127.0.0.1:{_free_port()}/hook?token=secret-value", "s")
    try:
        delivery = channel.send(_message())
    finally:
        channel.close()
    assert not delivery.ok and not delivery.permanent
    assert "secret-value" not in delivery.error  # URLs with keys never reach logs or the console


def test_webhook_provider_reference_from_answer(sink) -> None:
    """When the receiver answers with an id, it is kept as the provider reference."""
    sink.default = (202, b'{"id": "evt_123"}', "application/json")
    channel = WebhookChannel(sink.url, "s")
    try:
        assert channel.send(_message()).provider_ref == "evt_123"
    finally:
        channel.close()


# --- WeCom


def test_wecom_robot_text_mentions_mobile(sink) -> None:
    """The group sees who the message is for, and the recipient's phone is @-mentioned (national form)."""
    sink.default = (200, b'{"errcode":0,"errmsg":"ok"}', "application/json")
    channel = WecomRobotChannel(sink.url + "/cgi-bin/webhook/send?key=robot-key")
    try:
        delivery = channel.send(_message())
    finally:
        channel.close()
    assert delivery.ok
    (request,) = sink.snapshot()
    assert request.query == {"key": ["robot-key"]}
    assert request.json() == {
        "msgtype": "text",
        "text": {"content": "【李院长】您有一条新的工单：修路灯", "mentioned_mobile_list": ["13900000001"]},
    }
    assert request.headers["idempotency-key"] == "k" * 32 + "-x"


def test_wecom_landline_recipient_is_not_mentioned(sink) -> None:
    """A landline cannot be @-mentioned; the message still goes to the group."""
    sink.default = (200, b'{"errcode":0,"errmsg":"ok"}', "application/json")
    channel = WecomRobotChannel(sink.url)
    try:
        assert channel.send(_message(recipient_phone="+862346712345")).ok
    finally:
        channel.close()
    assert "mentioned_mobile_list" not in sink.snapshot()[0].json()["text"]


@pytest.mark.parametrize(("errcode", "permanent"), [(93000, True), (40008, True), (45009, False), (-1, False)])
def test_wecom_errcode_is_a_failure(sink, errcode: int, permanent: bool) -> None:
    """HTTP 200 with errcode != 0 is not delivered; the rate limit (45009) is retried, a bad key is not."""
    sink.default = (200, json.dumps({"errcode": errcode, "errmsg": "x"}).encode(), "application/json")
    channel = WecomRobotChannel(sink.url)
    try:
        delivery = channel.send(_message())
    finally:
        channel.close()
    assert (delivery.ok, delivery.permanent) == (False, permanent)
    assert f"errcode {errcode}" in delivery.error


# --- DingTalk


def test_dingtalk_request_is_signed_as_dingtalk_verifies(sink) -> None:
    """DingTalk accepts a robot call only with timestamp + sign = base64(HMAC-SHA256(secret, ts\\nsecret))."""
    sink.default = (200, b'{"errcode":0,"errmsg":"ok"}', "application/json")
    clock = FakeClock()
    secret = "SEC0123456789abcdef"
    channel = DingtalkRobotChannel(sink.url + "/robot/send?access_token=tok", secret, clock)
    try:
        assert channel.send(_message()).ok
    finally:
        channel.close()
    (request,) = sink.snapshot()
    timestamp = request.query["timestamp"][0]
    assert int(timestamp) == int(clock.now().timestamp() * 1000)
    assert request.query["access_token"] == ["tok"]
    # Verify the way the DingTalk server does (parse_qs has already URL-decoded the sign once).
    expected = base64.b64encode(hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest())
    assert request.query["sign"][0] == expected.decode()
    body = request.json()
    assert body["msgtype"] == "text"
    assert body["text"]["content"] == "【李院长】您有一条新的工单：修路灯"
    assert body["at"] == {"atMobiles": ["13900000001"], "isAtAll": False}


def test_dingtalk_sign_mismatch_gives_up(sink) -> None:
    """errcode 310000 (sign not match) is a configuration problem: fall back, do not retry."""
    sink.default = (200, b'{"errcode":310000,"errmsg":"sign not match"}', "application/json")
    channel = DingtalkRobotChannel(sink.url, "wrong", FakeClock())
    try:
        delivery = channel.send(_message())
    finally:
        channel.close()
    assert not delivery.ok and delivery.permanent and "310000" in delivery.error


def test_dingtalk_sign_survives_url_encoding_of_plus_and_slash() -> None:
    """A signature containing + / = is URL-encoded so the server decodes exactly what was signed."""
    from core.notify.channels.dingtalk import signature, signed_url

    for ts in range(1_700_000_000_000, 1_700_000_000_200):
        raw = signature("SECx", ts)
        if "+" in raw or "/" in raw:
            url = signed_url("https://oapi.example/robot/send?access_token=t", "SECx", ts)
            assert unquote_plus(url.split("sign=")[1]) == raw
            return
    pytest.fail("no signature with + or / found in range")


# --- Twilio SMS through the real twilio library


@pytest.fixture
def twilio_sink():
    """A fake Twilio Messages API."""
    with Sink(responder=twilio_messages_responder(SID)) as running:
        yield running


def test_twilio_sms_goes_through_real_client_with_idempotency_token(twilio_sink) -> None:
    """The twilio library posts To/From/Body with basic auth to the configured API base and the token header."""
    channel = TwilioSmsChannel(SID, TOKEN, "+15005550006", api_base=twilio_sink.url)
    try:
        delivery = channel.send(_message())
    finally:
        channel.close()
    assert delivery.ok and delivery.provider_ref.startswith("SM")
    (request,) = twilio_sink.snapshot()
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.form() == {"To": ["+8613900000001"], "From": ["+15005550006"], "Body": ["您有一条新的工单：修路灯"]}
    assert request.headers[IDEMPOTENCY_HEADER.lower()] == "k" * 32 + "-x"
    assert request.headers["idempotency-key"] == "k" * 32 + "-x"
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()


def test_twilio_invalid_number_gives_up_and_server_error_retries(twilio_sink) -> None:
    """Twilio 21211 (400, invalid 'To') is permanent; a 500 is retried; neither leaks the number into the error."""
    channel = TwilioSmsChannel(SID, TOKEN, "+15005550006", api_base=twilio_sink.url)
    twilio_sink.fail(1, status=400, body=json.dumps({
        "code": 21211, "message": "The 'To' number +8613900000001 is not a valid phone number.", "status": 400,
    }).encode())
    twilio_sink.fail(1, status=500, body=b"oops", content_type="text/plain")
    try:
        invalid = channel.send(_message())
        broken = channel.send(_message())
    finally:
        channel.close()
    assert (invalid.ok, invalid.permanent) == (False, True)
    assert "21211" in invalid.error and "+8613900000001" not in invalid.error
    assert (broken.ok, broken.permanent) == (False, False)


def test_twilio_recipient_without_phone_is_permanent_and_sends_nothing(twilio_sink) -> None:
    """Someone without a phone cannot get an SMS: fall back at once, no API call."""
    channel = TwilioSmsChannel(SID, TOKEN, "+15005550006", api_base=twilio_sink.url)
    try:
        delivery = channel.send(_message(recipient_phone=None))
    finally:
        channel.close()
    assert (delivery.ok, delivery.permanent) == (False, True)
    assert twilio_sink.count == 0


def test_twilio_unreachable_is_transient() -> None:
    """Twilio (or the provider) being unreachable is retried."""
    channel = TwilioSmsChannel(SID, TOKEN, "+15005550006", api_base=f"http://127.0.0.1:{_free_port()}")
    try:
        delivery = channel.send(_message())
    finally:
        channel.close()
    assert not delivery.ok and not delivery.permanent


# --- through the dispatcher, configured from settings


def test_dispatcher_uses_configured_channels_from_settings(make_services, enqueue, session_factory,
                                                           twilio_sink, sink) -> None:
    """SMS via the Twilio API base, falling back to the webhook when Twilio gives up; keys differ per channel."""
    twilio_sink.responder = twilio_messages_responder(SID, {"+862346712345": (400, 21614, "not a mobile number")})
    services = make_services(
        twilio={"account_sid": SID, "auth_token": TOKEN, "from_number": "+15005550006", "api_base": twilio_sink.url},
        webhook={"url": sink.url + "/hook", "secret": "s"},
    )
    sms_ok = enqueue("短信一", channels=("twilio_sms", "webhook"))
    sms_landline = enqueue("短信二", phone="+862346712345", channels=("twilio_sms", "webhook"))
    dispatcher = Dispatcher(services)
    try:
        assert dispatcher.run_once() == 2
    finally:
        dispatcher.close()
    with session_factory() as session:
        rows = {row.id: row for row in session.scalars(sa.select(OutboxMessage))}
    assert (rows[sms_ok].status, rows[sms_ok].channel) == ("sent", "twilio_sms")
    assert rows[sms_ok].provider_ref.startswith("SM")
    assert (rows[sms_landline].status, rows[sms_landline].channel) == ("sent", "webhook")
    assert "21614" in rows[sms_landline].last_error
    twilio_keys = [r.headers[IDEMPOTENCY_HEADER.lower()] for r in twilio_sink.snapshot()]
    webhook_keys = [r.headers["idempotency-key"] for r in sink.snapshot()]
    assert sorted(twilio_keys) == sorted([channel_idempotency_key(rows[i].idempotency_key, "twilio_sms")
                                          for i in (sms_ok, sms_landline)])
    assert webhook_keys == [channel_idempotency_key(rows[sms_landline].idempotency_key, "webhook")]


def test_run_forever_wakes_up_early_when_asked(make_services, enqueue, sink) -> None:
    """An urgent message enqueued in the same process need not wait for the next tick: wake() sends it now."""
    services = make_services(webhook={"url": sink.url, "secret": "s"})
    dispatcher = Dispatcher(services)
    stop = threading.Event()
    worker = threading.Thread(target=dispatcher.run_forever, args=(stop,), kwargs={"tick_s": 3600})
    worker.start()
    try:
        enqueue("一键呼叫", channels=("webhook",), priority=0)
        dispatcher.wake()
        assert sink.wait_for(lambda records: len(records) == 1, timeout=30)
    finally:
        stop.set()
        worker.join(timeout=10)
        dispatcher.close()
    assert not worker.is_alive()
