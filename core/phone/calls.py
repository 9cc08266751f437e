"""Call logs of the phone line, transcription jobs, and SMS reply codes for confirmations."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.clock import as_utc
from core.db import rows_changed
from core.models.calls import CallLog, CallRecording
from core.models.outbox import OutboxMessage
from core.people.directory import find_resident_by_phone, place_of_household
from core.phones import mask_phone
from core.private_files import write_private

log = logging.getLogger(__name__)
MAX_PATH_STEPS = 60
REPLY_WINDOW = dt.timedelta(hours=48)


def open_call_log(session: Session, *, now: dt.datetime, provider_call_id: str | None, caller: str | None,
                  called: str | None = None, direction: str = "inbound") -> CallLog:
    """The call log of a call, created at its first webhook and identified by caller ID (idempotent)."""
    if provider_call_id:
        existing = session.scalar(sa.select(CallLog).where(CallLog.provider_call_id == provider_call_id))
        if existing is not None:
            return existing
    resident = find_resident_by_phone(session, caller)
    entry = CallLog(provider_call_id=provider_call_id, direction=direction, caller=caller, called=called,
                    started_at=now, path=[], transcripts=[], unknown_caller=resident is None and direction == "inbound")
    if resident is not None:
        place = place_of_household(session, resident.household_id)
        entry.resident_id, entry.household_id = resident.id, resident.household_id
        entry.courtyard_id, entry.village_id = place.courtyard_id, place.village_id
    session.add(entry)
    session.flush()
    log.info("call %s from %s (%s)", entry.id, mask_phone(caller), "known" if resident else "unknown caller")
    return entry


def find_call_log(session: Session, provider_call_id: str | None) -> CallLog | None:
    """The call log of a provider call id."""
    if not provider_call_id:
        return None
    return session.scalar(sa.select(CallLog).where(CallLog.provider_call_id == provider_call_id))


def add_step(entry: CallLog, step: str) -> None:
    """Append a step to the path the caller took (bounded)."""
    if len(entry.path or []) < MAX_PATH_STEPS:
        entry.path = [*(entry.path or []), step[:60]]


def add_transcript(entry: CallLog, text: str, confidence: float | None, intent: str | None) -> None:
    """Remember what the recogniser heard and what it was taken to mean."""
    entry.transcripts = [*(entry.transcripts or []), {"text": text[:500], "confidence": confidence, "intent": intent}]


def set_outcome(entry: CallLog, outcome: str, *, request_id: int | None = None) -> None:
    """The result of the call so far (request_created, message_left, points_read, transferred, …)."""
    entry.outcome = outcome[:40]
    if request_id is not None:
        entry.request_id = request_id


def finish_call(session: Session, *, provider_call_id: str | None, status: str, duration_s: int | None,
                now: dt.datetime) -> CallLog | None:
    """Close a call log when the provider reports the call over (repeated reports are harmless)."""
    entry = find_call_log(session, provider_call_id)
    if entry is None:
        return None
    entry.status = status[:20]
    if entry.ended_at is None:
        entry.ended_at = now
    if duration_s is not None:
        entry.duration_s = duration_s
    elif entry.duration_s is None:
        entry.duration_s = int((as_utc(now) - as_utc(entry.started_at)).total_seconds())
    if not entry.outcome:
        entry.outcome = "hung_up"
    return entry


def add_recording(session: Session, *, now: dt.datetime, call_log_id: int | None, recording_url: str,
                  duration_s: int | None = None, purpose: str = "menu", request_id: int | None = None,
                  transcribe: bool = True, local_file: str | None = None) -> CallRecording:
    """Keep a recording of a call; `transcribe` queues it for speech recognition (off the webhook).

    `local_file` (relative to the data dir) is set when the audio is already here (SIP calls).
    """
    job = CallRecording(call_log_id=call_log_id, recording_url=recording_url, duration_s=duration_s, purpose=purpose,
                        status="pending" if transcribe else "skipped", request_id=request_id, created_at=now,
                        local_file=local_file)
    session.add(job)
    session.flush()
    return job


def claim_recording(session: Session, *, job_id: int, now: dt.datetime, stale_after_s: float) -> bool:
    """Mark a job running if it is pending or its worker went away (stale claim); True if claimed here."""
    stale = now - dt.timedelta(seconds=stale_after_s)
    result = session.execute(
        sa.update(CallRecording)
        .where(CallRecording.id == job_id,
               sa.or_(CallRecording.status == "pending",
                      sa.and_(CallRecording.status == "running", CallRecording.claimed_at < stale)))
        .values(status="running", claimed_at=now)
    )
    return bool(rows_changed(result))


def reply_code(message_id: int) -> str:
    """The 4-digit code an SMS reply quotes to confirm one message ("1 0427")."""
    return f"{message_id % 10000:04d}"


def parse_sms_reply(body: str | None) -> tuple[str, str | None]:
    """(digit, code or None) from an SMS reply like "1", "1 0427", "１ ０４２７", "确认0427"."""
    import unicodedata

    text = unicodedata.normalize("NFKC", body or "")
    digits = "".join(ch for ch in text if ch.isdigit())
    if not digits:
        return ("1" if any(w in text for w in ("确认", "收到", "好的", "ok", "OK", "yes")) else "", None)
    if len(digits) >= 5:
        return digits[0], digits[1:5]
    if len(digits) == 4:
        return "1", digits
    return digits[0], None


def find_message_for_reply(session: Session, *, now: dt.datetime, phone: str, code: str | None,
                           subject_types: tuple[str, ...] | None = None) -> OutboxMessage | None:
    """The recent message to this phone that an SMS reply answers (by code, else the newest one)."""
    query = sa.select(OutboxMessage).where(
        OutboxMessage.recipient_phone == phone,
        OutboxMessage.created_at >= now - REPLY_WINDOW,
        OutboxMessage.subject_type.is_not(None),
    )
    if subject_types:
        query = query.where(OutboxMessage.subject_type.in_(subject_types))
    candidates = list(session.scalars(query.order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())))
    if code is not None:
        for message in candidates:
            if reply_code(message.id) == code:
                return message
        return None
    return candidates[0] if candidates else None


RETYPABLE = ("find_head", "other")


def attach_transcript(session: Session, *, now: dt.datetime, request_id: int, text: str, confidence: float | None,
                      suggested_type: str | None, due_hours: dict[str, float]) -> None:
    """Put a recorded message's transcript on its request; a generic message takes the type it was about.

    (A message left for the 院长 saying "我家水管爆了" becomes a 维修 request.)
    """
    from core.models.requests import Request, RequestEvent

    req = session.get(Request, request_id)
    if req is None:
        return
    if not req.transcript:
        req.transcript, req.confidence = text, confidence
    if suggested_type and suggested_type != req.type and req.type in RETYPABLE and suggested_type in due_hours:
        req.events.append(RequestEvent(at=now, actor_id=None, actor_label="语音识别", action="retyped",
                                       from_status=req.status, to_status=req.status,
                                       note=f"{req.type} → {suggested_type}"))
        req.type = suggested_type
        req.due_at = req.created_at + dt.timedelta(hours=due_hours[suggested_type])
    req.updated_at = now


def store_recognition(session: Session, *, now: dt.datetime, recording_id: int, text: str | None,
                      confidence: float | None, error: str = "", local_file: str | None = None,
                      suggest_type: Callable[[str], str | None] | None = None,
                      due_hours: dict[str, float] | None = None) -> None:
    """Keep what recognition made of a recording (or why it failed); a transcript also goes on its request.

    `suggest_type(text)` names the request type the words are about (the phone line's intents), used
    to retype a generic message. Machine results are recorded on the rows themselves, not in the audit.
    """
    row = session.get(CallRecording, recording_id)
    if row is None:
        return
    row.status = "failed" if error else "done"
    row.text, row.confidence, row.error = text, confidence, error
    row.local_file = local_file or row.local_file
    row.finished_at = now
    if row.request_id and text:
        attach_transcript(session, now=now, request_id=row.request_id, text=text, confidence=confidence,
                          suggested_type=suggest_type(text) if suggest_type else None, due_hours=due_hours or {})


RECORDINGS_DIR = "recordings"


def recording_bytes(settings: Any, telephony: Any, recording: CallRecording) -> bytes:
    """A recording's audio: the local copy in the data dir, else downloaded once (authenticated) and kept."""
    if recording.local_file:
        kept = settings.data_dir / recording.local_file
        if kept.is_file():
            return kept.read_bytes()
    path = settings.data_dir / RECORDINGS_DIR / f"{recording.id}.wav"
    if path.is_file():
        return path.read_bytes()
    if not recording.recording_url or telephony is None:
        raise FileNotFoundError("recording expired or unavailable")
    data = telephony.fetch_recording(recording.recording_url)
    write_private(path, data)  # a voice is personal data
    return data
