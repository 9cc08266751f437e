"""DingTalk (钉钉) group robot channel: a JSON POST to the robot webhook, signed with the robot's secret.

Signing ("加签"): `sign = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp_ms}\\n{secret}")))`,
appended as `&timestamp=...&sign=...`; DingTalk rejects a timestamp more than an hour off. The answer is
`{"errcode": 0, "errmsg": "ok"}`; other errcodes fail (rate limits are retried). Like WeCom, the robot
API has no idempotency support; the key travels as an `Idempotency-Key` header.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from typing import Any
from urllib.parse import quote_plus

import requests

from core.clock import Clock, SystemClock
from core.container import Services
from core.notify.base import Delivery, OutgoingMessage, post_json
from core.notify.channels.wecom import addressed_text, delivery_for_robot_answer, mention_mobile, truncate_utf8

NAME = "dingtalk"
TIMEOUT = (5.0, 10.0)
MAX_CONTENT_BYTES = 4000
# errcodes worth retrying: -1 system busy, 130101 sending too fast (20 messages a minute per robot)
TRANSIENT_ERRCODES = frozenset({-1, 130101})
log = logging.getLogger(__name__)


def signature(secret: str, timestamp_ms: int) -> str:
    """The base64 HMAC-SHA256 signature DingTalk expects for a timestamp (not yet URL-encoded)."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode("utf-8"), to_sign, hashlib.sha256).digest()).decode("ascii")


def signed_url(webhook_url: str, secret: str, timestamp_ms: int) -> str:
    """The webhook URL with `timestamp` and `sign` query parameters (unchanged when there is no secret)."""
    if not secret:
        return webhook_url
    separator = "&" if "?" in webhook_url else "?"
    return f"{webhook_url}{separator}timestamp={timestamp_ms}&sign={quote_plus(signature(secret, timestamp_ms))}"


class DingtalkRobotChannel:
    """Posts text messages to one DingTalk group robot."""

    name = NAME

    def __init__(self, webhook_url: str, secret: str, clock: Clock | None = None,
                 http: requests.Session | None = None) -> None:
        self.webhook_url = webhook_url
        self.secret = secret
        self.clock = clock or SystemClock()
        self.http = http or requests.Session()

    def send(self, message: OutgoingMessage) -> Delivery:
        """Post the text, @-mentioning the recipient's mobile when there is one."""
        mobile = mention_mobile(message.recipient_phone)
        payload: dict[str, Any] = {
            "msgtype": "text",
            "text": {"content": truncate_utf8(addressed_text(message), MAX_CONTENT_BYTES)},
            "at": {"atMobiles": [mobile] if mobile else [], "isAtAll": False},
        }
        timestamp_ms = int(self.clock.now().timestamp() * 1000)
        url = signed_url(self.webhook_url, self.secret, timestamp_ms)
        result = post_json(self.http, url, payload, headers={"Idempotency-Key": message.idempotency_key},
                           timeout=TIMEOUT)
        return result if isinstance(result, Delivery) else delivery_for_robot_answer(result, TRANSIENT_ERRCODES)

    def close(self) -> None:
        """Close pooled connections."""
        self.http.close()


def build(services: Services) -> DingtalkRobotChannel | None:
    """The channel when XIAOYUAN_DINGTALK_WEBHOOK_URL is set (XIAOYUAN_DINGTALK_SECRET signs each request)."""
    config = services.settings.dingtalk
    if not config.webhook_url:
        return None
    if not config.secret:
        log.warning("dingtalk channel: XIAOYUAN_DINGTALK_SECRET is empty, requests are not signed")
    return DingtalkRobotChannel(config.webhook_url, config.secret, services.clock)
