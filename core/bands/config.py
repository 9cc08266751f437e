"""The wristband area's typed settings: `[devices]` (listener, plausibility), its alert thresholds and escalation.

Defaults are defined here once; per-resident threshold overrides live on the band (`band.thresholds`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from core.settings_types import Section


class ThresholdSettings(Section):
    """Alert thresholds for every band; `xiaoyuan band assign --threshold` overrides them per resident."""

    hr_high: int = Field(120, ge=1, description="bpm, sustained hr_minutes")
    hr_low: int = Field(45, ge=0)
    hr_minutes: float = Field(10, ge=0)
    spo2_low: int = Field(90, ge=0, le=100, description="%, sustained spo2_minutes (wrist SpO2 is noisy)")
    spo2_minutes: float = Field(5, ge=0)
    temp_high: float = Field(38.0, description="°C")
    temp_low: float = 35.0
    removed_minutes: float = Field(30, ge=0, description="band off the wrist this long in daytime")
    day_start_hour: int = Field(7, ge=0, le=23, description="local daytime for the removed rule")
    day_end_hour: int = Field(21, ge=0, le=24)
    silent_intervals: int = Field(3, ge=1, description="no message for this many reporting intervals = silent")
    silent_warning_minutes: float = Field(15, ge=0)
    silent_urgent_minutes: float = Field(60, ge=0)
    battery_low: int = Field(15, ge=0, le=100, description="%, at most once a day")
    battery_clear: int = Field(25, ge=0, le=100)
    steps_by_hour: int = Field(10, ge=0, le=24, description="lives-alone residents with no steps by this local hour")
    raw_days: int = Field(0, ge=0, description="0: use privacy.telemetry_raw_days")


Channel = Literal["voice_call", "message"]


class PolicySettings(Section):
    """How one severity escalates."""

    timeout_min: float = Field(5, gt=0, description="minutes before the next level is tried")
    repeat: int = Field(1, ge=1, description="how many times the chain is walked")
    channels: tuple[Channel, ...] = ("voice_call", "message")
    kinds: tuple[str, ...] = Field((), description="caregiver kinds to reach; empty: the whole chain")
    staff: bool = True
    quiet_hours: bool = True
    ack_timeout_min: float = Field(60, gt=0, description="an acknowledged, unresolved alert is raised again after this")
    machine_detection: bool = Field(True, description="ask the provider to detect voicemail on alert calls, so "
                                    "the next level is called as soon as a machine answers (only a keypress counts)")
    ring_at_once: int = Field(1, ge=1, le=5, description="chain members called together at one level; the first "
                              "to press 1 takes the alert and the other calls are hung up")


class EscalationSettings(Section):
    """Escalation per severity: ordered levels from the resident's caregiver chain, then staff (院长, village),
    then the town 指挥中心 last. A band given to no resident goes to its site's village cadres and grid workers.

    channels: "voice_call" (asks 按1确认; only a keypress acknowledges) and "message" (the recipient's own
    channels, else sms_channel). When every call of a level ends unanswered (no answer, busy, failed,
    canceled, a machine, or hung up without 1) the next level is told at once; timeout_min only covers a
    call whose end is never reported. A chain is walked `repeat` times; an acknowledged alert that is not
    resolved within ack_timeout_min is raised again.
    """

    sms_channel: str = "twilio_sms"
    critical: PolicySettings = PolicySettings(timeout_min=2, repeat=3, quiet_hours=False, ack_timeout_min=30)
    urgent: PolicySettings = PolicySettings(timeout_min=5, repeat=2, ack_timeout_min=60)
    warning: PolicySettings = PolicySettings(timeout_min=15, repeat=1, channels=("message",), kinds=("family",),
                                             staff=False, ack_timeout_min=240)


class DevicesSettings(Section):
    """Wristbands: the listener, what readings are plausible, alert thresholds and the escalation policy."""

    max_future_s: float = Field(600, ge=0, description="readings further in the future than this are dropped")
    max_past_s: float = Field(604800, ge=0, description="readings older than this are dropped")
    batch_size: int = Field(500, ge=1, description="the listener commits at most this many messages per transaction")
    batch_wait_ms: float = Field(20, ge=0, description="…waiting at most this long for a batch to fill")
    queue_max: int = Field(50000, ge=1, description="messages held in memory before the listener pushes back")
    protocol: Literal[3, 4, 5] = Field(5, description="MQTT protocol to an external broker: 5, or 3 (3.1.1)")
    session_expiry_s: int = Field(604800, ge=0)
    share_expiry_s: int = Field(60, ge=0, description="with mqtt.shared_group: how long a departed member keeps its "
                                "share of telemetry (its own short session; events and status stay durable)")
    keepalive_s: int = Field(30, ge=1)
    thresholds: ThresholdSettings = ThresholdSettings()
    escalation: EscalationSettings = EscalationSettings()


class WatchSettings(Section):
    """Elder watches speaking the 3G*/SG/CS TCP "watch" protocol: the gateway (`xiaoyuan gateway`, or inside
    `xiaoyuan run` when enabled) turns them into the band MQTT contract. Register each watch with
    `xiaoyuan band add --device-id ID --protocol watch`; other ids are refused."""

    enabled: bool = Field(False, description="start the gateway inside `xiaoyuan run`")
    host: str = Field("127.0.0.1", description="watches reach the server over the mobile network: 0.0.0.0, or "
                      "forward a public port here")
    port: int = Field(5093, ge=1, le=65535)
    utc_offset_min: int = Field(0, ge=-720, le=840, description="the zone the watches' clocks are set to, minutes "
                                "east of UTC; a clock far from now is ignored anyway (the receive time is used)")
    idle_timeout_s: float = Field(900, gt=0, description="a connection with no frame for this long is closed")
    login_timeout_s: float = Field(60, gt=0, description="a new connection must send a good frame this soon")
    max_malformed: int = Field(5, ge=1, description="junk reads or bad frames in a row that close a connection")
    max_connections: int = Field(10000, ge=1)
    mqtt_username: str = Field("xiaoyuan-gateway", description="the gateway's own broker account (band topics only)")
    mqtt_password: str = Field("", description="empty: a random one kept in the data dir")
    publish_timeout_s: float = Field(10, gt=0, description="how long an alarm may wait for the broker before the "
                                     "watch is left unanswered (it then resends)")
    sync_interval_s: float = Field(300, ge=0, description="how often connected watches are checked against their "
                                   "caregiver chains (SOS numbers, phonebook); 0: only when a watch connects")
