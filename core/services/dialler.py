"""The one-key-call dialler (一键呼叫): walks a help call's caregiver chain. (Owned by the phone-line work.)"""

from __future__ import annotations

from core.container import Services


def advance_help_call(services: Services, help_call_id: int) -> None:
    """Do whatever is due for one help call now (dial the next leg, give up, retry); idempotent."""


def sweep_help_calls(services: Services) -> None:
    """Advance every help call whose next action is due (legs whose callback never came, retries)."""
