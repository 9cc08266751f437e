"""Acknowledging a wristband alert by SMS reply, through the signed Twilio webhook (issue 10 §4)."""

from __future__ import annotations

import sqlalchemy as sa

from core.bands.alerts import raise_alert, resolve_alert
from core.bands.escalation import EscalationConfig, sweep_alerts
from core.db import transaction
from core.models.alerts import Alert
from core.models.outbox import OutboxMessage
from core.models.staff import User
from core.notify.base import OutgoingMessage
from core.notify.channels.twilio_sms import sms_body
from tests.integration.voice.conftest import signed_post, twiml

SON = "+8613800001111"  # 王小明, first in 王奶奶's chain
DOCTOR = "+8613900000020"  # 赵医生, third: not told yet


def _raise(services, world, alert_type: str = "sos") -> Alert:
    with transaction(services.session_factory) as session:
        alert, _ = raise_alert(session, now=services.clock.now(), config=EscalationConfig.from_settings(
            services.settings), alert_type=alert_type, severity="critical", resident_id=world.residents[0].id)
    return alert


def _alert(services, alert_id: int) -> Alert:
    with services.session_factory() as session:
        return session.get(Alert, alert_id)


def _reply(client, phone: str, body: str) -> str:
    doc = twiml(signed_post(client, "/voice/twilio/sms", {"From": phone, "Body": body}))
    return "".join(element.text or "" for element in doc.all("Message"))


def _sms_sent_for(services, alert_id: int) -> str:
    with services.session_factory() as session:
        row = session.scalar(sa.select(OutboxMessage).where(OutboxMessage.subject_type == "alert",
                                                           OutboxMessage.subject_id == alert_id,
                                                           OutboxMessage.channel != "voice_call"))
        message = OutgoingMessage(
            id=row.id, idempotency_key=row.idempotency_key, channel="twilio_sms", recipient_name=row.recipient_name,
            recipient_phone=row.recipient_phone, recipient_user_id=row.recipient_user_id, template=row.template,
            params=dict(row.params or {}), text=row.text, priority=row.priority, attempts=0,
            subject_type=row.subject_type, subject_id=row.subject_id)
    return sms_body(message)


def test_replying_the_code_the_sms_asked_for_acknowledges_and_stops_escalation(voice_services, voice_client, world,
                                                                            clock) -> None:
    """"回复6854确认收到" → replying 6854 acknowledges that alert, says so, and nobody else is called."""
    alert = _raise(voice_services, world)
    sent = _sms_sent_for(voice_services, alert.id)
    assert f"回复{alert.short_code}确认收到" in sent
    assert sent.count("回复") == 1, f"the SMS asks for one code only: {sent}"
    answer = _reply(voice_client, SON, f"{alert.short_code}")
    assert answer == f"已确认收到：{alert.summary}。谢谢您，请尽快联系或前往查看。"
    acknowledged = _alert(voice_services, alert.id)
    assert (acknowledged.status, acknowledged.acknowledged_by, acknowledged.acknowledged_via) == (
        "acknowledged", "王小明", "sms")
    clock.advance(minutes=10)
    sweep_alerts(voice_services)
    with voice_services.session_factory() as session:
        called = session.scalars(sa.select(OutboxMessage.recipient_name).where(
            OutboxMessage.channel == "voice_call", OutboxMessage.subject_id == alert.id)).all()
    assert called == ["王小明"]


def test_one_acknowledges_the_senders_only_pending_alert(voice_services, voice_client, world) -> None:
    """A bare "1" (or 确认) acknowledges the one alert waiting for this sender."""
    alert = _raise(voice_services, world)
    assert "已确认收到" in _reply(voice_client, SON, "1")
    assert _alert(voice_services, alert.id).status == "acknowledged"
    # Asked again, the reply says who has it rather than pretending to act twice.
    assert _reply(voice_client, SON, "1 " + alert.short_code) == f"王小明已确认这条告警：{alert.summary}。谢谢您。"


def test_one_with_several_pending_lists_their_codes_and_acknowledges_none(voice_services, voice_client,
                                                                         world) -> None:
    """Two alerts await the son: "1" is ambiguous, so the reply lists both codes; a code then picks one."""
    sos = _raise(voice_services, world, "sos")
    fall = _raise(voice_services, world, "fall")
    answer = _reply(voice_client, SON, "1")
    assert answer.startswith("您有2条告警待确认")
    assert f"{sos.short_code}：{sos.summary}" in answer and f"{fall.short_code}：{fall.summary}" in answer
    assert {_alert(voice_services, a.id).status for a in (sos, fall)} == {"notified"}
    _reply(voice_client, SON, f"回复{fall.short_code}确认收到")
    assert (_alert(voice_services, fall.id).status, _alert(voice_services, sos.id).status) == (
        "acknowledged", "notified")


def test_a_code_from_someone_not_told_or_a_wrong_code_acknowledges_nothing(voice_services, voice_client,
                                                                          world) -> None:
    """Only a phone the alert was sent to can acknowledge it, and only with its own code."""
    alert = _raise(voice_services, world)
    wrong = f"{(int(alert.short_code) + 1 - 1000) % 9000 + 1000}"
    assert "没有找到" in _reply(voice_client, DOCTOR, alert.short_code)
    assert "没有找到" in _reply(voice_client, SON, wrong)
    assert _alert(voice_services, alert.id).status == "notified"


def test_a_reply_after_the_alert_was_resolved_says_so(voice_services, voice_client, world, clock) -> None:
    """Replying once the alert is closed tells the sender it was already dealt with."""
    alert = _raise(voice_services, world)
    with transaction(voice_services.session_factory) as session:
        resolve_alert(session, now=clock.now(), alert_id=alert.id, note="邻居已上门查看", by="李院长")
    assert _reply(voice_client, SON, alert.short_code) == f"这条告警已经处理完毕：{alert.summary}。谢谢您。"
    assert _alert(voice_services, alert.id).status == "resolved"


def test_the_reply_speaks_the_readers_language(voice_services, voice_client, world) -> None:
    """A caregiver whose account reads English gets the answer in English."""
    with transaction(voice_services.session_factory) as session:
        session.get(User, world.users["carer_a"].id).locale = "en"
    alert = _raise(voice_services, world)
    answer = _reply(voice_client, SON, alert.short_code)
    assert answer.startswith("Acknowledged:") and "SOS" in answer, answer


def test_an_unsigned_reply_is_refused(voice_services, voice_client, world) -> None:
    """A forged SMS webhook cannot acknowledge an alert."""
    alert = _raise(voice_services, world)
    response = voice_client.post("/voice/twilio/sms", data={"From": SON, "Body": alert.short_code})
    assert response.status_code == 403
    assert _alert(voice_services, alert.id).status == "notified"
