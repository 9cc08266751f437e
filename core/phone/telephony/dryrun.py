"""The dry-run provider: records every call and SMS as not sent, so the console can show them."""

from __future__ import annotations

import logging
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock
from core.db import transaction
from core.models.calls import DryRunRecord
from core.phone.telephony.port import TelephonyError
from core.phones import mask_phone

log = logging.getLogger(__name__)


class DryRunTelephony:
    """Nothing leaves the machine. Nobody answers, unless `demo_answer` is set for a demo."""

    name = "dryrun"

    def __init__(self, session_factory: sessionmaker[Session], clock: Clock, *, from_number: str = "",
                 demo_answer: bool = False) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self.from_number = from_number or "+10000000000"
        self.demo_answer = demo_answer

    @property
    def is_dryrun(self) -> bool:
        """Always true: nothing is sent."""
        return True

    def _record(self, kind: str, prefix: str, *, to: str | None = None, from_: str | None = None,
                url: str | None = None, body: str = "", ref: str | None = None,
                idempotency_key: str | None = None) -> str:
        with transaction(self._session_factory) as session:
            if idempotency_key is not None:
                existing = session.scalar(
                    sa.select(DryRunRecord).where(DryRunRecord.idempotency_key == idempotency_key))
                if existing is not None:
                    return existing.ref
            ref = ref or f"{prefix}{uuid.uuid4().hex[:30]}"
            session.add(DryRunRecord(kind=kind, ref=ref, idempotency_key=idempotency_key, to_number=to,
                                     from_number=from_, url=url, body=body, status="not_sent",
                                     created_at=self._clock.now()))
        log.info("dry-run %s %s to %s (not sent)", kind, ref, mask_phone(to))
        return ref

    def place_call(self, to: str, from_: str, url: str, status_callback: str, timeout_s: int,
                   idempotency_key: str | None = None, machine_detection: bool = False) -> str:
        """Record the call as not placed and return a dry-run call id."""
        if not to:
            raise TelephonyError("no number to call", permanent=True)
        return self._record("call", "DRYCA", to=to, from_=from_, url=url, idempotency_key=idempotency_key,
                            body=f"status_callback={status_callback} timeout={timeout_s}")

    def update_call(self, call_id: str, url: str | None = None, twiml: str | None = None) -> None:
        """Record the redirect."""
        self._record("update", "DRYUP", url=url, body=twiml or "", ref=None)

    def hangup(self, call_id: str) -> None:
        """Record the hang-up."""
        self._record("hangup", "DRYHU", body=call_id)

    def send_sms(self, to: str, from_: str, body: str, idempotency_key: str | None = None) -> str:
        """Record the SMS as not sent and return a dry-run message id."""
        if not to:
            raise TelephonyError("no number to text", permanent=True)
        return self._record("sms", "DRYSM", to=to, from_=from_, body=body, idempotency_key=idempotency_key)

    def fetch_recording(self, url: str) -> bytes:
        """Dry-run calls have no recordings."""
        raise TelephonyError("the dry-run provider has no recordings", permanent=True)
