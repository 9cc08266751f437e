"""The phone area's typed settings: the SIP endpoint (`[sip]`, XIAOYUAN_SIP_*) for a gateway or carrier trunk.

Defaults live in config/defaults.d/sip.toml; this model gives them types and rules, so a typo or
an impossible value stops start-up with a plain message instead of a call that never connects.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.phones import try_normalise_phone

MAX_CALLS_PER_PROCESS = 4  # PJSUA_MAX_CALLS of the pinned pjsua2-python wheel (compile-time)


def _host_port(value: str) -> tuple[str, int | None]:
    """Split "host", "host:port" or "[v6]:port"; raise ValueError on garbage."""
    text = value.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, ""
    if not host or any(ch.isspace() for ch in host):
        raise ValueError(f"not a host[:port]: {value!r}")
    if port and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"port out of range in {value!r}")
    return host, int(port) if port else None


class SipSettings(BaseModel):
    """Where the SIP endpoint listens, which gateway it calls through, who may call in, and the village numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bind: str = Field(description="address the endpoint listens on (UDP); 0.0.0.0 for the LAN")
    port: int = Field(ge=1, le=65535)
    gateway: str = Field(description="host[:port] outbound INVITEs go to, as sip:<number>@gateway")
    line_number: str = ""
    username: str = ""
    password: str = ""
    registrar: str = ""
    allowed_sources: tuple[str, ...] = Field(description="addresses or networks inbound INVITEs may come from")
    numbers: dict[str, int] = Field(
        default_factory=dict, description="called number (To user part) → village id; +86 / 0086 / 0 forms all match")
    max_calls: int = Field(ge=1, le=MAX_CALLS_PER_PROCESS)
    end_silence_ms: int = Field(ge=200, le=3000)
    vad_threshold_dbfs: float = Field(ge=-70, le=-10)
    command_poll_ms: int = Field(ge=20, le=2000)

    @field_validator("bind")
    @classmethod
    def _valid_bind(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError as exc:
            raise ValueError(f"XIAOYUAN_SIP_BIND must be an IP address, not {value!r}") from exc
        return value

    @field_validator("gateway", "registrar")
    @classmethod
    def _valid_host_port(cls, value: str) -> str:
        if value:
            _host_port(value.removeprefix("sip:"))
        return value

    @field_validator("allowed_sources", mode="before")
    @classmethod
    def _split_sources(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("allowed_sources")
    @classmethod
    def _valid_sources(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"not an address or network in allowed_sources: {entry!r}") from exc
        return value

    @field_validator("numbers")
    @classmethod
    def _valid_numbers(cls, value: dict[str, int]) -> dict[str, int]:
        for number in value:
            if not any(ch.isdigit() for ch in number) or any(ch.isalpha() for ch in number):
                raise ValueError(f"not a phone number in sip.numbers: {number!r}")
        return value

    @property
    def gateway_host_port(self) -> tuple[str, int | None]:
        """The gateway as (host, port or None)."""
        return _host_port(self.gateway.removeprefix("sip:"))

    def source_allowed(self, address: str) -> bool:
        """Whether an INVITE from this IP address (no port) may be answered."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        gateway_host = self.gateway_host_port[0] if self.gateway else None
        if gateway_host is not None and gateway_host == address:
            return True  # the gateway itself always may
        return any(ip in ipaddress.ip_network(entry, strict=False) for entry in self.allowed_sources)

    def village_for(self, called: str | None) -> int | None:
        """The village whose number was dialled (digits compared, a leading + or 0086 ignored)."""
        if not called:
            return None
        wanted = _comparable(called)
        for number, village_id in self.numbers.items():
            if _comparable(number) == wanted:
                return village_id
        return None


def _comparable(number: str) -> str:
    """E.164 when the number parses (023-…, +86 23…, 0086…), else its bare digits."""
    return try_normalise_phone(number) or "".join(ch for ch in number if ch.isdigit())


def sip_settings(settings: Any) -> SipSettings:
    """The [sip] section of the loaded settings, validated (raises pydantic's ValidationError)."""
    return SipSettings.model_validate(settings.section("sip"))
