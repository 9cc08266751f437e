"""The Twilio provider over real HTTP to the fake API; voice-call and SMS confirmations."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.db import transaction
from core.notify.base import OutgoingMessage
from core.notify.channels import voice_call
from core.notify.outbox import Recipient, enqueue_message
from core.phone.calls import reply_code
from core.phone.confirmations import register_confirmation
from core.phone.telephony.factory import make_telephony
from core.phone.telephony.port import Telephony, TelephonyError
from core.phone.telephony.twilio_provider import IDEMPOTENCY_HEADER, TwilioTelephony
from core.settings import SettingsError
from tests.integration.voice.conftest import ACCOUNT_SID, AUTH_TOKEN, LINE_NUMBER, signed_post, twiml

SON = "+8613800001111"
CONFIRMED: list[tuple[int, str]] = []


def _on_test_confirm(session, now, message, digits):
    CONFIRMED.append((message.id, digits))
    return "好的，已通知大家您收到了。"


register_confirmation("voice_test", _on_test_confirm)


@pytest.fixture
def provider(fake_twilio) -> TwilioTelephony:
    """The real provider against the fake API."""
    return TwilioTelephony(ACCOUNT_SID, AUTH_TOKEN, LINE_NUMBER, fake_twilio.url)


def test_provider_places_updates_hangs_up_and_texts_through_the_api_base(provider, fake_twilio):
    assert isinstance(provider, Telephony) and not provider.is_dryrun
    sid = provider.place_call(SON, LINE_NUMBER, "https://x.example/a", "https://x.example/s", 20,
                              idempotency_key="k1")
    assert fake_twilio.calls[0]["sid"] == sid and fake_twilio.calls[0]["Timeout"] == "20"
    assert fake_twilio.headers[-1][IDEMPOTENCY_HEADER] == "k1"
    assert provider.place_call(SON, LINE_NUMBER, "https://x.example/a", "https://x.example/s", 20,
                               idempotency_key="k1") == sid
    assert len(fake_twilio.calls) == 1  # a retried request does not ring twice
    provider.update_call(sid, url="https://x.example/b")
    provider.hangup(sid)
    assert fake_twilio.updates == [{"sid": sid, "Url": "https://x.example/b"}, {"sid": sid, "Status": "completed"}]
    sms = provider.send_sms(SON, "", "测试短信")
    assert fake_twilio.messages[0] == {"sid": sms, "To": SON, "From": LINE_NUMBER, "Body": "测试短信"}


def test_provider_errors_are_telephony_errors_with_permanence(provider, fake_twilio):
    fake_twilio.fail_next_call = 400
    with pytest.raises(TelephonyError) as bad:
        provider.place_call("+860", LINE_NUMBER, "https://x/a", "https://x/s", 20)
    assert bad.value.permanent
    fake_twilio.fail_next_call = 503
    with pytest.raises(TelephonyError) as busy:
        provider.place_call(SON, LINE_NUMBER, "https://x/a", "https://x/s", 20)
    assert not busy.value.permanent
    wrong = TwilioTelephony(ACCOUNT_SID, "wrong-token", LINE_NUMBER, fake_twilio.url)
    with pytest.raises(TelephonyError):
        wrong.send_sms(SON, LINE_NUMBER, "x")


def test_recordings_are_fetched_with_credentials_only_from_the_api_host(provider, fake_twilio):
    url = fake_twilio.add_recording(b"RIFF-test")
    assert provider.fetch_recording(url) == b"RIFF-test"
    with pytest.raises(TelephonyError):
        provider.fetch_recording("http://127.0.0.2:1/2010-04-01/Accounts/x/Recordings/RE1")


def test_factory_refuses_twilio_without_credentials_and_defaults_to_dry_run(settings, session_factory,
                                                                           clock):
    assert make_telephony(settings, session_factory, clock).is_dryrun
    broken = settings.model_copy(update={"telephony": settings.telephony.model_copy(update={"provider": "twilio"})})
    with pytest.raises(SettingsError, match="XIAOYUAN_TWILIO_ACCOUNT_SID"):
        make_telephony(broken, session_factory, clock)


def _message(services, phone: str = SON) -> int:
    with transaction(services.session_factory) as s:
        return enqueue_message(s, now=services.clock.now(), recipient=Recipient(name="王小明", phone=phone),
                               template="test.voice", text="王奶奶的手环报警了。", subject=("voice_test", 1),
                               channels=["voice_call"]).id


def _outgoing(message_id: int, phone: str | None = SON) -> OutgoingMessage:
    return OutgoingMessage(id=message_id, idempotency_key=f"idem-{message_id}", channel="voice_call",
                           recipient_name="王小明", recipient_phone=phone, recipient_user_id=None, template="t",
                           params={}, text="x", priority=0, attempts=0, subject_type="voice_test", subject_id=1)


def test_voice_call_channel_calls_speaks_and_routes_the_keypress(voice_services, voice_client,
                                                                 fake_twilio):
    CONFIRMED.clear()
    message_id = _message(voice_services)
    channel = voice_call.build(voice_services)
    delivery = channel.send(_outgoing(message_id))
    assert delivery.ok and not delivery.not_sent and delivery.provider_ref == fake_twilio.calls[0]["sid"]
    placed = fake_twilio.calls[0]
    doc = twiml(signed_post(voice_client, placed["Url"], {"CallSid": placed["sid"], "To": SON}))
    assert "王奶奶的手环报警了" in doc.spoken and "按1" in doc.spoken
    doc = twiml(signed_post(voice_client, doc.url("Gather"), {"CallSid": placed["sid"], "Digits": "1"}))
    assert [(message_id, "1")] == CONFIRMED and "已通知大家" in doc.spoken
    assert not channel.send(_outgoing(message_id, phone=None)).ok


def test_sms_reply_with_a_code_confirms_that_message(voice_services, voice_client):
    CONFIRMED.clear()
    older = _message(voice_services)
    newer = _message(voice_services)
    response = signed_post(voice_client, "/voice/twilio/sms", {"From": SON, "Body": f"1 {reply_code(older)}"})
    doc = twiml(response)
    assert [(older, "1")] == CONFIRMED and "已通知大家" in doc.first("Message").text
    twiml(signed_post(voice_client, "/voice/twilio/sms", {"From": SON, "Body": "1"}))
    assert CONFIRMED[-1] == (newer, "1")
    doc = twiml(signed_post(voice_client, "/voice/twilio/sms", {"From": "+8613111111111", "Body": "1"}))
    assert "没有找到" in doc.first("Message").text and len(CONFIRMED) == 2


def test_dry_run_voice_calls_are_recorded_not_sent(settings, session_factory, clock):
    from core.container import Services
    from core.models.calls import DryRunRecord

    services = Services(settings=settings, session_factory=session_factory, clock=clock,
                        telephony=make_telephony(settings, session_factory, clock))
    delivery = voice_call.build(services).send(_outgoing(5))
    assert delivery.ok and delivery.not_sent
    with session_factory() as s:
        [record] = s.scalars(sa.select(DryRunRecord)).all()
        assert record.to_number == SON and record.status == "not_sent" and "confirm?message=5" in record.url


def test_a_call_that_asks_its_own_question_does_not_add_press_1_to_confirm(voice_services, voice_client,
                                                                          fake_twilio):
    """A follow-up asks 满意1/基本满意2/不满意3; an extra "确认请按1" would turn a confused 1 into 满意."""
    with transaction(voice_services.session_factory) as s:
        message_id = enqueue_message(
            s, now=voice_services.clock.now(), recipient=Recipient(name="王奶奶", phone=SON), template="test.followup",
            text="您反映的水管已经处理好了。满意请按1，基本满意请按2，不满意请按3。", subject=("voice_test", 2),
            params={"expect_digits": "123"}, channels=["voice_call"]).id
    voice_call.build(voice_services).send(_outgoing(message_id))
    placed = fake_twilio.calls[0]
    doc = twiml(signed_post(voice_client, placed["Url"], {"CallSid": placed["sid"], "To": SON}))
    assert "不满意请按3" in doc.spoken
    assert "确认收到" not in doc.spoken
