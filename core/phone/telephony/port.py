"""The telephony port: what the service needs from a phone network, whatever the provider."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


class TelephonyError(Exception):
    """A provider refused or failed a request; `permanent` says whether retrying can help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@runtime_checkable
class Telephony(Protocol):
    """A phone network: place and steer calls, send SMS, fetch call recordings.

    Providers: `twilio` (and TwiML-compatible ones through the API base), `dryrun`, and `sip` (the
    own endpoint process, for a 4G/GSM gateway or a domestic carrier trunk), by `make_telephony`.
    `url` names the flow step to run when a call is answered (a TwiML webhook for Twilio, the same
    step run by the SIP call driver); `status_callback` names whose state machine hears the progress.
    """

    name: str
    from_number: str

    @property
    def is_dryrun(self) -> bool:
        """True when nothing is really sent (calls and SMS are only recorded)."""

    def place_call(self, to: str, from_: str, url: str, status_callback: str, timeout_s: int,
                   idempotency_key: str | None = None, machine_detection: bool = False) -> str:
        """Dial `to`; the provider fetches TwiML from `url` when answered; return the call id.

        `machine_detection` asks for answering-machine detection where the provider has it (Twilio adds
        `AnsweredBy` to the answer webhook); it is only a hint: a keypress still decides who was reached.
        """

    def update_call(self, call_id: str, url: str | None = None, twiml: str | None = None) -> None:
        """Redirect a live call to new TwiML (a URL or inline markup)."""

    def hangup(self, call_id: str) -> None:
        """End a call (ringing or in progress); ending an ended call is not an error."""

    def send_sms(self, to: str, from_: str, body: str, idempotency_key: str | None = None) -> str:
        """Send one SMS and return the provider's message id."""

    def fetch_recording(self, url: str) -> bytes:
        """Download a call recording (authenticated) as WAV bytes."""
