"""企业微信 (WeCom) group robot channel: a JSON POST to the robot's webhook, mentioning the recipient by mobile.

The robot answers HTTP 200 with `{"errcode": 0, "errmsg": "ok"}`; any other errcode is a failure (rate
limit and "system busy" are retried, the rest give up on this channel). The robot API has no idempotency
support: the key travels as an `Idempotency-Key` header for proxies that honour it, so a crash between
send and mark can repeat one group message.
"""

from __future__ import annotations

from typing import Any

import requests

from core.container import Services
from core.notify.base import Delivery, OutgoingMessage, post_json, redact

NAME = "wecom"
TIMEOUT = (5.0, 10.0)
MAX_CONTENT_BYTES = 2048  # the robot rejects longer text
# errcodes worth retrying: -1 system busy, 45009 API frequency limit (20 messages a minute per robot)
TRANSIENT_ERRCODES = frozenset({-1, 45009, 45033})


def mention_mobile(phone: str | None) -> str | None:
    """The mainland mobile number (11 digits, no +86) a robot can @-mention, or None (landline, none, abroad)."""
    if not phone or not phone.startswith("+86"):
        return None
    national = phone[3:]
    return national if len(national) == 11 and national.startswith("1") and national.isdigit() else None


def addressed_text(message: OutgoingMessage) -> str:
    """The message text addressed to its recipient (a group sees who it is for)."""
    return f"【{message.recipient_name}】{message.text}" if message.recipient_name else message.text


def truncate_utf8(text: str, limit: int) -> str:
    """Cut text to at most `limit` UTF-8 bytes without breaking a character."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[: limit - 3].decode("utf-8", errors="ignore") + "…"


def delivery_for_robot_answer(response: requests.Response,
                              transient_codes: frozenset[int] = TRANSIENT_ERRCODES) -> Delivery:
    """Turn a robot's `{"errcode", "errmsg"}` answer into a Delivery (codes in `transient_codes` are retried)."""
    try:
        answer: Any = response.json()
    except ValueError:
        return Delivery(ok=False, error="answer is not JSON")
    code = answer.get("errcode") if isinstance(answer, dict) else None
    if code == 0:
        return Delivery(ok=True)
    if not isinstance(code, int):
        return Delivery(ok=False, error="answer has no errcode")
    error = redact(f"errcode {code}: {answer.get('errmsg', '')}")
    return Delivery(ok=False, permanent=code not in transient_codes, error=error)


class WecomRobotChannel:
    """Posts text messages to one WeCom group robot."""

    name = NAME

    def __init__(self, webhook_url: str, http: requests.Session | None = None) -> None:
        self.webhook_url = webhook_url
        self.http = http or requests.Session()

    def send(self, message: OutgoingMessage) -> Delivery:
        """Post the text, @-mentioning the recipient's mobile when there is one."""
        text: dict[str, Any] = {"content": truncate_utf8(addressed_text(message), MAX_CONTENT_BYTES)}
        mobile = mention_mobile(message.recipient_phone)
        if mobile:
            text["mentioned_mobile_list"] = [mobile]
        result = post_json(self.http, self.webhook_url, {"msgtype": "text", "text": text},
                           headers={"Idempotency-Key": message.idempotency_key}, timeout=TIMEOUT)
        return result if isinstance(result, Delivery) else delivery_for_robot_answer(result)

    def close(self) -> None:
        """Close pooled connections."""
        self.http.close()


def build(services: Services) -> WecomRobotChannel | None:
    """The channel when XIAOYUAN_WECOM_WEBHOOK_URL is set."""
    url = services.settings.wecom.webhook_url
    return WecomRobotChannel(url) if url else None
