"""The alert call's status callback (signed, as Twilio posts it) moves the alert on when nobody answered."""

from __future__ import annotations

import sqlalchemy as sa

from core.bands.alerts import raise_alert
from core.bands.escalation import EscalationConfig
from core.db import transaction
from core.models.outbox import OutboxMessage
from tests.integration.voice.conftest import signed_post, twiml


def _calls(services, alert_id: int) -> list[OutboxMessage]:
    with services.session_factory() as session:
        return list(session.scalars(sa.select(OutboxMessage).where(
            OutboxMessage.subject_type == "alert", OutboxMessage.subject_id == alert_id,
            OutboxMessage.channel == "voice_call").order_by(OutboxMessage.id)))


def test_a_voicemail_answer_reported_by_the_callback_calls_the_next_level_now(voice_services, voice_client, world):
    """AnsweredBy=machine_start on the status callback: the 院长 is called at once, not after the level timeout;
    an unsigned callback does nothing."""
    with transaction(voice_services.session_factory) as session:
        alert, _ = raise_alert(session, now=voice_services.clock.now(), alert_type="sos", severity="critical",
                               config=EscalationConfig.from_settings(voice_services.settings),
                               resident_id=world.residents[0].id)
    (son,) = _calls(voice_services, alert.id)
    path = f"/voice/twilio/confirm/status?message={son.id}"
    forged = voice_client.post(path, data={"CallStatus": "no-answer"})
    assert forged.status_code == 403 and len(_calls(voice_services, alert.id)) == 1
    response = signed_post(voice_client, path, {"CallSid": "CA" + "5" * 32, "CallStatus": "in-progress",
                                                "AnsweredBy": "machine_start"})
    assert response.status_code == 200
    assert [m.recipient_name for m in _calls(voice_services, alert.id)] == ["王小明", "李院长"]


def test_alert_calls_ask_for_voicemail_detection_and_a_machine_moves_the_alert_on(voice_services, voice_client,
                                                                                 world, fake_twilio):
    """The alert call is placed with answering-machine detection; when the provider fetches the call's TwiML
    saying a machine answered, the call is hung up and the 院长 is called at once."""
    from core.notify.dispatcher import Dispatcher

    with transaction(voice_services.session_factory) as session:
        alert, _ = raise_alert(session, now=voice_services.clock.now(), alert_type="sos", severity="critical",
                               config=EscalationConfig.from_settings(voice_services.settings),
                               resident_id=world.residents[0].id)
    dispatcher = Dispatcher(voice_services, concurrency=1)
    try:
        dispatcher.run_once()
    finally:
        dispatcher.close()
    (placed,) = fake_twilio.calls
    assert placed["MachineDetection"] == "Enable"
    doc = twiml(signed_post(voice_client, placed["Url"], {"CallSid": placed["sid"], "To": placed["To"],
                                                          "AnsweredBy": "machine_end_beep"}))
    assert "Hangup" in doc.verbs and not doc.spoken.strip()
    assert [m.recipient_name for m in _calls(voice_services, alert.id)] == ["王小明", "李院长"]
