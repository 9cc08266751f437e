"""The village phone line as the elder hears it: greeting, menu, keys, free speech, read-back, acts.

Each step is provider-neutral (voice/flow.py): it returns what to play and what to collect next.
The TwiML adapter (voice/twilio_flow.py) serves each step at /voice/twilio/<step> and keeps its
state in the query strings Twilio signs back to us; the SIP call driver runs the same steps on a
live call, where a spoken answer arrives already recognised (streaming) and is read back at once.
Step parameters: `tries` and `failures` count the menu's silent tries and misunderstood answers,
`recording` names the recording being recognised, `polls` counts the hold's polls, `purpose` says
what a recorded message is for.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from core.community import dayjobs, notices, points
from core.container import Services
from core.db import transaction
from core.errors import InvalidTransition, NotFound
from core.models.calls import CallLog, CallRecording
from core.models.places import Resident, Village
from core.people.directory import courtyard_head
from core.phone import calls as call_logs
from core.phone.dialler import advance_help_call
from core.phone.helpcalls import start_help_call
from core.phone.telephony.sip_provider import LOCAL_RECORDING_SCHEME
from core.phone.transfers import HEAD, HUMAN, PlaceStaff, place_staff, plan_transfer
from core.phones import try_normalise_phone
from core.requests.workorders import submit_request
from voice.flow import (
    Action,
    AskKey,
    CallInfo,
    Dial,
    Heard,
    Hold,
    Menu,
    Next,
    Params,
    Record,
    Recorded,
    Say,
    Speech,
    step,
)
from voice.intents import (
    INTENTS,
    Intent,
    classify,
    clean_transcript,
    correct_homophones,
    extract_offer,
    readback_text,
    strip_fillers,
)
from voice.prompts import prompt_text
from voice.recognition import is_stale, schedule_recognition, store_streamed
from voice.webhooks import public_url

log = logging.getLogger(__name__)
REQUEST_LABEL = "电话"
MENU_KEYS = "0123456789"
EMERGENCY_KEY = "9"  # announced first in the menu: 有急事，请按9


def P(prompt_id: str, **fields: object) -> Speech:  # noqa: N802 - reads like a marker in flow code
    """A prompt as a Speech item."""
    return prompt_text(prompt_id, "zh", **fields), prompt_id


def param_int(params: Params, name: str, default: int = 0, low: int = 0, high: int = 1_000_000) -> int:
    """An integer step parameter clamped to [low, high]; garbage gives the default."""
    try:
        return max(low, min(high, int(str(params.get(name, "")).strip())))
    except ValueError:
        return default


def _call_log(session: Session, call: CallInfo) -> CallLog:
    caller = try_normalise_phone(call.caller) if call.caller else None
    entry = call_logs.open_call_log(session, now=call.services.clock.now(), provider_call_id=call.call_id or None,
                                    caller=caller, called=try_normalise_phone(call.called) if call.called else None)
    if entry.village_id is None:
        # An unknown caller on a village's number is that village's to look after; an unmapped number
        # belongs to `[voice] unknown_caller_village`, or to the only village there is.
        entry.village_id = call.village_id or _default_village(session, call.services)
    return entry


def _default_village(session: Session, services: Services) -> int | None:
    configured = services.settings.voice.unknown_caller_village
    if configured > 0:
        return configured
    ids = list(session.scalars(sa.select(Village.id).limit(2)))
    return ids[0] if len(ids) == 1 else None


def _resident(session: Session, entry: CallLog) -> Resident | None:
    return session.get(Resident, entry.resident_id) if entry.resident_id else None


def _speech_enabled(services: Services) -> bool:
    return services.asr is not None


def _menu(call: CallInfo, *, tries: int, failures: int = 0, lead: list[Speech] | None = None) -> Menu:
    cfg = call.services.settings.voice
    items = list(lead or [])
    menu_prompt = "menu_speech" if _speech_enabled(call.services) else "menu_keys"
    if tries > 1:
        # Once more, slowly: a different, slower rendering (its own prompt, spoken at a slower rate).
        items.extend([P("menu_repeat"), P(f"{menu_prompt}_slow")])
    else:
        items.append(P(menu_prompt))
    state = {"tries": tries, "failures": failures}
    return Menu(items, on_key=Next("menu/key", state), on_speech=Next("menu/record", state),
                on_silence=Next("menu/silent", state), record_max_s=cfg.record_max_s,
                silence_s=cfg.silence_s)


def _record_message(call: CallInfo, prompt: str, request_type: str, purpose: str = "message", *,
                    callback: bool = False, lead: list[Speech] | None = None) -> Record:
    """Record a message after the beep. With `callback` (nobody took the call) silence is a request too."""
    cfg = call.services.settings.voice
    state: dict[str, str | int] = {"type": request_type, "purpose": purpose}
    if callback:
        state["callback"] = 1
    on_silence = Next("message", state) if callback else Next("menu", {"tries": 1, "empty": 1})
    return Record([*(lead or []), P(prompt)], on_done=Next("message", state), on_silence=on_silence,
                  max_s=cfg.message_max_s, silence_s=cfg.silence_s + 1, purpose="message",
                  keys_choose=True)


def _anything_else(items: list[Speech]) -> AskKey:
    return AskKey([*items, P("anything_else")], on_key=Next("menu", {"tries": 1}), on_none=Next("goodbye"),
                  repeat=1, timeout_s=5)


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
        village_id=entry.village_id if entry.household_id is None else None,  # the village whose number was dialled
    )
    if recording is not None:
        recording.request_id = req.id
    call_logs.set_outcome(entry, "request_created", request_id=req.id)
    call_logs.add_step(entry, f"request:{req.id}")
    return req.id, _handler_name(session, entry)


def _add_recording(session: Session, call: CallInfo, entry: CallLog, recorded: Recorded, purpose: str) -> CallRecording:
    """Keep a recording of this call (a provider URL, or a file the SIP endpoint already wrote)."""
    local = recorded.url[len(LOCAL_RECORDING_SCHEME):] if recorded.url.startswith(LOCAL_RECORDING_SCHEME) else None
    return call_logs.add_recording(session, now=call.services.clock.now(), call_log_id=entry.id,
                                   recording_url=recorded.url, duration_s=recorded.duration_s, purpose=purpose,
                                   transcribe=_speech_enabled(call.services), local_file=local)


def _recognise(call: CallInfo, rec_id: int, recorded: Recorded) -> None:
    """Transcribe a kept recording: store the streaming result if the call had one, else queue recognition."""
    if recorded.streamed:
        store_streamed(call.services, rec_id, recorded)
    else:
        schedule_recognition(call.services, rec_id)


def _done_items(number: int, handler: str | None) -> list[Speech]:
    if handler:
        return [P("request_done", number=number, handler=handler)]
    return [P("request_done_unknown", number=number)]


# --- entry ------------------------------------------------------------------------------------------------


@step("incoming")
def incoming(call: CallInfo, params: Params, heard: Heard) -> Action:
    """A call comes in: identify the caller, greet them, offer the menu."""
    services = call.services
    with transaction(services.session_factory) as session:
        entry = _call_log(session, call)
        call_logs.add_step(entry, "incoming")
        resident = _resident(session, entry)
        if resident is not None:
            greeting = [P("greeting_known", name=resident.name)]
        else:
            greeting = [P("greeting_unknown")]
            call_logs.add_step(entry, "unknown_caller")
    if resident is None:
        cfg = services.settings.voice
        return Record([*greeting, P("ask_identity")], on_done=Next("identity"), on_silence=Next("menu", {"tries": 1}),
                      max_s=cfg.record_max_s, silence_s=cfg.silence_s, purpose="identity")
    return _menu(call, tries=1, lead=greeting)


@step("identity")
def identity(call: CallInfo, params: Params, heard: Heard) -> Action:
    """An unknown caller said who they are: keep the recording for staff, then the menu."""
    services = call.services
    recorded = heard.recording
    with transaction(services.session_factory) as session:
        entry = _call_log(session, call)
        call_logs.add_step(entry, "identity")
        rec_id = _add_recording(session, call, entry, recorded, "identity").id if recorded else None
    if rec_id is not None and recorded is not None:
        _recognise(call, rec_id, recorded)
    return _menu(call, tries=1)


@step("menu")
def menu(call: CallInfo, params: Params, heard: Heard) -> Action:
    """The menu again (after a task, after silence or an unknown key)."""
    tries = param_int(params, "tries", 1, 1, 9)
    if heard.digits or params.get("empty"):
        with transaction(call.services.session_factory) as session:
            call_logs.add_step(_call_log(session, call), "menu_again")
        lead = [P("message_empty")] if params.get("empty") else []
        return _menu(call, tries=1, lead=lead)
    return _menu(call, tries=tries, failures=param_int(params, "failures", 0, 0, 9))


@step("goodbye")
def goodbye(call: CallInfo, params: Params, heard: Heard) -> Action:
    """The caller is done: thank them and hang up."""
    return Say([P("goodbye")], hangup=True)


@step("menu/silent")
def menu_silent(call: CallInfo, params: Params, heard: Heard) -> Action:
    """Silence: repeat the menu once, slowly; after that put the caller through to a person."""
    tries = param_int(params, "tries", 1, 1, 9)
    with transaction(call.services.session_factory) as session:
        call_logs.add_step(_call_log(session, call), f"silent:{tries}")
    if tries < call.services.settings.voice.menu_tries:
        return _menu(call, tries=tries + 1, failures=param_int(params, "failures", 0, 0, 9))
    return _transfer(call, HEAD, single=True)


@step("menu/key")
def menu_key(call: CallInfo, params: Params, heard: Heard) -> Action:
    """A key pressed during the menu prompt."""
    tries, failures = param_int(params, "tries", 1, 1, 9), param_int(params, "failures", 0, 0, 9)
    return _route_key(call, heard.digits[:1], tries, failures)


@step("menu/record")
def menu_record(call: CallInfo, params: Params, heard: Heard) -> Action:
    """After the beep: a key ended the recording (keypad), or the caller spoke (speech), or silence."""
    tries, failures = param_int(params, "tries", 1, 1, 9), param_int(params, "failures", 0, 0, 9)
    digit = heard.digits[:1]
    recorded = heard.recording
    duration = recorded.duration_s if recorded else 0
    if digit and digit in MENU_KEYS and duration <= 2:
        return _route_key(call, digit, tries, failures)
    if recorded is None or not recorded.url or duration < 1:
        return menu_silent(call, params, heard)  # same as silence
    return _start_speech(call, recorded, purpose="menu", failures=failures)


def _route_key(call: CallInfo, digit: str, tries: int, failures: int) -> Action:
    with transaction(call.services.session_factory) as session:
        call_logs.add_step(_call_log(session, call), f"key:{digit or '-'}")
    if digit == EMERGENCY_KEY:
        return _emergency(call, via="key")
    if digit == "1":
        return AskKey([P("report_kind")], on_key=Next("report/kind"), on_none=Next("report/kind", {"none": 1}),
                      repeat=2, timeout_s=5)
    if digit == "2":
        return _transfer(call, HEAD)
    if digit == "0":
        return _transfer(call, HUMAN)
    if digit == "3":
        return _read_points(call)
    if digit == "4":
        return AskKey([P("submenu_4")], on_key=Next("submenu4"), on_none=Next("menu", {"tries": 1}))
    if tries >= call.services.settings.voice.menu_tries + 1:
        return _transfer(call, HEAD, single=True)
    return _menu(call, tries=tries + 1, failures=failures, lead=[P("invalid_key")])


REPORT_KINDS = {"1": "environment", "2": "repair", "3": "other"}


@step("report/kind")
def report_kind(call: CallInfo, params: Params, heard: Heard) -> Action:
    """1 报告问题 → what kind: 1 卫生/垃圾 (爱环境), 2 坏了要修 (维修), 3 别的; no key: record it as "other"
    and let the recogniser file it by what was said (it retypes the request from the transcript)."""
    digit = heard.digits[:1]
    with transaction(call.services.session_factory) as session:
        call_logs.add_step(_call_log(session, call), f"report:{digit or '-'}")
    if digit == EMERGENCY_KEY:
        return _emergency(call, via="key")
    return _record_message(call, "report_prompt", REPORT_KINDS.get(digit, "other"), purpose="report")


@step("submenu4")
def submenu4(call: CallInfo, params: Params, heard: Heard) -> Action:
    """4 → 1 帮我卖, 2 找活干."""
    digit = heard.digits[:1]
    with transaction(call.services.session_factory) as session:
        call_logs.add_step(_call_log(session, call), f"key4:{digit or '-'}")
    if digit == "1":
        if _speech_enabled(call.services):
            cfg = call.services.settings.voice
            return Record([P("sell_prompt")], on_done=Next("sell"), on_silence=Next("menu", {"tries": 1, "empty": 1}),
                          max_s=cfg.record_max_s, silence_s=cfg.silence_s, purpose="sell")
        return _record_message(call, "sell_prompt", "sell")
    if digit == "2":
        return _read_jobs(call)
    return _menu(call, tries=1, lead=[P("invalid_key")] if digit else [])


@step("sell")
def sell(call: CallInfo, params: Params, heard: Heard) -> Action:
    """What the caller wants to sell (recorded): recognise, then read back."""
    recorded = heard.recording
    if recorded is None or not recorded.url or recorded.duration_s < 1:
        return _menu(call, tries=1, lead=[P("message_empty")])
    return _start_speech(call, recorded, purpose="sell", failures=0)


# --- emergencies ------------------------------------------------------------------------------------------------


def _emergency(call: CallInfo, *, via: str, words: str = "") -> Action:
    """救命 / key 9: the household's one-key help call (as from the TV) and an urgent request; say who is rung.

    The caller is asked to hang up so that the person who answers can be put through to this phone. A caller
    we cannot place (or whose household has nobody to ring) is put through to the duty person at once.
    """
    services = call.services
    dryrun = services.telephony is None or bool(getattr(services.telephony, "is_dryrun", False))
    help_call_id: int | None = None
    names: list[str] = []
    with transaction(services.session_factory) as session:
        entry = _call_log(session, call)
        call_logs.add_step(entry, f"emergency:{via}")
        text = "电话紧急求助" + (f"：{words}" if words else "（按9）")
        if entry.household_id is not None:
            help_call = start_help_call(session, now=services.clock.now(), household_id=entry.household_id,
                                        source="phone", dryrun=dryrun)
            names = [str(person.get("name") or "") for person in (help_call.chain or []) if person.get("phone")]
            if names:
                help_call_id = help_call.id
                entry.help_call_id = help_call.id
        details = {"help_call_id": help_call_id, "via": via} if help_call_id else {"via": via}
        # The same help call asked for again (a second call, 9 again): one urgent request, not one per call.
        earlier = session.scalar(sa.select(CallLog.request_id).where(
            CallLog.help_call_id == help_call_id, CallLog.id != entry.id, CallLog.request_id.is_not(None))
            .order_by(CallLog.id)) if help_call_id else None
        if earlier is None:
            _create_request(session, services, entry, request_type="help", text=text, details=details, urgent=True)
        else:
            call_logs.add_step(entry, f"request:{earlier}")
        call_logs.set_outcome(entry, "help_call" if help_call_id else "emergency_transfer", request_id=earlier)
    if help_call_id is None:
        return _transfer(call, HUMAN, lead=[P("help_calling_staff")])
    try:
        advance_help_call(services, help_call_id)  # ring the first person now; the worker's sweep is the backstop
    except Exception:
        log.exception("help call %s from the phone line did not start dialling", help_call_id)
    return Say([P("help_calling", names="、".join(names[:3]))], hangup=True)


# --- talking to the 院长 and leaving messages ------------------------------------------------------------


def _dialled(entry: CallLog, place: PlaceStaff) -> set[str]:
    """Numbers this call already rang: the 院长 (path step "connect_head") and every "dial:<number>" step."""
    path = entry.path or []
    numbers = {item[len("dial:"):] for item in path if isinstance(item, str) and item.startswith("dial:")}
    if "connect_head" in path and place.head is not None:
        numbers.add(place.head.phone)
    return numbers


def _transfer(call: CallInfo, purpose: str, *, attempt: int = 1, single: bool = False,
              lead: list[Speech] | None = None) -> Action:
    """Put the caller through to the next person for 2 找院长 / 0 找人工 nobody on this call has rung yet.

    `single` (the silent caller, S2): the 院长 only, then a message. Otherwise a fallback person follows
    (village duty phone, then the 小院's staff list) up to `[voice] transfer_attempts` people in all.
    """
    services = call.services
    with transaction(services.session_factory) as session:
        entry = _call_log(session, call)
        place = place_staff(session, household_id=entry.household_id, village_id=entry.village_id,
                            duty_name=prompt_text("duty_person"))
        people = plan_transfer(purpose, place, dialled=_dialled(entry, place))
        if single:
            people = [p for p in people if p.kind == "head"] if place.head is not None else people[:1]
        person = people[0] if people else None
        if person is not None:
            call_logs.add_step(entry, f"connect_{person.kind}")
            if person.kind != "head":
                call_logs.add_step(entry, f"dial:{person.phone}")
        else:
            call_logs.add_step(entry, f"transfer:{purpose}:nobody")
    if person is None:
        prompt = "head_no_answer" if attempt > 1 and purpose == HEAD else (
            "person_no_answer" if attempt > 1 else "leave_message")
        return _record_message(call, prompt, "find_head", callback=True, lead=lead)
    say = P("connect_head") if person.kind == "head" else P("connect_person", name=person.name)
    state = {"who": purpose, "attempt": attempt, "name": person.name[:40], "kind": person.kind}
    if single:
        state["single"] = 1
    return Dial([*(lead or []), say], number=person.phone, caller_id=call.called or None,
                timeout_s=services.settings.telephony.ring_timeout_s, on_done=Next("transfer-dial", state))


@step("transfer-dial")
def transfer_dial(call: CallInfo, params: Params, heard: Heard) -> Action:
    """How a transfer went: talked → goodbye; no answer → the fallback person, or leave a message (a request)."""
    status = heard.dial_status
    purpose = HUMAN if params.get("who") == HUMAN else HEAD
    kind = str(params.get("kind") or "head")
    attempt = param_int(params, "attempt", 1, 1, 9)
    with transaction(call.services.session_factory) as session:
        entry = _call_log(session, call)
        call_logs.add_step(entry, f"{kind}:{status or '-'}")
        if status in ("completed", "answered"):
            call_logs.set_outcome(entry, "talked_to_head" if kind == "head" else "talked_to_staff")
    if status in ("completed", "answered"):
        return Say([P("goodbye")], hangup=True)
    no_answer = "head_no_answer" if kind == "head" else "person_no_answer"
    if params.get("single") or attempt >= call.services.settings.voice.transfer_attempts:
        return _record_message(call, no_answer, "find_head", callback=True)
    missed = [P("transfer_next", name=str(params.get("name") or ""))] if params.get("name") else []
    return _transfer(call, purpose, attempt=attempt + 1, lead=missed)


@step("head-dial")
def head_dial(call: CallInfo, params: Params, heard: Heard) -> Action:
    """How the call to the 院长 went (documents rendered before transfer-dial existed): as the silent path."""
    return transfer_dial(call, {"who": HEAD, "kind": "head", "single": 1}, heard)


@step("message")
def message(call: CallInfo, params: Params, heard: Heard) -> Action:
    """A recorded message becomes a request for the 院长 (nothing the caller said is lost).

    After a transfer nobody took (`callback`), even an empty recording becomes a request to call back.
    """
    services = call.services
    request_type = str(params.get("type") or "other")
    if request_type not in services.settings.requests.due_hours:
        request_type = "other"
    recorded = heard.recording
    digit = heard.digits[:1]
    if digit and digit in MENU_KEYS and (recorded is None or not recorded.url or recorded.duration_s <= 2):
        return _route_key(call, digit, 1, 0)  # a key at the beep: the caller chose from the menu instead
    callback = bool(params.get("callback"))
    has_audio = recorded is not None and bool(recorded.url)
    if not has_audio and not callback:
        return _menu(call, tries=1, lead=[P("message_empty")])
    with transaction(services.session_factory) as session:
        entry = _call_log(session, call)
        caller = entry.caller or "未显示号码"
        rec = _add_recording(session, call, entry, recorded, str(params.get("purpose") or "message")) \
            if has_audio and recorded is not None else None
        if rec is not None:
            text = f"电话留言（请听录音），请回电 {caller}" if callback else "电话留言（请听录音）"
        else:
            text = f"来电没有留言（没有录到声音），请回电 {caller}"
        details = {"callback": entry.caller} if callback else None
        number, handler = _create_request(session, services, entry, request_type=request_type, text=text,
                                          recording=rec, details=details)
        call_logs.set_outcome(entry, "message_left" if rec is not None else "callback_requested", request_id=number)
        rec_id = rec.id if rec is not None else None
    if rec_id is not None and recorded is not None:
        _recognise(call, rec_id, recorded)
        items = [P("message_saved", handler=handler, number=number)] if handler else _done_items(number, None)
        return _anything_else(items)
    said = P("callback_noted", handler=handler, number=number) if handler else P("callback_noted_unknown",
                                                                                 number=number)
    return Say([said, P("goodbye")], hangup=True)


@step("fallback")
def fallback(call: CallInfo, params: Params, heard: Heard) -> Action:
    """The number's fallback: an apology and a message for the 院长."""
    return Record([P("error_apology")], on_done=Next("fallback/message"), on_silence=None, max_s=60, silence_s=5,
                  then_hangup_items=[P("goodbye")], trim=False)


@step("fallback/message")
def fallback_message(call: CallInfo, params: Params, heard: Heard) -> Action:
    """The message left on the apology path."""
    services = call.services
    recorded = heard.recording
    if recorded is None or not recorded.url:
        return Say([P("goodbye")], hangup=True)
    with transaction(services.session_factory) as session:
        entry = _call_log(session, call)
        rec = _add_recording(session, call, entry, recorded, "message")
        number, handler = _create_request(session, services, entry, request_type="other",
                                          text="电话留言（系统出错后留言，请听录音）", recording=rec)
        rec_id = rec.id
    _recognise(call, rec_id, recorded)
    return Say([*_done_items(number, handler), P("goodbye")], hangup=True)


# --- free speech --------------------------------------------------------------------------------------------


def _start_speech(call: CallInfo, recorded: Recorded, *, purpose: str, failures: int) -> Action:
    services = call.services
    speech = _speech_enabled(services)
    with transaction(services.session_factory) as session:
        entry = _call_log(session, call)
        call_logs.add_step(entry, f"speech:{purpose}")
        rec = _add_recording(session, call, entry, recorded, purpose)
        rec_id = rec.id
        if not speech:
            # No recogniser: what they said is a message for the 院长.
            number, handler = _create_request(session, services, entry,
                                              request_type="sell" if purpose == "sell" else "other",
                                              text="电话留言（请听录音）", recording=rec)
            call_logs.set_outcome(entry, "message_left", request_id=number)
    if not speech:
        return _anything_else([P("message_saved", handler=handler, number=number)] if handler
                              else _done_items(number, None))
    if recorded.streamed:
        # Recognised while the caller spoke (SIP): read back at once, no hold.
        store_streamed(services, rec_id, recorded)
        return speech_poll(call, {"recording": rec_id, "polls": 0, "failures": failures}, Heard())
    # The job redirects the live call to the read-back as soon as it is ready (polling is the fallback).
    schedule_recognition(services, rec_id, ready_url=_ready_url(call, rec_id, failures))
    return Hold([P("hold")], poll=Next("speech/poll", {"recording": rec_id, "polls": 0, "failures": failures}),
                pause_s=_poll_interval(services))


def _ready_url(call: CallInfo, rec_id: int, failures: int) -> str | None:
    """Where the recognition job redirects the live call when the result is stored (None: polling only)."""
    if not call.services.settings.voice.push_result:
        return None
    return public_url(call.services, "/voice/twilio/speech/poll", recording=rec_id, polls=1, failures=failures,
                      push=1)


def _poll_interval(services: Services) -> int:
    """Seconds of <Pause> between polls: Twilio's shortest pause is 1 s."""
    return max(1, services.settings.voice.poll_interval_s)


def _intent_for(recording: CallRecording) -> Intent | None:
    if recording.purpose == "sell":
        cleaned = correct_homophones(clean_transcript(recording.text))
        if not cleaned:
            return None
        goods, quantity = extract_offer(cleaned)
        return Intent(name="sell", request_type=INTENTS["sell"][0], summary=strip_fillers(cleaned), score=0.5,
                      keyword="", goods=goods, quantity=quantity)
    return classify(recording.text)


@step("speech/poll")
def speech_poll(call: CallInfo, params: Params, heard: Heard) -> Action:
    """Bounded polling while the recogniser works; then read back what was understood."""
    services = call.services
    rec_id, polls = param_int(params, "recording"), param_int(params, "polls", 0, 0, 99)
    failures = param_int(params, "failures", 0, 0, 9)
    cfg = services.settings.voice
    reschedule = False
    emergency_words: str | None = None
    with transaction(services.session_factory) as session:
        recording = session.get(CallRecording, rec_id)
        entry = _call_log(session, call)
        if recording is None or recording.call_log_id != entry.id:
            return _menu(call, tries=1)
        if recording.status in ("pending", "running"):
            if polls >= cfg.poll_max:
                call_logs.add_step(entry, "speech:timeout")
                return _speech_gave_up(call, session, entry, recording)
            reschedule = is_stale(recording, services.clock.now(), float(services.settings.vosk.timeout_s))
        elif recording.status != "done" or not recording.text:
            call_logs.add_step(entry, "speech:nothing")
            return _speech_failed(call, session, entry, recording, failures)
        else:
            intent = _intent_for(recording)
            call_logs.add_transcript(entry, recording.text, recording.confidence, intent.name if intent else None)
            if intent is None:
                return _speech_failed(call, session, entry, recording, failures)
            call_logs.add_step(entry, f"intent:{intent.name}")
            if intent.is_emergency:
                emergency_words = intent.summary or recording.text
            else:
                state = {"recording": rec_id, "failures": failures}
                return AskKey([(readback_text(intent), None)], on_key=Next("speech/confirm", state),
                              on_none=Next("speech/confirm", {**state, "none": 1}))
    if emergency_words is not None:
        return _emergency(call, via="speech", words=emergency_words)  # no read-back: help first
    if reschedule:
        schedule_recognition(services, rec_id, ready_url=_ready_url(call, rec_id, failures))
    items = [P("hold_more")] if polls and polls % 4 == 3 else []
    return Hold(items, poll=Next("speech/poll", {"recording": rec_id, "polls": polls + 1, "failures": failures}),
                pause_s=_poll_interval(services))


def _speech_failed(call: CallInfo, session: Session, entry: CallLog, recording: CallRecording,
                   failures: int) -> Action:
    failures += 1
    if failures >= call.services.settings.voice.confirm_failures:
        return _speech_gave_up(call, session, entry, recording)
    return _menu(call, tries=1, failures=failures, lead=[P("not_understood")])


def _speech_gave_up(call: CallInfo, session: Session, entry: CallLog, recording: CallRecording) -> Action:
    """After two failures the recording itself becomes a request for the 院长."""
    number, handler = _create_request(
        session, call.services, entry, request_type="sell" if recording.purpose == "sell" else "other",
        text="电话留言（语音未能确认，请听录音）", transcript=recording.text, confidence=recording.confidence,
        recording=recording,
    )
    call_logs.set_outcome(entry, "message_left", request_id=number)
    return _anything_else([P("speech_failed"), *_done_items(number, handler)])


@step("speech/confirm")
def speech_confirm(call: CallInfo, params: Params, heard: Heard) -> Action:
    """1: act on what was understood. 2 (or nothing): try again, and after two failures keep the recording."""
    services = call.services
    rec_id, failures = param_int(params, "recording"), param_int(params, "failures", 0, 0, 9)
    digit = heard.digits[:1]
    with transaction(services.session_factory) as session:
        recording = session.get(CallRecording, rec_id)
        entry = _call_log(session, call)
        if recording is None or recording.call_log_id != entry.id or not recording.text:
            return _menu(call, tries=1)
        call_logs.add_step(entry, f"confirm:{digit or '-'}")
        intent = _intent_for(recording)
        if digit != "1" or intent is None:
            return _speech_failed(call, session, entry, recording, failures)
        if intent.name not in ("points", "find_head", "human", "job", "help"):
            return _act(call, session, entry, recording, intent)
        words = intent.summary or recording.text or ""
    # These open their own transaction, so they run after this one has committed.
    if intent.is_emergency:
        return _emergency(call, via="speech", words=words)
    if intent.name == "points":
        return _read_points(call)
    if intent.name == "job":
        return _read_jobs(call)
    return _transfer(call, HUMAN if intent.name == "human" else HEAD)


def _act(call: CallInfo, session: Session, entry: CallLog, recording: CallRecording, intent: Intent) -> Action:
    """Submit the request the caller confirmed and tell them its number and who handles it."""
    details: dict[str, Any] = {"intent": intent.name, "intent_score": intent.score}
    text = intent.summary
    if intent.name == "sell":
        details.update(goods=intent.goods, quantity=intent.quantity)
        text = "帮我卖：" + ("".join(p for p in (intent.quantity, intent.goods) if p) or intent.summary)
    number, handler = _create_request(
        session, call.services, entry, request_type=intent.request_type or "other", text=text,
        transcript=recording.text, confidence=recording.confidence, recording=recording, details=details,
        urgent=intent.name == "help",
    )
    return _anything_else(_done_items(number, handler))


# --- reading things out ---------------------------------------------------------------------------------------


def _read_points(call: CallInfo) -> Action:
    services = call.services
    with transaction(services.session_factory) as session:
        entry = _call_log(session, call)
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
    return _anything_else(items)


def _read_jobs(call: CallInfo, index: int = 0) -> Action:
    """找活干: the open day jobs of the caller's village one by one (1 报名, 2 next); after them the job notices."""
    services = call.services
    with transaction(services.session_factory) as session:
        entry = _call_log(session, call)
        call_logs.add_step(entry, "jobs" if index == 0 else f"jobs:{index}")
        day_jobs = (dayjobs.jobs_for_household(session, now=services.clock.now(), household_id=entry.household_id)
                    if entry.household_id is not None else [])
        if index < len(day_jobs):
            job = day_jobs[index]
            lead = [P("dayjobs_intro", count=len(day_jobs))] if index == 0 else []
            return AskKey([*lead, (dayjobs.speech_text(job), None), P("dayjob_ask")],
                          on_key=Next("jobs/day", {"i": index, "job": job.id}), on_none=Next("menu", {"tries": 1}),
                          repeat=1)
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
    items: list[Speech] = [P("jobs_intro"), *[(t, None) for t in texts]] if texts else [P("jobs_none")]
    return AskKey([*items, P("jobs_ask")], on_key=Next("jobs/ask"), on_none=Next("menu", {"tries": 1}), repeat=1)


@step("jobs/day")
def jobs_day(call: CallInfo, params: Params, heard: Heard) -> Action:
    """1: sign up for the job just read (the poster and the 院长 are told); 2: the next job; else the menu."""
    digit = heard.digits[:1]
    index = param_int(params, "i", high=100)
    if digit == EMERGENCY_KEY:
        return _emergency(call, via="key")
    if digit == "2":
        return _read_jobs(call, index + 1)
    if digit != "1":
        return _menu(call, tries=1)
    services = call.services
    with transaction(services.session_factory) as session:
        entry = _call_log(session, call)
        call_logs.add_step(entry, "jobs:signup")
        if entry.household_id is None:  # never read jobs: only a known household hears them
            return _menu(call, tries=1)
        try:
            _signup, new = dayjobs.sign_up(session, now=services.clock.now(), household_id=entry.household_id,
                                           job_id=param_int(params, "job"), channel="phone",
                                           resident_id=entry.resident_id)
        except (InvalidTransition, NotFound):
            return _anything_else([P("dayjob_full")])
        call_logs.set_outcome(entry, "job_signup")
    return _anything_else([P("dayjob_signed" if new else "dayjob_already")])


@step("jobs/ask")
def jobs_ask(call: CallInfo, params: Params, heard: Heard) -> Action:
    """1: ask the 院长 to look out for work (a 找活干 request); anything else: the menu."""
    if heard.digits[:1] != "1":
        return _menu(call, tries=1)
    with transaction(call.services.session_factory) as session:
        entry = _call_log(session, call)
        number, handler = _create_request(session, call.services, entry, request_type="job",
                                          text="想找活干，请院长帮忙留意")
    return _anything_else(_done_items(number, handler))
