"""The phone area's typed settings: `[telephony]`, `[twilio]`, `[sip]`, `[voice]` and speech (`[vosk]`, `[tts]`).

Defaults are defined here once, with their types and rules, so a typo or an impossible value stops
start-up with a plain message instead of a call that never connects.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pydantic import Field, field_validator

from core.phones import try_normalise_phone
from core.settings_types import HttpUrlOrEmpty, PathOrEmpty, Port, Section

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


class TelephonySettings(Section):
    """Who places calls and sends SMS: dryrun (nothing leaves), twilio, or sip (`xiaoyuan phone`)."""

    provider: str = Field("dryrun", description="dryrun | twilio | sip")
    ring_timeout_s: int = Field(20, ge=1)
    demo_answer: bool = Field(False, description="dry-run only: pretend people answer (demos), never by default")


class TwilioSettings(Section):
    """The Twilio account (or a TwiML-compatible provider) when telephony.provider = "twilio"."""

    account_sid: str = ""
    auth_token: str = ""
    from_number: str = ""
    api_base: HttpUrlOrEmpty = Field("", description="e.g. a TwiML-compatible provider; empty = Twilio")


class VoskSettings(Section):
    """Offline speech recognition."""

    model: PathOrEmpty = Field("", description="path to an unpacked model; empty = speech disabled")
    workers: int = Field(2, ge=1)
    timeout_s: int = Field(20, ge=1)


class TtsSettings(Section):
    """Speech output (espeak-ng) and recorded prompts."""

    voice: str = "sit/cmn"
    rate: int = Field(140, ge=40, le=500)
    prompts_dir: PathOrEmpty = "config/prompts/recorded"


class VoiceSettings(Section):
    """The phone line (voice/) and the one-key-call dialler."""

    record_max_s: int = Field(30, ge=1, description="longest free-speech answer to the menu")
    silence_s: int = Field(4, ge=1, description="trailing silence that ends a recording")
    message_max_s: int = Field(90, ge=1, description="longest recorded message for the 院长")
    menu_tries: int = Field(2, ge=1, description="silent / unrecognised menu rounds before a person or a message")
    poll_interval_s: int = Field(1, ge=1, description="hold-prompt pause between checks while speech is recognised")
    poll_max: int = Field(12, ge=1, description="checks before giving up and keeping the recording as a message")
    grammar_first: bool = Field(True, description="menu answers: phrase list first, free mode only in the background")
    push_result: bool = Field(True, description="redirect the live call to the read-back when recognition is done")
    confirm_failures: int = Field(2, ge=1, description="read-back failures before the recording becomes a request")
    help_call_rounds: int = Field(2, ge=1, description="the chain runs once more after a whole round failed")
    help_call_retry_delay_s: int = Field(300, ge=0)
    answer_keypress_s: int = Field(45, ge=1, description="after a leg is answered: time to press 1 (at least the "
                                   "whole repeated prompt)")
    callback_grace_s: int = Field(15, ge=0, description="extra wait for a status callback past the ring timeout")
    bridge_timeout_s: int = Field(30, ge=1, description="ring time of the resident's phone when bridging")
    help_call_machine_detection: bool = Field(
        True, description="ask the provider to detect voicemail on help-call legs (a hint; only a keypress counts)")
    unknown_caller_village: int = Field(0, ge=0, description="village id for unknown callers on a number not in "
                                        "[sip] numbers (0: the only village, if there is one)")
    transfer_attempts: int = Field(2, ge=1, description="0 找人工 / 2 找院长: people rung in all (the first, then "
                                   "fallbacks); a silent caller gets the 院长 only")


class SipSettings(Section):
    """The SIP endpoint (`xiaoyuan phone`) for a 4G/GSM SIP gateway or a carrier trunk (telephony.provider = "sip")."""

    bind: str = Field("127.0.0.1", description="address the endpoint listens on (UDP); 0.0.0.0 for the LAN")
    port: Port = Field(5060, description="UDP; one `xiaoyuan phone` process per 4 channels, each on its own port")
    gateway: str = Field("", description="host[:port] outbound INVITEs go to, as sip:<number>@gateway")
    line_number: str = Field("", description="the village number, sent as the From user of outbound calls")
    username: str = Field("", description="digest credentials, when the gateway or trunk asks for them")
    password: str = Field("", description="a secret: set it through XIAOYUAN_SIP_PASSWORD, not in a file")
    registrar: str = Field("", description="host[:port] to REGISTER with; empty = no registration (IP trunk)")
    allowed_sources: tuple[str, ...] = Field(
        ("127.0.0.1",), description="addresses or networks inbound INVITEs may come from (the gateway always may)")
    numbers: dict[str, int] = Field(
        default_factory=dict, description="called number (To user part) → village id; +86 / 0086 / 0 forms all match")
    max_calls: int = Field(4, ge=1, le=MAX_CALLS_PER_PROCESS, description="concurrent calls per process")
    end_silence_ms: int = Field(600, ge=200, le=3000, description="trailing silence that ends a spoken menu answer")
    end_stable_ms: int = Field(300, ge=0, le=3000, description="shorter silence that ends a menu answer whose words "
                               "already name one intent and stopped changing (0: always wait end_silence_ms)")
    vad_threshold_dbfs: float = Field(-40.0, ge=-70, le=-10, description="frame level taken as the caller speaking")
    command_poll_ms: int = Field(100, ge=20, le=2000, description="how often the endpoint looks for calls to place")

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


def village_for_number(settings: Any, called: str | None) -> int | None:
    """The village whose line number was called, from `[sip] numbers` (used by every provider); None if unmapped."""
    return settings.sip.village_for(called)
