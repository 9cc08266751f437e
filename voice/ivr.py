"""The village phone line as the elder hears it: greeting, menu, keys, free speech, read-back, acts.

Every route is a Twilio webhook under /voice/twilio/. State lives in the call log and in the
query strings of the URLs we hand to Twilio (which it signs back to us): `tries` and `failures` count
the menu's silent tries and misunderstood answers, `recording` names the recording being recognised,
`polls` counts the hold's polls, `purpose` says what a recorded message is for.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from core.community import notices, points
from core.container import Services, current_services
from core.db import transaction
from core.models.calls import CallLog, CallRecording
from core.models.places import Resident
from core.people.directory import courtyard_head
from core.phone import calls as call_logs
from core.phones import try_normalise_phone
from core.requests.workorders import submit_request
from voice import twiml
from voice.intents import Intent, classify, extract_offer, readback_text
from voice.prompts import prompt_text
from voice.recognition import is_stale, schedule_recognition
from voice.webhooks import bp, form, int_arg, public_url, speaker_for, twilio_webhook, voice_settings

log = logging.getLogger(__name__)
BASE = "/voice/twilio"
REQUEST_LABEL = "电话"


def P(prompt_id: str, **fields: object) -> tuple[str, str]:  # noqa: N802 - reads like a marker in flow code
    """A prompt as a Speech item."""
    return prompt_text(prompt_id, **fields), prompt_id


def _url(services: Services, path: str, **params: Any) -> str:
    return public_url(services, f"{BASE}{path}", **params)


def _call_log(session: Session, services: Services) -> CallLog:
    caller = try_normalise_phone(form("From")) if form("From") else None
    return call_logs.open_call_log(session, now=services.clock.now(), provider_call_id=form("CallSid") or None,
                                   caller=caller, called=try_normalise_phone(form("To")) if form("To") else None)


def _resident(session: Session, entry: CallLog) -> Resident | None:
    return session.get(Resident, entry.resident_id) if entry.resident_id else None


def _speech_enabled(services: Services) -> bool:
    return services.asr is not None


def _menu(services: Services, *, tries: int, failures: int = 0,
          lead: list[tuple[str, str | None]] | None = None) -> str:
    cfg = voice_settings(services)
    items = list(lead or [])
    if tries > 1:
        items.append(P("menu_repeat"))
    items.append(P("menu_speech" if _speech_enabled(services) else "menu_keys"))
    return twiml.menu(
        speaker_for(services), items,
        key_action=_url(services, "/menu/key", tries=tries, failures=failures),
        record_action=_url(services, "/menu/record", tries=tries, failures=failures),
        silent_url=_url(services, "/menu/silent", tries=tries, failures=failures),
        record_max_s=int(cfg["record_max_s"]), silence_s=int(cfg["silence_s"]),
    )


def _record_message(services: Services, prompt: str, request_type: str, purpose: str = "message") -> str:
    cfg = voice_settings(services)
    return twiml.record_message(
        speaker_for(services), [P(prompt)], action=_url(services, "/message", type=request_type, purpose=purpose),
        record_max_s=int(cfg["message_max_s"]), silence_s=int(cfg["silence_s"]) + 1,
        after_silence=_url(services, "/menu", tries=1, empty=1),
    )


def _anything_else(services: Services, items: list[tuple[str, str | None]]) -> str:
    return twiml.ask_digit(speaker_for(services), [*items, P("anything_else")],
                           action=_url(services, "/menu", tries=1), no_input_url=_url(services, "/goodbye"), repeat=1,
                           timeout_s=5)


def _handler_name(session: Session, entry: CallLog) -> str | None:
    if entry.household_id is None:
        return None
    head = courtyard_head(session, entry.household_id)
    return head.display_name if head is not None else None


def _create_request(session: Session, services: Services, entry: CallLog, *, request_type: str, text: str,
                    transcript: str | None = None, confidence: float | None = None,
                    recording: CallRecording | None = None, details: dict | None = None,
                    urgent: bool = False) -> tuple[int, str | None]:
    """Submit a request from this call; return (request id, who handles it)."""
    recording_link = public_url(services, f"/console/voice/recordings/{recording.id}") if recording else None
    extra = dict(details or {})
    if entry.unknown_caller:
        extra.update(unknown_caller=True, caller=entry.caller)
    extra["call_log_id"] = entry.id
    req = submit_request(
        session, now=services.clock.now(), due_hours=services.settings.requests.due_hours,
        resident_id=entry.resident_id, type=request_type, channel="phone", text=text, transcript=transcript,
        confidence=confidence, recording_url=recording_link, details=extra, urgent=urgent,
        system_label=REQUEST_LABEL,
    )
    if recording is not None:
        recording.request_id = req.id
    call_logs.set_outcome(entry, "request_created", request_id=req.id)
    call_logs.add_step(entry, f"request:{req.id}")
    return req.id, _handler_name(session, entry)


def _done_items(number: int, handler: str | None) -> list[tuple[str, str | None]]:
    if handler:
        return [P("request_done", number=number, handler=handler)]
    return [P("request_done_unknown", number=number)]


# --- entry ------------------------------------------------------------------------------------------------


@bp.post("/twilio/incoming")
@twilio_webhook
def incoming() -> str:
    """The number's Voice URL: identify the caller, greet them, offer the menu."""
    services = current_services()
    with transaction(services.session_factory) as session:
        entry = _call_log(session, services)
        call_logs.add_step(entry, "incoming")
        resident = _resident(session, entry)
        if resident is not None:
            greeting = [P("greeting_known", name=resident.name)]
        else:
            greeting = [P("greeting_unknown")]
            call_logs.add_step(entry, "unknown_caller")
    if resident is None:
        cfg = voice_settings(services)
        return twiml.record_message(speaker_for(services), [*greeting, P("ask_identity")],
                                    action=_url(services, "/identity"), record_max_s=int(cfg["record_max_s"]),
                                    silence_s=int(cfg["silence_s"]), after_silence=_url(services, "/menu", tries=1))
    return _menu(services, tries=1, lead=greeting)


@bp.post("/twilio/identity")
@twilio_webhook
def identity() -> str:
    """An unknown caller said who they are: keep the recording for staff, then the menu."""
    services = current_services()
    url = form("RecordingUrl")
    with transaction(services.session_factory) as session:
        entry = _call_log(session, services)
        call_logs.add_step(entry, "identity")
        if url:
            rec = call_logs.add_recording(session, now=services.clock.now(), call_log_id=entry.id, recording_url=url,
                                          duration_s=int_arg("RecordingDuration"), purpose="identity",
                                          transcribe=_speech_enabled(services))
            rec_id = rec.id
        else:
            rec_id = None
    if rec_id is not None:
        schedule_recognition(services, rec_id)
    return _menu(services, tries=1)


@bp.post("/twilio/menu")
@twilio_webhook
def menu() -> str:
    """The menu again (after a task, after silence or an unknown key)."""
    services = current_services()
    tries = int_arg("tries", 1, 1, 9)
    if form("Digits") or form("empty"):
        with transaction(services.session_factory) as session:
            call_logs.add_step(_call_log(session, services), "menu_again")
        lead = [P("message_empty")] if form("empty") else []
        return _menu(services, tries=1, lead=lead)
    return _menu(services, tries=tries, failures=int_arg("failures", 0, 0, 9))


@bp.post("/twilio/goodbye")
@twilio_webhook
def goodbye() -> str:
    """The caller is done: thank them and hang up."""
    return twiml.speak_then(speaker_for(current_services()), [P("goodbye")], hangup=True)


@bp.post("/twilio/menu/silent")
@twilio_webhook
def menu_silent() -> str:
    """Silence: repeat the menu once, slowly; after that put the caller through to a person."""
    services = current_services()
    tries = int_arg("tries", 1, 1, 9)
    with transaction(services.session_factory) as session:
        call_logs.add_step(_call_log(session, services), f"silent:{tries}")
    if tries < int(voice_settings(services)["menu_tries"]):
        return _menu(services, tries=tries + 1, failures=int_arg("failures", 0, 0, 9))
    return _connect_head(services)


@bp.post("/twilio/menu/key")
@twilio_webhook
def menu_key() -> str:
    """A key pressed during the menu prompt."""
    services = current_services()
    return _route_key(services, form("Digits")[:1], int_arg("tries", 1, 1, 9), int_arg("failures", 0, 0, 9))


@bp.post("/twilio/menu/record")
@twilio_webhook
def menu_record() -> str:
    """After the beep: a key ended the recording (keypad), or the caller spoke (speech), or silence."""
    services = current_services()
    tries, failures = int_arg("tries", 1, 1, 9), int_arg("failures", 0, 0, 9)
    digit = form("Digits")[:1]
    duration = int_arg("RecordingDuration", 0)
    url = form("RecordingUrl")
    if digit and digit in twiml.MENU_KEYS and duration <= 2:
        return _route_key(services, digit, tries, failures)
    if not url or duration < 1:
        return menu_silent.__wrapped__()  # same as silence
    return _start_speech(services, url, duration, purpose="menu", failures=failures)


def _route_key(services: Services, digit: str, tries: int, failures: int) -> str:
    with transaction(services.session_factory) as session:
        entry = _call_log(session, services)
        call_logs.add_step(entry, f"key:{digit or '-'}")
    if digit == "1":
        return _record_message(services, "report_prompt", "environment", purpose="report")
    if digit in ("2", "0"):
        return _connect_head(services)
    if digit == "3":
        return _read_points(services)
    if digit == "4":
        return twiml.ask_digit(speaker_for(services), [P("submenu_4")], action=_url(services, "/submenu4"),
                               no_input_url=_url(services, "/menu", tries=1))
    if tries >= int(voice_settings(services)["menu_tries"]) + 1:
        return _connect_head(services)
    return _menu(services, tries=tries + 1, failures=failures, lead=[P("invalid_key")])


@bp.post("/twilio/submenu4")
@twilio_webhook
def submenu4() -> str:
    """4 → 1 帮我卖, 2 找活干."""
    services = current_services()
    digit = form("Digits")[:1]
    with transaction(services.session_factory) as session:
        call_logs.add_step(_call_log(session, services), f"key4:{digit or '-'}")
    if digit == "1":
        if _speech_enabled(services):
            cfg = voice_settings(services)
            return twiml.record_message(speaker_for(services), [P("sell_prompt")], action=_url(services, "/sell"),
                                        record_max_s=int(cfg["record_max_s"]), silence_s=int(cfg["silence_s"]),
                                        after_silence=_url(services, "/menu", tries=1, empty=1))
        return _record_message(services, "sell_prompt", "sell")
    if digit == "2":
        return _read_jobs(services)
    return _menu(services, tries=1, lead=[P("invalid_key")] if digit else [])


@bp.post("/twilio/sell")
@twilio_webhook
def sell() -> str:
    """What the caller wants to sell (recorded): recognise, then read back."""
    services = current_services()
    url = form("RecordingUrl")
    if not url or int_arg("RecordingDuration", 0) < 1:
        return _menu(services, tries=1, lead=[P("message_empty")])
    return _start_speech(services, url, int_arg("RecordingDuration", 0), purpose="sell", failures=0)


# --- talking to the 院长 and leaving messages ------------------------------------------------------------


def _connect_head(services: Services) -> str:
    with transaction(services.session_factory) as session:
        entry = _call_log(session, services)
        call_logs.add_step(entry, "connect_head")
        head = courtyard_head(session, entry.household_id) if entry.household_id else None
        number = try_normalise_phone(head.phone) if head is not None and head.phone else None
    if number is None:
        return _record_message(services, "leave_message", "find_head")
    return twiml.dial(speaker_for(services), [P("connect_head")], number=number, caller_id=form("To") or None,
                      timeout_s=int(services.settings.telephony.ring_timeout_s),
                      action=_url(services, "/head-dial"))


@bp.post("/twilio/head-dial")
@twilio_webhook
def head_dial() -> str:
    """How the call to the 院长 went: talked → goodbye; no answer → leave a message (a request)."""
    services = current_services()
    status = form("DialCallStatus")
    with transaction(services.session_factory) as session:
        entry = _call_log(session, services)
        call_logs.add_step(entry, f"head:{status or '-'}")
        if status == "completed":
            call_logs.set_outcome(entry, "talked_to_head")
    if status == "completed":
        return twiml.speak_then(speaker_for(services), [P("goodbye")], hangup=True)
    return _record_message(services, "head_no_answer", "find_head")


@bp.post("/twilio/message")
@twilio_webhook
def message() -> str:
    """A recorded message becomes a request for the 院长 (nothing the caller said is lost)."""
    services = current_services()
    request_type = form("type") or "other"
    if request_type not in services.settings.requests.due_hours:
        request_type = "other"
    url, duration = form("RecordingUrl"), int_arg("RecordingDuration", 0)
    if not url:
        return _menu(services, tries=1, lead=[P("message_empty")])
    speech = _speech_enabled(services)
    with transaction(services.session_factory) as session:
        entry = _call_log(session, services)
        rec = call_logs.add_recording(session, now=services.clock.now(), call_log_id=entry.id, recording_url=url,
                                      duration_s=duration, purpose=form("purpose") or "message", transcribe=speech)
        number, handler = _create_request(session, services, entry, request_type=request_type,
                                          text="电话留言（请听录音）", recording=rec)
        call_logs.set_outcome(entry, "message_left", request_id=number)
        rec_id = rec.id
    schedule_recognition(services, rec_id)
    items = [P("message_saved", handler=handler, number=number)] if handler else _done_items(number, None)
    return _anything_else(services, items)


@bp.post("/twilio/fallback")
@twilio_webhook
def fallback() -> str:
    """The number's fallback URL: an apology and a message for the 院长."""
    services = current_services()
    return twiml.apology(speaker_for(services), message_action=_url(services, "/fallback/message"))


@bp.post("/twilio/fallback/message")
@twilio_webhook
def fallback_message() -> str:
    """The message left on the apology path."""
    services = current_services()
    url = form("RecordingUrl")
    if not url:
        return twiml.speak_then(speaker_for(services), [P("goodbye")], hangup=True)
    with transaction(services.session_factory) as session:
        entry = _call_log(session, services)
        rec = call_logs.add_recording(session, now=services.clock.now(), call_log_id=entry.id, recording_url=url,
                                      duration_s=int_arg("RecordingDuration", 0), purpose="message",
                                      transcribe=_speech_enabled(services))
        number, handler = _create_request(session, services, entry, request_type="other",
                                          text="电话留言（系统出错后留言，请听录音）", recording=rec)
        rec_id = rec.id
    schedule_recognition(services, rec_id)
    return twiml.speak_then(speaker_for(services), [*_done_items(number, handler), P("goodbye")], hangup=True)


@bp.post("/twilio/status")
@twilio_webhook
def status() -> str:
    """Status callback of inbound calls: close the call log with its duration."""
    services = current_services()
    call_status = form("CallStatus")
    if call_status in ("completed", "busy", "failed", "no-answer", "canceled"):
        duration = int_arg("CallDuration", -1, -1)
        with transaction(services.session_factory) as session:
            call_logs.finish_call(session, provider_call_id=form("CallSid") or None, status=call_status,
                                  duration_s=None if duration < 0 else duration, now=services.clock.now())
    return twiml.empty()


# --- free speech --------------------------------------------------------------------------------------------


def _start_speech(services: Services, url: str, duration: int, *, purpose: str, failures: int) -> str:
    speech = _speech_enabled(services)
    with transaction(services.session_factory) as session:
        entry = _call_log(session, services)
        call_logs.add_step(entry, f"speech:{purpose}")
        rec = call_logs.add_recording(session, now=services.clock.now(), call_log_id=entry.id, recording_url=url,
                                      duration_s=duration, purpose=purpose, transcribe=speech)
        rec_id = rec.id
        if not speech:
            # No recogniser: what they said is a message for the 院长.
            number, handler = _create_request(session, services, entry,
                                              request_type="sell" if purpose == "sell" else "other",
                                              text="电话留言（请听录音）", recording=rec)
            call_logs.set_outcome(entry, "message_left", request_id=number)
    if not speech:
        return _anything_else(services, [P("message_saved", handler=handler, number=number)] if handler
                              else _done_items(number, None))
    # The job redirects the live call to the read-back as soon as it is ready (polling is the fallback).
    schedule_recognition(services, rec_id, ready_url=_ready_url(services, rec_id, failures))
    return twiml.hold(speaker_for(services), [P("hold")],
                      poll_url=_url(services, "/speech/poll", recording=rec_id, polls=0, failures=failures),
                      pause_s=_poll_interval(services))


def _ready_url(services: Services, rec_id: int, failures: int) -> str | None:
    """Where the recognition job redirects the live call when the result is stored (None: polling only)."""
    if not voice_settings(services).get("push_result", True):
        return None
    return _url(services, "/speech/poll", recording=rec_id, polls=1, failures=failures, push=1)


def _poll_interval(services: Services) -> int:
    """Seconds of <Pause> between polls: Twilio's shortest pause is 1 s."""
    return max(1, int(voice_settings(services)["poll_interval_s"]))


def _intent_for(recording: CallRecording) -> Intent | None:
    if recording.purpose == "sell":
        from voice.intents import INTENTS, clean_transcript, correct_homophones, strip_fillers

        cleaned = correct_homophones(clean_transcript(recording.text))
        if not cleaned:
            return None
        goods, quantity = extract_offer(cleaned)
        return Intent(name="sell", request_type=INTENTS["sell"][0], summary=strip_fillers(cleaned), score=0.5,
                      keyword="", goods=goods, quantity=quantity)
    return classify(recording.text)


@bp.post("/twilio/speech/poll")
@twilio_webhook
def speech_poll() -> str:
    """Bounded polling while the recogniser works; then read back what was understood."""
    services = current_services()
    rec_id, polls, failures = int_arg("recording"), int_arg("polls", 0, 0, 99), int_arg("failures", 0, 0, 9)
    cfg = voice_settings(services)
    reschedule = False
    with transaction(services.session_factory) as session:
        recording = session.get(CallRecording, rec_id)
        entry = _call_log(session, services)
        if recording is None or recording.call_log_id != entry.id:
            return _menu(services, tries=1)
        if recording.status in ("pending", "running"):
            if polls >= int(cfg["poll_max"]):
                call_logs.add_step(entry, "speech:timeout")
                return _speech_gave_up(services, session, entry, recording)
            reschedule = is_stale(recording, services.clock.now(), float(services.settings.vosk.timeout_s))
        elif recording.status != "done" or not recording.text:
            call_logs.add_step(entry, "speech:nothing")
            return _speech_failed(services, session, entry, recording, failures)
        else:
            intent = _intent_for(recording)
            call_logs.add_transcript(entry, recording.text, recording.confidence, intent.name if intent else None)
            if intent is None:
                return _speech_failed(services, session, entry, recording, failures)
            call_logs.add_step(entry, f"intent:{intent.name}")
            return twiml.ask_digit(speaker_for(services), [(readback_text(intent), None)],
                                   action=_url(services, "/speech/confirm", recording=rec_id, failures=failures),
                                   no_input_url=_url(services, "/speech/confirm", recording=rec_id, failures=failures,
                                                     none=1))
    if reschedule:
        schedule_recognition(services, rec_id, ready_url=_ready_url(services, rec_id, failures))
    items = [P("hold_more")] if polls and polls % 4 == 3 else []
    return twiml.hold(speaker_for(services), items,
                      poll_url=_url(services, "/speech/poll", recording=rec_id, polls=polls + 1, failures=failures),
                      pause_s=_poll_interval(services))


def _speech_failed(services: Services, session: Session, entry: CallLog, recording: CallRecording,
                   failures: int) -> str:
    failures += 1
    if failures >= int(voice_settings(services)["confirm_failures"]):
        return _speech_gave_up(services, session, entry, recording)
    return _menu(services, tries=1, failures=failures, lead=[P("not_understood")])


def _speech_gave_up(services: Services, session: Session, entry: CallLog, recording: CallRecording) -> str:
    """After two failures the recording itself becomes a request for the 院长."""
    number, handler = _create_request(
        session, services, entry, request_type="sell" if recording.purpose == "sell" else "other",
        text="电话留言（语音未能确认，请听录音）", transcript=recording.text, confidence=recording.confidence,
        recording=recording,
    )
    call_logs.set_outcome(entry, "message_left", request_id=number)
    return _anything_else(services, [P("speech_failed"), *_done_items(number, handler)])


@bp.post("/twilio/speech/confirm")
@twilio_webhook
def speech_confirm() -> str:
    """1: act on what was understood. 2 (or nothing): try again, and after two failures keep the recording."""
    services = current_services()
    rec_id, failures = int_arg("recording"), int_arg("failures", 0, 0, 9)
    digit = form("Digits")[:1]
    with transaction(services.session_factory) as session:
        recording = session.get(CallRecording, rec_id)
        entry = _call_log(session, services)
        if recording is None or recording.call_log_id != entry.id or not recording.text:
            return _menu(services, tries=1)
        call_logs.add_step(entry, f"confirm:{digit or '-'}")
        intent = _intent_for(recording)
        if digit != "1" or intent is None:
            return _speech_failed(services, session, entry, recording, failures)
        if intent.name not in ("points", "find_head", "human", "job"):
            return _act(services, session, entry, recording, intent)
    # These open their own transaction, so they run after this one has committed.
    if intent.name == "points":
        return _read_points(services)
    if intent.name == "job":
        return _read_jobs(services)
    return _connect_head(services)


def _act(services: Services, session: Session, entry: CallLog, recording: CallRecording, intent: Intent) -> str:
    """Submit the request the caller confirmed and tell them its number and who handles it."""
    details: dict[str, Any] = {"intent": intent.name, "intent_score": intent.score}
    text = intent.summary
    if intent.name == "sell":
        details.update(goods=intent.goods, quantity=intent.quantity)
        text = "帮我卖：" + ("".join(p for p in (intent.quantity, intent.goods) if p) or intent.summary)
    number, handler = _create_request(
        session, services, entry, request_type=intent.request_type or "other", text=text,
        transcript=recording.text, confidence=recording.confidence, recording=recording, details=details,
        urgent=intent.name == "help",
    )
    return _anything_else(services, _done_items(number, handler))


# --- reading things out ---------------------------------------------------------------------------------------


def _read_points(services: Services) -> str:
    with transaction(services.session_factory) as session:
        entry = _call_log(session, services)
        call_logs.add_step(entry, "points")
        if entry.household_id is None:
            items = [P("points_unknown_caller")]
        else:
            try:
                total = points.balance(session, entry.household_id)
                rank, _ = points.household_rank(session, now=services.clock.now(), household_id=entry.household_id)
                items = [P("points_balance", balance=total, rank=rank)]
                call_logs.set_outcome(entry, "points_read")
            except Exception:
                log.exception("points lookup failed")
                items = [P("points_unavailable")]
    return _anything_else(services, items)


def _read_jobs(services: Services) -> str:
    with transaction(services.session_factory) as session:
        entry = _call_log(session, services)
        call_logs.add_step(entry, "jobs")
        texts: list[str] = []
        if entry.household_id is not None:
            try:
                query = notices.notices_for_household(session, now=services.clock.now(),
                                                      household_id=entry.household_id)
                for notice, _read in session.execute(query.limit(20)):
                    if notice.category == "jobs" and len(texts) < 3:
                        texts.append(f"{notice.title}。{notice.body}"[:300])
            except Exception:
                log.exception("job notices lookup failed")
        call_logs.set_outcome(entry, "jobs_read")
    items: list[tuple[str, str | None]] = [P("jobs_intro"), *[(t, None) for t in texts]] if texts else [P("jobs_none")]
    return twiml.ask_digit(speaker_for(services), [*items, P("jobs_ask")], action=_url(services, "/jobs/ask"),
                           no_input_url=_url(services, "/menu", tries=1), repeat=1)


@bp.post("/twilio/jobs/ask")
@twilio_webhook
def jobs_ask() -> str:
    """1: ask the 院长 to look out for work (a 找活干 request); anything else: the menu."""
    services = current_services()
    if form("Digits")[:1] != "1":
        return _menu(services, tries=1)
    with transaction(services.session_factory) as session:
        entry = _call_log(session, services)
        number, handler = _create_request(session, services, entry, request_type="job", text="想找活干，请院长帮忙留意")
    return _anything_else(services, _done_items(number, handler))
