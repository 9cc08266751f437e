"""The notify area's typed settings: `[notify]` (outbox dispatch) and each channel's section (wecom, dingtalk, webhook).

Defaults are defined here once.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from core.settings_types import HttpUrlOrEmpty, Section


class NotifySettings(Section):
    """How outbound messages are sent."""

    default_channels: tuple[str, ...] = Field(
        ("dryrun",), description="channels tried in order when the recipient has no preference")
    max_attempts: int = Field(6, ge=1)
    concurrency: int = Field(4, ge=1, description="messages sent in parallel (providers take 50–300 ms); 1 keeps order")
    backoff_base_s: float = Field(10, gt=0)
    backoff_max_s: float = Field(3600, gt=0)
    urgent_poll_s: float = Field(0.25, ge=0, le=60, description="between ticks the dispatcher looks this often for "
                                 "due critical/urgent rows (an SOS from a listener in another process); 0: off")

    @field_validator("default_channels", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


class WecomSettings(Section):
    """企业微信 group robot."""

    webhook_url: HttpUrlOrEmpty = ""


class DingtalkSettings(Section):
    """钉钉 group robot (signed when a secret is set)."""

    webhook_url: HttpUrlOrEmpty = ""
    secret: str = ""


class WebhookSettings(Section):
    """A generic HTTPS webhook (HMAC-signed when a secret is set)."""

    url: HttpUrlOrEmpty = ""
    secret: str = ""
