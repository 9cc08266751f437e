"""The one-key-call legs (一键呼叫): the caregiver hears who needs help, presses 1, is put through.

Steps are provider-neutral (voice/flow.py): over Twilio they are webhooks under /voice/twilio/help/,
over SIP the call driver runs them and bridges the two calls inside the endpoint. The leg's status
callback moves the dialler through `core.phone.progress`, which the SIP endpoint calls directly.
"""

from __future__ import annotations

import logging

from core.container import current_services
from core.db import transaction
from core.phone import dialler, progress
from voice import twiml
from voice.flow import Action, AskKey, CallInfo, Dial, Heard, Next, Nothing, Params, Say, Speech, step
from voice.ivr import P, param_int
from voice.webhooks import bp, form, int_arg, twilio_webhook

log = logging.getLogger(__name__)


ANSWER_REPEAT = 3
KEY_TIMEOUT_S = 5


def _intro(view: dialler.LegView) -> Speech:
    return P("help_leg_intro", household=view.household_name, name=view.resident_name)


def _ask(leg_id: int, view: dialler.LegView, repeat: int) -> AskKey:
    return AskKey([_intro(view)], on_key=Next("help/press", {"leg": leg_id}),
                  on_none=Next("help/press", {"leg": leg_id, "none": 1}), repeat=repeat, timeout_s=KEY_TIMEOUT_S)


@step("help/answer")
def help_answer(call: CallInfo, params: Params, heard: Heard) -> Action:
    """The caregiver's phone was picked up: say who is calling for help and ask for 1.

    The time allowed to press 1 covers the whole prompt, repeated. A provider that detected an answering
    machine (a hint: without it only a missing keypress tells) moves the help call on at once.
    """
    services = call.services
    leg_id = param_int(params, "leg")
    cfg = services.settings.voice
    now = services.clock.now()
    if progress.is_machine(heard.extra.get("answered_by")):
        with transaction(services.session_factory) as session:
            move_on = dialler.leg_machine(session, now=now, leg_id=leg_id)
            view = dialler.leg_view(session, leg_id)
        if move_on and view is not None:
            dialler.advance_help_call(services, view.help_call_id)
        return Say([], hangup=True)
    with transaction(services.session_factory) as session:
        view = dialler.leg_view(session, leg_id)
        if view is None:
            return Say([P("goodbye")], hangup=True)
        needed = dialler.keypress_deadline_s(_intro(view)[0], repeat=ANSWER_REPEAT, timeout_s=KEY_TIMEOUT_S)
        view = dialler.leg_answered(session, now=now, leg_id=leg_id,
                                    answer_keypress_s=max(cfg.answer_keypress_s, needed))
    if view is None:
        return Say([P("goodbye")], hangup=True)
    return _ask(leg_id, view, repeat=ANSWER_REPEAT)


@step("help/press")
def help_press(call: CallInfo, params: Params, heard: Heard) -> Action:
    """1 accepts: bridge to the resident's phone, or ask the caregiver to call back or visit."""
    services = call.services
    leg_id = param_int(params, "leg")
    if params.get("none"):
        return Say([P("goodbye")], hangup=True)
    with transaction(services.session_factory) as session:
        outcome, view, hangups = dialler.leg_pressed(session, now=services.clock.now(), leg_id=leg_id,
                                                     digits=heard.digits[:1])
    for call_id in hangups:
        try:
            services.telephony.hangup(call_id)
        except Exception as exc:
            log.warning("could not hang up the other leg %s: %s", call_id, type(exc).__name__)
    if view is None:
        return Say([P("goodbye")], hangup=True)
    if outcome == "again":
        return _ask(leg_id, view, repeat=2)
    if outcome == "taken":
        return Say([P("help_leg_taken")], hangup=True)
    if view.resident_phone is None:
        return Say([P("help_leg_no_phone")], hangup=True)
    return Dial([P("help_leg_bridging")], number=view.resident_phone, caller_id=call.called or None,
                timeout_s=services.settings.voice.bridge_timeout_s,
                on_done=Next("help/bridged", {"leg": leg_id}), on_answered=Next("help/bridge-status", {"leg": leg_id}))


@step("help/bridge-status")
def help_bridge_status(call: CallInfo, params: Params, heard: Heard) -> Action:
    """The resident's phone answered the bridge: 已接通."""
    services = call.services
    if heard.call_status in ("in-progress", "answered"):
        with transaction(services.session_factory) as session:
            dialler.mark_bridged(session, now=services.clock.now(), leg_id=param_int(params, "leg"))
    return Nothing()


@step("help/bridged")
def help_bridged(call: CallInfo, params: Params, heard: Heard) -> Action:
    """The bridge ended: if the resident's phone never answered, ask the caregiver to visit."""
    services = call.services
    if heard.dial_status in ("completed", "answered"):
        with transaction(services.session_factory) as session:
            dialler.mark_bridged(session, now=services.clock.now(), leg_id=param_int(params, "leg"))
        return Say([P("goodbye")], hangup=True)
    return Say([P("help_leg_bridge_failed")], hangup=True)


@bp.post("/twilio/help/status")
@twilio_webhook
def help_status() -> str:
    """Status callbacks of a leg (ringing, answered, busy, no-answer, failed, completed), in any order."""
    progress.help_leg_progress(current_services(), leg_id=int_arg("leg"), provider_status=form("CallStatus"))
    return twiml.empty()
