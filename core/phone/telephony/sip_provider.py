"""The SIP provider: calls go through xiaoyuan's own SIP endpoint to a 4G/GSM gateway or carrier trunk.

Nothing here speaks SIP. The endpoint is a separate process (`xiaoyuan phone`, the only one that
loads PJSIP); this class queues what the service wants in the database (`core.phone.sipcommands`)
and returns at once, exactly like a REST call to Twilio would. Call progress comes back through
`core.phone.progress`, the same functions Twilio's status callbacks reach.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock
from core.db import transaction
from core.phone import sipcommands
from core.phone.telephony.port import TelephonyError
from core.phones import mask_phone

log = logging.getLogger(__name__)
LOCAL_RECORDING_SCHEME = "local:"  # recordings made by the endpoint live in the data dir


class SipTelephony:
    """Calls through the `xiaoyuan phone` endpoint process; no SMS (the outbox falls back to other channels)."""

    name = "sip"

    def __init__(self, session_factory: sessionmaker[Session], clock: Clock, *, from_number: str = "",
                 data_dir: Path | None = None) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self.from_number = from_number
        self._data_dir = data_dir

    @property
    def is_dryrun(self) -> bool:
        """False: calls really go out through the gateway."""
        return False

    def place_call(self, to: str, from_: str, url: str, status_callback: str, timeout_s: int,
                   idempotency_key: str | None = None, machine_detection: bool = False) -> str:
        """Queue the call for the endpoint; `url` names the flow to run when it is answered."""
        if not to:
            raise TelephonyError("no number to call", permanent=True)
        with transaction(self._session_factory) as session:
            call_id = sipcommands.request_dial(session, now=self._clock.now(), to=to, from_=from_ or self.from_number,
                                               flow_url=url, status_url=status_callback, timeout_s=timeout_s,
                                               idempotency_key=idempotency_key)
        log.info("sip call %s queued to %s", call_id, mask_phone(to))
        return call_id

    def update_call(self, call_id: str, url: str | None = None, twiml: str | None = None) -> None:
        """Send a live call to another flow step (inline TwiML means nothing to a SIP call)."""
        if not url:
            raise TelephonyError("a SIP call can only be redirected to a flow URL", permanent=True)
        with transaction(self._session_factory) as session:
            sipcommands.request_update(session, now=self._clock.now(), call_id=call_id, flow_url=url)

    def hangup(self, call_id: str) -> None:
        """End a call, or stop it from being placed; a call that already ended is fine."""
        with transaction(self._session_factory) as session:
            sipcommands.request_hangup(session, now=self._clock.now(), call_id=call_id)

    def send_sms(self, to: str, from_: str, body: str, idempotency_key: str | None = None) -> str:
        """A SIP gateway sends no SMS through this provider: permanent, so the outbox uses the next channel."""
        raise TelephonyError("the SIP provider sends no SMS (use WeCom, DingTalk or a webhook channel)",
                             permanent=True)

    def fetch_recording(self, url: str) -> bytes:
        """A recording the endpoint kept in the data dir (`local:recordings/12.wav`)."""
        if not url.startswith(LOCAL_RECORDING_SCHEME) or self._data_dir is None:
            raise TelephonyError("not a recording of the SIP endpoint", permanent=True)
        relative = Path(url[len(LOCAL_RECORDING_SCHEME):])
        if relative.is_absolute() or ".." in relative.parts:
            raise TelephonyError("recording path outside the data dir", permanent=True)
        path = self._data_dir / relative
        try:
            return path.read_bytes()
        except OSError as exc:
            raise TelephonyError(f"recording unavailable: {type(exc).__name__}", permanent=True) from exc
