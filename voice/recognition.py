"""Recognition jobs: fetch a call recording, keep a local copy, transcribe it in the vosk pool.

Webhooks only queue a CallRecording row and schedule this. Menu answers are recognised
grammar-first: a confident single-intent grammar result is stored at once; otherwise the verdict
"not understood" is stored at once (the caller is asked again or uses the keypad) and free mode
runs in the background, its transcript kept on the recording (and on its request, if one is made).
When a result is stored and the call is still on hold for it, the live call is redirected through
the provider's REST API so the read-back does not wait for the next poll; the hold prompt's
bounded polling stays as the fallback.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa

from core.container import Services
from core.db import transaction
from core.models.calls import CallLog, CallRecording
from core.phone.calls import RECORDINGS_DIR, claim_recording, recording_bytes, store_recognition
from voice.audio import to_pcm16k
from voice.intents import classify

log = logging.getLogger(__name__)
GRAMMAR_PURPOSES = ("menu",)  # what a caller says at the menu; sell answers need free mode (goods, amounts)


def fetch_local_copy(services: Services, recording: CallRecording) -> bytes:
    """The recording's audio (local copy, else fetched from the provider and kept)."""
    return recording_bytes(services.settings, services.telephony, recording)


def _grammar_first(services: Services) -> bool:
    return services.settings.voice.grammar_first


def _store(services: Services, recording_id: int, *, text: str | None, confidence: float | None, error: str = "",
           local: str | None = None) -> None:
    with transaction(services.session_factory) as session:
        store_recognition(session, now=services.clock.now(), recording_id=recording_id, text=text,
                          confidence=confidence, error=error, local_file=local, suggest_type=_request_type_of,
                          due_hours=services.settings.requests.due_hours)


def _request_type_of(text: str) -> str | None:
    intent = classify(text)
    return intent.request_type if intent else None


def run_recognition(services: Services, recording_id: int, ready_url: str | None = None) -> None:
    """Claim, fetch, transcribe and store one recording; failures are stored, never raised.

    `ready_url`: where to redirect the live call once a result is stored (the hold's poll URL).
    """
    timeout_s = float(services.settings.vosk.timeout_s)
    with transaction(services.session_factory) as session:
        if not claim_recording(session, job_id=recording_id, now=services.clock.now(), stale_after_s=timeout_s * 2):
            return
        recording = session.get_one(CallRecording, recording_id)
        purpose = recording.purpose
    local = None
    try:
        data = fetch_local_copy(services, recording)
        local = f"{RECORDINGS_DIR}/{recording_id}.wav"
        asr = services.asr
        if asr is None:
            raise RuntimeError("speech recognition is disabled")
        grammar_pass = getattr(asr, "grammar_pass", None)
        if grammar_pass is not None and purpose in GRAMMAR_PURPOSES and _grammar_first(services):
            pcm = to_pcm16k(data)  # converted once for both passes
            verdict = grammar_pass(pcm)
            if verdict is not None:
                match, _transcript = verdict
                if match.intent is not None:
                    _store(services, recording_id, text=match.text, confidence=match.confidence, local=local)
                    push_result(services, recording_id, ready_url)
                    return
                # Not understood: say so now (text None), recognise freely in the background for the record.
                log.info("recording %s: grammar pass gave %s, free mode in the background", recording_id, match.reason)
                _store(services, recording_id, text=None, confidence=match.confidence, local=local)
                push_result(services, recording_id, ready_url)
                _queue_free_pass(services, recording_id, pcm)
                return
        result = asr.transcribe_wav(data)
        _store(services, recording_id, text=result.text, confidence=result.confidence, local=local)
    except Exception as exc:
        log.warning("recognition of recording %s failed: %s", recording_id, type(exc).__name__)
        _store(services, recording_id, text=None, confidence=None, error=f"{type(exc).__name__}: {exc}"[:500],
               local=local)
    push_result(services, recording_id, ready_url)


def store_streamed(services: Services, recording_id: int, recorded: Any) -> None:
    """Store what streaming recognition heard while a SIP caller spoke (voice.flow.Recorded), by the same rule.

    A grammar verdict that understood nothing stores "not understood" at once and runs free mode on the
    audio in the background, as for a recording; anything else is stored as heard.
    """
    with transaction(services.session_factory) as session:
        if not claim_recording(session, job_id=recording_id, now=services.clock.now(), stale_after_s=0):
            return
    if recorded.understood is False:
        _store(services, recording_id, text=None, confidence=recorded.confidence)
        if recorded.pcm16k and services.asr is not None:
            _queue_free_pass(services, recording_id, recorded.pcm16k)
        return
    _store(services, recording_id, text=recorded.text or None, confidence=recorded.confidence)


def _queue_free_pass(services: Services, recording_id: int, pcm: bytes) -> None:
    """Queue the free-mode transcript of a grammar miss in the background (a failure to queue is logged)."""
    asr = services.asr
    try:
        getattr(asr, "submit_background", asr.submit)(run_free_pass, services, recording_id, pcm)
    except Exception as exc:
        log.warning("free-mode pass of recording %s not queued: %s", recording_id, type(exc).__name__)


def run_free_pass(services: Services, recording_id: int, pcm: bytes) -> None:
    """Free-mode transcript of a recording the grammar did not understand (kept; never raised)."""
    try:
        result = services.asr.transcribe_pcm(pcm)
    except Exception as exc:
        log.warning("free-mode pass of recording %s failed: %s", recording_id, type(exc).__name__)
        return
    if result.text:
        _store(services, recording_id, text=result.text, confidence=result.confidence)


def push_result(services: Services, recording_id: int, ready_url: str | None) -> bool:
    """Redirect the live call to `ready_url` if it is still on hold for this recording; True if redirected.

    On hold means: the call is in progress, its last step is the speech step of this recording and no
    later recording exists. A failed redirect is only logged: the hold's polling still gets there.
    """
    if not ready_url or services.telephony is None:
        return False
    with services.session_factory() as session:
        row = session.get(CallRecording, recording_id)
        entry = session.get(CallLog, row.call_log_id) if row is not None and row.call_log_id else None
        if row is None or entry is None or not entry.provider_call_id or entry.status != "in-progress":
            return False
        if not entry.path or entry.path[-1] != f"speech:{row.purpose}":
            return False
        latest = session.scalar(sa.select(sa.func.max(CallRecording.id)).where(CallRecording.call_log_id == entry.id))
        if latest != row.id:
            return False
        call_id = entry.provider_call_id
    try:
        services.telephony.update_call(call_id, url=ready_url)
    except Exception as exc:
        log.warning("could not redirect call for recording %s: %s", recording_id, type(exc).__name__)
        return False
    return True


def schedule_recognition(services: Services, recording_id: int, ready_url: str | None = None) -> bool:
    """Hand a recording to the recognition pool; False when speech is disabled.

    With `ready_url` a caller is on hold: the job runs on the pool callers wait on and redirects the
    call there when done. Without it (messages, identities) the job runs on the background pool.
    """
    asr: Any = services.asr
    if asr is None:
        return False
    if ready_url is None:
        getattr(asr, "submit_background", asr.submit)(run_recognition, services, recording_id)
    else:
        asr.submit(run_recognition, services, recording_id, ready_url)
    return True


def is_stale(recording: CallRecording, now: dt.datetime, timeout_s: float) -> bool:
    """A pending or running job nobody is working on (its process went away)."""
    from core.clock import as_utc

    if recording.status == "pending":
        return as_utc(recording.created_at) < now - dt.timedelta(seconds=2)
    if recording.status == "running" and recording.claimed_at is not None:
        return as_utc(recording.claimed_at) < now - dt.timedelta(seconds=timeout_s * 2)
    return False
