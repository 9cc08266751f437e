"""Recognition jobs: fetch a call recording, keep a local copy, transcribe it in the vosk pool.

Webhooks only queue a CallRecording row and schedule this; the hold prompt polls the row.
"""

from __future__ import annotations

import datetime as dt
import logging

from core.container import Services
from core.db import transaction
from core.models.calls import CallRecording
from core.services.calls import RECORDINGS_DIR, attach_transcript, claim_recording, recording_bytes
from voice.intents import classify

log = logging.getLogger(__name__)


def fetch_local_copy(services: Services, recording: CallRecording) -> bytes:
    """The recording's audio (local copy, else fetched from the provider and kept)."""
    return recording_bytes(services.settings, services.telephony, recording)


def run_recognition(services: Services, recording_id: int) -> None:
    """Claim, fetch, transcribe and store one recording; failures are stored, never raised."""
    timeout_s = float(services.settings.vosk.timeout_s)
    with transaction(services.session_factory) as session:
        if not claim_recording(session, job_id=recording_id, now=services.clock.now(), stale_after_s=timeout_s * 2):
            return
        recording = session.get(CallRecording, recording_id)
    text, confidence, error, local = None, None, "", None
    try:
        data = fetch_local_copy(services, recording)
        local = f"{RECORDINGS_DIR}/{recording_id}.wav"
        if services.asr is None:
            raise RuntimeError("speech recognition is disabled")
        result = services.asr.transcribe_wav(data)
        text, confidence = result.text, result.confidence
    except Exception as exc:  # noqa: BLE001 - stored on the row; the call flow falls back to the recording
        error = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("recognition of recording %s failed: %s", recording_id, type(exc).__name__)
    with transaction(services.session_factory) as session:
        row = session.get(CallRecording, recording_id)
        row.status = "failed" if error else "done"
        row.text, row.confidence, row.error = text, confidence, error
        row.local_file = local or row.local_file
        row.finished_at = services.clock.now()
        if row.request_id and text:
            intent = classify(text)
            attach_transcript(session, now=services.clock.now(), request_id=row.request_id, text=text,
                              confidence=confidence, suggested_type=intent.request_type if intent else None,
                              due_hours=services.settings.requests.due_hours)


def schedule_recognition(services: Services, recording_id: int) -> bool:
    """Hand a recording to the recognition pool; False when speech is disabled."""
    if services.asr is None:
        return False
    services.asr.submit(run_recognition, services, recording_id)
    return True


def is_stale(recording: CallRecording, now: dt.datetime, timeout_s: float) -> bool:
    """A pending or running job nobody is working on (its process went away)."""
    from core.clock import as_utc

    if recording.status == "pending":
        return as_utc(recording.created_at) < now - dt.timedelta(seconds=2)
    if recording.status == "running" and recording.claimed_at is not None:
        return as_utc(recording.claimed_at) < now - dt.timedelta(seconds=timeout_s * 2)
    return False
