"""Confirmations by phone: outbox `voice_call` calls (press 1, a flow step for both transports) and SMS replies."""

from __future__ import annotations

import logging

from twilio.twiml.messaging_response import MessagingResponse

from core.container import current_services
from core.db import transaction
from core.models.outbox import OutboxMessage
from core.phone import confirmations, progress
from core.phone.confirmations import confirm
from core.phone.sms_replies import answer_sms_reply
from core.phones import try_normalise_phone
from voice import twiml
from voice.flow import Action, AskKey, CallInfo, Heard, Next, Params, Say, step
from voice.ivr import P, param_int
from voice.webhooks import bp, form, int_arg, twilio_webhook

log = logging.getLogger(__name__)


@step("confirm")
def confirm_call(call: CallInfo, params: Params, heard: Heard) -> Action:
    """Speak the message of an outbox voice call and ask for 1.

    When the provider detected an answering machine, nobody can press 1: the subject hears the call ended
    (an alert tells its next level at once) and the call is hung up.
    """
    services = call.services
    message_id = param_int(params, "message")
    with services.session_factory() as session:
        message = session.get(OutboxMessage, message_id)
        text = message.text if message is not None else None
        # Follow-ups and reminders ask their own question (1/2/3); adding "按1确认" would turn a
        # confused "1" into 满意.
        own_keys = bool(((message.params or {}) if message is not None else {}).get("expect_digits"))
    if progress.is_machine(heard.extra.get("answered_by")) and message is not None:
        confirmations.call_ended(services, message=message, outcome="machine")
        return Say([], hangup=True)
    if text is None:
        return Say([P("goodbye")], hangup=True)
    prompts = [(text, None)] if own_keys else [(text, None), P("confirm_ask")]
    return AskKey(prompts, on_key=Next("confirm/press", {"message": message_id}),
                  on_none=Next("confirm/press", {"message": message_id, "none": 1}), repeat=2)


@step("confirm/press")
def confirm_press(call: CallInfo, params: Params, heard: Heard) -> Action:
    """Hand the key to the message subject's handler and speak its answer."""
    services = call.services
    digit = heard.digits[:1]
    if params.get("none") or not digit:
        return Say([P("goodbye")], hangup=True)
    with transaction(services.session_factory) as session:
        message = session.get(OutboxMessage, param_int(params, "message"))
        reply = confirm(session, now=services.clock.now(), message=message, digits=digit) if message else None
    items = [(reply, None)] if reply else [P("confirm_thanks") if digit == "1" else P("goodbye")]
    return Say(items, hangup=True)


@bp.post("/twilio/confirm/status")
@twilio_webhook
def confirm_status() -> str:
    """Status of a confirmation call: an unanswered end moves the subject on (an alert's next level, at once)."""
    progress.confirmation_call_progress(current_services(), int_arg("message"), form("CallStatus"),
                                        form("AnsweredBy"))
    return twiml.empty()


@bp.post("/twilio/sms")
@twilio_webhook
def sms_reply() -> str:
    """The number's Messaging URL: an alert's code ("6854"), "1", or "1 0427" confirms; the reply says what happened."""
    services = current_services()
    phone = try_normalise_phone(form("From")) if form("From") else None
    response = MessagingResponse()
    if phone is None:
        return str(response)
    with transaction(services.session_factory) as session:
        reply = answer_sms_reply(session, now=services.clock.now(), phone=phone, body=form("Body"))
    if reply:
        response.message(reply)
    return str(response)
