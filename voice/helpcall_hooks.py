"""Webhooks of the one-key-call legs: the caregiver hears who needs help, presses 1, is put through."""

from __future__ import annotations

import logging

from core.container import current_services
from core.db import transaction
from core.phone import dialler
from voice import twiml
from voice.ivr import P
from voice.webhooks import bp, form, int_arg, public_url, speaker_for, twilio_webhook, voice_settings

BASE = "/voice/twilio/help"
log = logging.getLogger(__name__)


@bp.post("/twilio/help/answer")
@twilio_webhook
def help_answer() -> str:
    """The caregiver's phone was picked up: say who is calling for help and ask for 1."""
    services = current_services()
    leg_id = int_arg("leg")
    cfg = voice_settings(services)
    with transaction(services.session_factory) as session:
        view = dialler.leg_answered(session, now=services.clock.now(), leg_id=leg_id,
                                    answer_keypress_s=int(cfg["answer_keypress_s"]))
    if view is None:
        return twiml.speak_then(speaker_for(services), [P("goodbye")], hangup=True)
    intro = P("help_leg_intro", household=view.household_name, name=view.resident_name)
    return twiml.ask_digit(speaker_for(services), [intro], action=public_url(services, f"{BASE}/press", leg=leg_id),
                           no_input_url=public_url(services, f"{BASE}/press", leg=leg_id, none=1), repeat=3)


@bp.post("/twilio/help/press")
@twilio_webhook
def help_press() -> str:
    """1 accepts: bridge to the resident's phone, or ask the caregiver to call back or visit."""
    services = current_services()
    leg_id = int_arg("leg")
    speaker = speaker_for(services)
    if form("none"):
        return twiml.speak_then(speaker, [P("goodbye")], hangup=True)
    with transaction(services.session_factory) as session:
        outcome, view, hangups = dialler.leg_pressed(session, now=services.clock.now(), leg_id=leg_id,
                                                     digits=form("Digits")[:1])
    for call_id in hangups:
        try:
            services.telephony.hangup(call_id)
        except Exception as exc:
            log.warning("could not hang up the other leg %s: %s", call_id, type(exc).__name__)
    if view is None:
        return twiml.speak_then(speaker, [P("goodbye")], hangup=True)
    if outcome == "again":
        intro = P("help_leg_intro", household=view.household_name, name=view.resident_name)
        return twiml.ask_digit(speaker, [intro], action=public_url(services, f"{BASE}/press", leg=leg_id),
                               no_input_url=public_url(services, f"{BASE}/press", leg=leg_id, none=1), repeat=2)
    if outcome == "taken":
        return twiml.speak_then(speaker, [("已经有人接通了，谢谢您。", None)], hangup=True)
    if view.resident_phone is None:
        return twiml.speak_then(speaker, [P("help_leg_no_phone")], hangup=True)
    return twiml.bridge(
        speaker, [P("help_leg_bridging")], number=view.resident_phone, caller_id=form("To") or None,
        timeout_s=int(voice_settings(services)["bridge_timeout_s"]),
        action=public_url(services, f"{BASE}/bridged", leg=leg_id),
        answered_callback=public_url(services, f"{BASE}/bridge-status", leg=leg_id),
    )


@bp.post("/twilio/help/bridge-status")
@twilio_webhook
def help_bridge_status() -> str:
    """The resident's phone answered the bridge: 已接通."""
    services = current_services()
    if form("CallStatus") in ("in-progress", "answered"):
        with transaction(services.session_factory) as session:
            dialler.mark_bridged(session, now=services.clock.now(), leg_id=int_arg("leg"))
    return twiml.empty()


@bp.post("/twilio/help/bridged")
@twilio_webhook
def help_bridged() -> str:
    """The bridge ended: if the resident's phone never answered, ask the caregiver to visit."""
    services = current_services()
    status = form("DialCallStatus")
    if status in ("completed", "answered"):
        with transaction(services.session_factory) as session:
            dialler.mark_bridged(session, now=services.clock.now(), leg_id=int_arg("leg"))
        return twiml.speak_then(speaker_for(services), [P("goodbye")], hangup=True)
    return twiml.speak_then(speaker_for(services), [P("help_leg_bridge_failed")], hangup=True)


@bp.post("/twilio/help/status")
@twilio_webhook
def help_status() -> str:
    """Status callbacks of a leg (ringing, answered, busy, no-answer, failed, completed), in any order."""
    services = current_services()
    leg_id = int_arg("leg")
    cfg = voice_settings(services)
    provider_status = form("CallStatus")
    with transaction(services.session_factory) as session:
        move_on = dialler.record_leg_status(session, now=services.clock.now(), leg_id=leg_id,
                                            provider_status=provider_status,
                                            answer_keypress_s=int(cfg["answer_keypress_s"]))
        if provider_status == "completed":
            dialler.finish_help_call(session, now=services.clock.now(), leg_id=leg_id)
        view = dialler.leg_view(session, leg_id)
    if move_on and view is not None:
        dialler.advance_help_call(services, view.help_call_id)
    return twiml.empty()
