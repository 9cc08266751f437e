"""The `cmd` downlink of the MQTT contract: topic and JSON payload of a command to one band (pure).

Payload: `{"ts": unix seconds, "id": command id, "cmd": "measure_now" | "set_interval", "interval_s"?}`,
sent by the service at QoS 1, not retained, on `{root}/{site}/band/{device_id}/cmd`.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from core.bands.registry import ID_PATTERN, SET_INTERVAL_MAX_S, SET_INTERVAL_MIN_S, check_command_interval
from core.errors import InvalidInput
from core.i18n import N_

COMMANDS = ("measure_now", "set_interval")
QOS = 1

__all__ = ["COMMANDS", "QOS", "SET_INTERVAL_MAX_S", "SET_INTERVAL_MIN_S", "Command", "build_command", "cmd_topic",
           "new_command_id", "parse_command"]


@dataclass(frozen=True)
class Command:
    """A command ready to publish: its topic and its JSON-able payload."""

    topic: str
    payload: dict[str, Any]

    def encode(self) -> bytes:
        """The payload as compact UTF-8 JSON."""
        return json.dumps(self.payload, separators=(",", ":"), ensure_ascii=False).encode()


def cmd_topic(root: str, site: str, device_id: str) -> str:
    """`{root}/{site}/band/{device_id}/cmd`; site and device id must be plain ids (no MQTT wildcards)."""
    for value, problem in ((site, N_("站点只能包含字母、数字、- 和 _")),
                           (device_id, N_("设备号只能包含字母、数字、- 和 _"))):
        if not ID_PATTERN.match(value or ""):
            raise InvalidInput(problem)
    return f"{root.rstrip('/')}/{site}/band/{device_id}/cmd"


def new_command_id() -> str:
    """A fresh command id (the band may use it to ignore a redelivered command)."""
    return uuid.uuid4().hex[:16]


def build_command(
    *, root: str, site: str, device_id: str, cmd: str, now: dt.datetime, command_id: str,
    interval_s: int | None = None,
) -> Command:
    """Validate and build one command; `interval_s` is required for set_interval and refused otherwise."""
    if cmd not in COMMANDS:
        raise InvalidInput(N_("未知的手环指令 %(cmd)r"), cmd=cmd)
    if not command_id:
        raise InvalidInput(N_("指令缺少编号"))
    payload: dict[str, Any] = {"ts": int(now.timestamp()), "id": command_id, "cmd": cmd}
    if cmd == "set_interval":
        if interval_s is None:
            raise InvalidInput(N_("设置上报间隔需要秒数"))
        payload["interval_s"] = check_command_interval(interval_s)
    elif interval_s is not None:
        raise InvalidInput(N_("只有设置上报间隔才带秒数"))
    return Command(cmd_topic(root, site, device_id), payload)


def parse_command(raw: bytes | str) -> dict[str, Any] | None:
    """A received command payload, validated; None when it is malformed (a band ignores those)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("cmd") not in COMMANDS or not isinstance(data.get("id"), str):
        return None
    if data["cmd"] == "set_interval":
        interval = data.get("interval_s")
        if isinstance(interval, bool) or not isinstance(interval, int):
            return None
        if not SET_INTERVAL_MIN_S <= interval <= SET_INTERVAL_MAX_S:
            return None
    return data
