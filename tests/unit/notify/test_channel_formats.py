"""What the channels put on the wire and how they read answers, without any network."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from core.notify.base import OutgoingMessage, delivery_for_http_status, json_body, redact
from core.notify.channels import dingtalk, twilio_sms, webhook, wecom

MESSAGE = OutgoingMessage(
    id=1, idempotency_key="key-webhook", channel="webhook", recipient_name="王小明", recipient_phone="+8613800001234",
    recipient_user_id=None, template="help.call", params={"resident": "王奶奶"}, text="王奶奶按了一键呼叫", priority=0,
    attempts=0, subject_type="help_call", subject_id=5,
)


def _response(status: int, body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    return response


def test_redact_removes_keys_and_phone_numbers() -> None:
    """Robot keys, tokens and full phone numbers never reach a log line or the console."""
    text = "POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6 failed for +8613800001234 (url: /x?t=1)"
    cleaned = redact(text)
    assert "693a91f6" not in cleaned and "t=1" not in cleaned
    assert "13800001234" not in cleaned and "***1234" in cleaned
    assert cleaned.startswith("POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?…")


@pytest.mark.parametrize(("status", "expected"), [
    (200, None), (204, None), (301, "permanent"), (400, "permanent"), (403, "permanent"), (408, "transient"),
    (425, "transient"), (429, "transient"), (500, "transient"), (502, "transient"),
])
def test_http_status_classification(status: int, expected: str | None) -> None:
    """2xx delivered; 408/425/429/5xx retried; any other answer (incl. redirects, not followed) gives up."""
    delivery = delivery_for_http_status(status)
    if expected is None:
        assert delivery is None
    else:
        assert delivery is not None and not delivery.ok
        assert delivery.permanent == (expected == "permanent")


def test_webhook_signature_is_hmac_of_exact_body() -> None:
    """Receivers verify `sha256=<hex>` over the raw body with the shared secret."""
    body = json_body(webhook.payload_for(MESSAGE))
    assert webhook.sign_body("secret", body) == "sha256=" + hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert "王奶奶按了一键呼叫".encode() in body  # Chinese kept readable, UTF-8


def test_webhook_payload_is_the_same_for_every_resend() -> None:
    """A re-sent message has byte-identical body (so its signature and key match the first send)."""
    assert json_body(webhook.payload_for(MESSAGE)) == json_body(webhook.payload_for(MESSAGE))


@pytest.mark.parametrize(("phone", "mobile"), [
    ("+8613800001234", "13800001234"), ("+862346712345", None), ("+14155550100", None), (None, None), ("", None),
])
def test_only_mainland_mobiles_are_mentioned(phone: str | None, mobile: str | None) -> None:
    """Robots @-mention by 11-digit mainland mobile; landlines and foreign numbers are not mentioned."""
    assert wecom.mention_mobile(phone) == mobile


def test_long_text_is_cut_on_a_character_boundary() -> None:
    """WeCom rejects text over 2048 bytes: cut without breaking a Chinese character."""
    cut = wecom.truncate_utf8("院" * 1000, 2048)
    assert len(cut.encode("utf-8")) <= 2048 and cut.endswith("…")
    assert wecom.truncate_utf8("短", 2048) == "短"


@pytest.mark.parametrize(("body", "ok", "permanent"), [
    (b'{"errcode":0,"errmsg":"ok"}', True, False),
    (b'{"errcode":93000,"errmsg":"invalid webhook url"}', False, True),
    (b'{"errcode":45009,"errmsg":"api freq out of limit"}', False, False),
    (b'{"errcode":130101,"errmsg":"send too fast"}', False, True),
    (b"<html>gateway</html>", False, False),
    (b'{"ok":true}', False, False),
])
def test_robot_answers(body: bytes, ok: bool, permanent: bool) -> None:
    """A robot's HTTP 200 is only a success with errcode 0."""
    delivery = wecom.delivery_for_robot_answer(_response(200, body))
    assert (delivery.ok, delivery.permanent) == (ok, permanent)


def test_dingtalk_rate_limit_is_retried() -> None:
    """DingTalk's "send too fast" (130101) is retried rather than given up."""
    assert 130101 in dingtalk.TRANSIENT_ERRCODES
    delivery = wecom.delivery_for_robot_answer(_response(200, b'{"errcode":130101,"errmsg":"send too fast"}'),
                                               dingtalk.TRANSIENT_ERRCODES)
    assert not delivery.ok and not delivery.permanent


def test_dingtalk_signature_matches_the_published_algorithm() -> None:
    """Known vector: timestamp 1700000000000, secret SECabc (computed with DingTalk's Python sample)."""
    assert dingtalk.signature("SECabc", 1700000000000) == "jcUpW0QmtKduN03n4JqQ0PBosVjqnM8gU7fIIvsDmCM="
    url = dingtalk.signed_url("https://oapi.dingtalk.com/robot/send?access_token=t", "SECabc", 1700000000000)
    query = parse_qs(urlsplit(url).query)
    assert query == {"access_token": ["t"], "timestamp": ["1700000000000"],
                     "sign": ["jcUpW0QmtKduN03n4JqQ0PBosVjqnM8gU7fIIvsDmCM="]}
    assert dingtalk.signed_url("https://x/robot?access_token=t", "", 1) == "https://x/robot?access_token=t"


@pytest.mark.parametrize(("status", "code", "permanent"), [(400, 21211, True), (400, 21610, True),
                                                           (401, 20003, True), (429, 20429, False),
                                                           (500, 20500, False), (503, 20503, False)])
def test_twilio_errors_by_status(status: int, code: int, permanent: bool) -> None:
    """Twilio's 4xx (invalid or unsubscribed number, bad credentials) gives up; 429 and 5xx are retried."""
    exc = TwilioRestException(status, "https://api.twilio.com/x", msg="The 'To' number +8613800001234 is bad",
                              code=code)
    delivery = twilio_sms.delivery_for_twilio_error(exc)
    assert (delivery.ok, delivery.permanent) == (False, permanent)
    assert str(code) in delivery.error and "13800001234" not in delivery.error
