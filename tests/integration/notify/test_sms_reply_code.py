"""SMS that can be confirmed by a reply carry the reply code; others go out exactly as rendered."""

from __future__ import annotations

from dataclasses import replace

import pytest
import sqlalchemy as sa

from core.models.outbox import OutboxMessage
from core.notify.base import OutgoingMessage
from core.notify.channels.twilio_sms import TwilioSmsChannel
from core.notify.dispatcher import Dispatcher
from core.phone.calls import find_message_for_reply, parse_sms_reply, reply_code
from tests.integration.notify.sink import Sink, twilio_messages_responder

SID = "AC" + "1" * 32
TOKEN = "twilio-test-token"


@pytest.fixture
def twilio_sink():
    """A fake Twilio Messages API."""
    with Sink(responder=twilio_messages_responder(SID)) as running:
        yield running


def _message(**changes) -> OutgoingMessage:
    message = OutgoingMessage(
        id=10427, idempotency_key="r" * 32, channel="twilio_sms", recipient_name="王小明",
        recipient_phone="+8613800001234", recipient_user_id=None, template="alert.raised", params={},
        text="王奶奶的手环发出了求救信号。", priority=0, attempts=0, subject_type="alert", subject_id=5,
    )
    return replace(message, **changes)


def _sent_bodies(sink: Sink) -> list[str]:
    return [request.form()["Body"][0] for request in sink.snapshot()]


@pytest.mark.parametrize("subject_type", ["alert", "reminder", "request_followup"])
def test_a_message_expecting_a_reply_ends_with_its_reply_code(twilio_sink, subject_type) -> None:
    """Alerts, reminders and follow-ups tell the recipient how to confirm by SMS: 回复1 <code>确认."""
    channel = TwilioSmsChannel(SID, TOKEN, "+15005550006", api_base=twilio_sink.url)
    try:
        assert channel.send(_message(subject_type=subject_type)).ok
    finally:
        channel.close()
    assert _sent_bodies(twilio_sink) == ["王奶奶的手环发出了求救信号。 回复1 0427确认"]


@pytest.mark.parametrize("subject_type", [None, "request", "redemption"])
def test_a_message_nobody_can_confirm_has_no_reply_code(twilio_sink, subject_type) -> None:
    """A plain notice (no subject, or a subject no reply can confirm) is sent exactly as rendered."""
    channel = TwilioSmsChannel(SID, TOKEN, "+15005550006", api_base=twilio_sink.url)
    try:
        assert channel.send(_message(subject_type=subject_type, text="您有一条新的工单：修路灯")).ok
    finally:
        channel.close()
    assert _sent_bodies(twilio_sink) == ["您有一条新的工单：修路灯"]


def test_replying_with_the_code_in_the_sms_finds_that_message(make_services, enqueue, session_factory,
                                                              clock, twilio_sink) -> None:
    """The code printed in the SMS is the one the reply webhook matches, through the dispatcher and outbox."""
    services = make_services(
        twilio={"account_sid": SID, "auth_token": TOKEN, "from_number": "+15005550006", "api_base": twilio_sink.url},
    )
    older = enqueue("提醒：明天9点开会。", channels=("twilio_sms",), subject=("reminder", 1))
    alert = enqueue("王奶奶的手环发出了求救信号。", channels=("twilio_sms",), subject=("alert", 2))
    dispatcher = Dispatcher(services)
    try:
        assert dispatcher.run_once() == 2
    finally:
        dispatcher.close()
    bodies = _sent_bodies(twilio_sink)
    assert f"提醒：明天9点开会。 回复1 {reply_code(older)}确认" in bodies
    # The recipient answers the older message by its code even though a newer one arrived meanwhile.
    digit, code = parse_sms_reply(f"1 {reply_code(older)}")
    with session_factory() as session:
        found = find_message_for_reply(session, now=clock.now(), phone="+8613800001234", code=code)
        assert digit == "1" and found is not None and found.id == older != alert
        assert session.scalar(sa.select(OutboxMessage.status).where(OutboxMessage.id == older)) == "sent"
