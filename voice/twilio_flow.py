"""The TwiML adapter of the phone line's flows: each step is a webhook at /voice/twilio/<step>.

A request becomes (call, params, heard): the call from CallSid / From / To, the step's parameters
from the query string we put into the previous document (Twilio signs it back to us), and what
the caller did from the form (Digits, RecordingUrl, DialCallStatus …). The step's action is
rendered as TwiML whose URLs name the next steps with their parameters.
"""

from __future__ import annotations

import secrets

from flask import abort, g, has_request_context, request

from core.container import Services, current_services
from core.phone.config import village_for_number
from core.phone.receipts import claim_webhook, receipt_key, release_webhook, store_webhook_response
from voice import flow, twiml
from voice.webhooks import bp, form, int_arg, public_url, speaker_for, twilio_webhook

BASE = "/voice/twilio/"
TOKEN = "_t"  # one-time token on every URL of a rendered document: a repeated delivery carries the same one
REPLAY = "_rk"  # on the pause-and-ask-again URL given to a repeat that came while the first was being served


def step_url(services: Services, target: flow.Next) -> str:
    """The webhook URL of a step with its parameters (and this document's one-time token) in the query string."""
    params = dict(target.params)
    token = g.get("voice_token") if has_request_context() else None
    if token:
        params[TOKEN] = token
    return public_url(services, f"{BASE}{target.step}", **params)


def call_from_request(services: Services) -> flow.CallInfo:
    """The call a webhook request belongs to (the village is the one whose number was called)."""
    called = form("To") or None
    return flow.CallInfo(services, call_id=form("CallSid") or None, caller=form("From") or None,
                         called=called, transport="twilio", village_id=village_for_number(services.settings, called))


def heard_from_request() -> flow.Heard:
    """What the caller did, as Twilio reports it in the form."""
    url = form("RecordingUrl")
    recording = flow.Recorded(url=url, duration_s=int_arg("RecordingDuration", 0)) if url else None
    answered_by = form("AnsweredBy")
    return flow.Heard(digits=form("Digits"), recording=recording, dial_status=form("DialCallStatus"),
                      call_status=form("CallStatus"), extra={"answered_by": answered_by} if answered_by else {})


def render(services: Services, action: flow.Action) -> str:
    """An action as a TwiML document."""
    speaker = speaker_for(services)
    if isinstance(action, flow.Say):
        return twiml.speak_then(speaker, action.items, hangup=action.hangup,
                                redirect=step_url(services, action.then) if action.then else None)
    if isinstance(action, flow.AskKey):
        return twiml.ask_digit(speaker, action.items, action=step_url(services, action.on_key),
                               no_input_url=step_url(services, action.on_none), timeout_s=action.timeout_s,
                               repeat=action.repeat)
    if isinstance(action, flow.Menu):
        return twiml.menu(speaker, action.items, key_action=step_url(services, action.on_key),
                          record_action=step_url(services, action.on_speech),
                          silent_url=step_url(services, action.on_silence), record_max_s=action.record_max_s,
                          silence_s=action.silence_s, key_wait_s=action.key_wait_s)
    if isinstance(action, flow.Record):
        if action.on_silence is None:
            return twiml.record_then_hangup(speaker, action.items, action=step_url(services, action.on_done),
                                            record_max_s=action.max_s, silence_s=action.silence_s,
                                            after=action.then_hangup_items, trim=action.trim)
        return twiml.record_message(speaker, action.items, action=step_url(services, action.on_done),
                                    record_max_s=action.max_s, silence_s=action.silence_s,
                                    after_silence=step_url(services, action.on_silence),
                                    keys_choose=action.keys_choose)
    if isinstance(action, flow.Hold):
        return twiml.hold(speaker, action.items, poll_url=step_url(services, action.poll), pause_s=action.pause_s)
    if isinstance(action, flow.Dial):
        if action.on_answered is not None:
            return twiml.bridge(speaker, action.items, number=action.number, caller_id=action.caller_id,
                                timeout_s=action.timeout_s, action=step_url(services, action.on_done),
                                answered_callback=step_url(services, action.on_answered))
        return twiml.dial(speaker, action.items, number=action.number, caller_id=action.caller_id,
                          timeout_s=action.timeout_s, action=step_url(services, action.on_done))
    return twiml.empty()


@bp.post("/twilio/<path:name>")
@twilio_webhook
def serve_step(name: str) -> str:
    """Any flow step (incoming, menu/key, speech/poll, help/answer, confirm …) as a Twilio webhook."""
    if name not in flow.STEPS:
        abort(404)
    services = current_services()
    params = request.args.to_dict(flat=True)
    call_id = form("CallSid")
    if not call_id:
        return _run(services, name, params)
    key = params.pop(REPLAY, None) or receipt_key(name, params, request.form.to_dict(flat=True))
    claim = claim_webhook(services.session_factory, now=services.clock.now(), call_id=call_id, key=key)
    if not claim.first:
        # A repeated delivery: the same answer again, acting on nothing (or, while the first is still being
        # served, a moment's pause and the same request once more).
        return claim.response if claim.response is not None else twiml.hold(
            speaker_for(services), [], poll_url=public_url(services, request.path, **params, **{REPLAY: key}),
            pause_s=1)
    try:
        body = _run(services, name, params)
    except Exception:
        release_webhook(services.session_factory, call_id=call_id, key=key)
        raise
    store_webhook_response(services.session_factory, call_id=call_id, key=key, response=body)
    return body


def _run(services: Services, name: str, params: dict[str, str]) -> str:
    g.voice_token = secrets.token_hex(6)
    params = {k: v for k, v in params.items() if k != TOKEN}
    return render(services, flow.run_step(name, call_from_request(services), params, heard_from_request()))


@bp.post("/twilio/status")
@twilio_webhook
def status() -> str:
    """Status callback of inbound calls: close the call log with its duration."""
    from core.phone import progress

    duration = int_arg("CallDuration", -1, -1)
    progress.inbound_call_ended(current_services(), call_id=form("CallSid") or None, status=form("CallStatus"),
                                duration_s=None if duration < 0 else duration)
    return twiml.empty()
