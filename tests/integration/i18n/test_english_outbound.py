"""Outbound texts come from catalogued templates in each reader's language; what is spoken stays Chinese.

A caregiver or staff member whose account reads English gets English SMS (alert, all-clear, reply hint,
replies to their SMS), while the phone line keeps speaking Chinese to everybody. Service errors and the
help call's steps on the TV follow the page's language.
"""

from __future__ import annotations

import sqlalchemy as sa

from core.bands.alerts import acknowledge_alert, raise_alert
from core.bands.escalation import EscalationConfig, advance_escalation
from core.db import transaction
from core.models.alerts import Alert
from core.models.outbox import OutboxMessage
from core.models.staff import User
from core.notify.base import OutgoingMessage
from core.notify.channels.twilio_sms import sms_body
from core.phone.sms_replies import answer_sms_reply
from tests.factories import build_world


def _messages(session_factory, **where) -> list[OutboxMessage]:
    with session_factory() as session:
        query = sa.select(OutboxMessage).order_by(OutboxMessage.id)
        for name, value in where.items():
            query = query.where(getattr(OutboxMessage, name) == value)
        return list(session.scalars(query))


def _sos_reaching_the_head(session_factory, clock, settings, locale: str) -> tuple[int, int]:
    """An SOS for 王奶奶 nobody answers until the chain reaches 李院长 (whose account reads `locale`)."""
    with transaction(session_factory) as session:
        world = build_world(session, clock.now())
        session.get(User, world.users["head_a"].id).locale = locale
        resident_id, head_id = world.residents[0].id, world.users["head_a"].id
    config = EscalationConfig.from_settings(settings)
    with transaction(session_factory) as session:
        alert, _ = raise_alert(session, now=clock.now(), config=config, alert_type="sos", severity="critical",
                               resident_id=resident_id)
        alert_id = alert.id
    for _ in range(3):
        if _messages(session_factory, recipient_user_id=head_id):
            break
        clock.advance(minutes=2)
        with transaction(session_factory) as session:
            advance_escalation(session, session.get(Alert, alert_id), now=clock.now(), config=config)
    return alert_id, head_id


def test_alert_sms_is_in_the_readers_language_and_the_call_stays_chinese(session_factory, clock, settings):
    """李院长 reads English: his SMS is English with the reply code; his call and the son's call are Chinese."""
    alert_id, head_id = _sos_reaching_the_head(session_factory, clock, settings, "en")
    to_head = _messages(session_factory, recipient_user_id=head_id)
    sms = [m for m in to_head if m.channel != "voice_call"]
    call = [m for m in to_head if m.channel == "voice_call"]
    assert sms and call
    assert sms[0].text.startswith("[Xiaoyuan+ Urgent] 王奶奶 pressed the SOS button on the band")
    assert "Reply " in sms[0].text and "按下了" not in sms[0].text
    assert sms[0].params["locale"] == "en"
    assert call[0].text.startswith("小院加紧急提醒：王奶奶按下了手环求救键")
    son = [m for m in _messages(session_factory, recipient_name="王小明") if m.channel != "voice_call"]
    assert son and son[0].text.startswith("【小院+紧急】王奶奶按下了手环求救键") and "locale" not in son[0].params


def test_the_reply_hint_and_the_answer_to_an_sms_reply_follow_the_reader(session_factory, clock, settings):
    """The alert SMS asks an English reader for its code in English (one code only), and the answer is English."""
    alert_id, head_id = _sos_reaching_the_head(session_factory, clock, settings, "en")
    row = next(m for m in _messages(session_factory, recipient_user_id=head_id) if m.channel != "voice_call")
    outgoing = OutgoingMessage(
        id=row.id, idempotency_key=row.idempotency_key, channel="twilio_sms", recipient_name=row.recipient_name,
        recipient_phone=row.recipient_phone, recipient_user_id=row.recipient_user_id, template=row.template,
        params=dict(row.params), text=row.text, priority=row.priority, attempts=0, subject_type=row.subject_type,
        subject_id=row.subject_id,
    )
    with session_factory() as session:
        code = session.get(Alert, alert_id).short_code
    body = sms_body(outgoing)
    assert body == row.text and body.endswith(f"Reply {code} to confirm.")
    with transaction(session_factory) as session:
        reply = answer_sms_reply(session, now=clock.now(), phone=row.recipient_phone, body=code)
    assert reply == ("Acknowledged: 王奶奶 pressed the SOS button on the band. Thank you; please call or go and see "
                     "as soon as you can.")


def test_the_acknowledgement_reaches_each_reader_in_their_language(session_factory, clock, settings):
    """When the doctor takes the alert, the English-reading 院长 hears of it in English, the son in Chinese."""
    alert_id, head_id = _sos_reaching_the_head(session_factory, clock, settings, "en")
    with transaction(session_factory) as session:
        acknowledge_alert(session, now=clock.now(), alert_id=alert_id, by="赵医生", via="console")
    to_head = _messages(session_factory, recipient_user_id=head_id, template="alert.acknowledged")
    to_son = _messages(session_factory, recipient_name="王小明", template="alert.acknowledged")
    assert [m.text for m in to_head] == ["[Xiaoyuan+] 赵医生 is taking care of it: 王奶奶 pressed the SOS button "
                                         "on the band."]
    assert [m.text for m in to_son] == ["【小院+】赵医生已确认处理：王奶奶按下了手环求救键。"]


def _paired_tv(app, services):
    """A TV client paired to 王奶奶's household (dry-run telephony, so a help call can start)."""
    from core.phone.telephony.factory import make_telephony
    from tests.integration.tv.conftest import pair_client

    services.telephony = make_telephony(services.settings, services.session_factory, services.clock)
    with transaction(services.session_factory) as session:
        household_id = build_world(session, services.clock.now()).households[0].id
    client = app.test_client()
    token = pair_client(client, services, household_id)
    return client, token


def test_a_service_refusal_on_the_tv_is_in_the_pages_language(app, services):
    """A reward the household cannot see: English with ?lang=en, "找不到这个奖品" otherwise, never both."""
    client, _ = _paired_tv(app, services)
    english = client.get("/tv/rewards/9999?lang=en")
    assert english.status_code == 404
    assert "This reward cannot be found" in english.get_data(as_text=True)
    assert "找不到这个奖品" not in english.get_data(as_text=True)
    chinese = client.get("/tv/rewards/9999")
    assert "找不到这个奖品" in chinese.get_data(as_text=True) and "Reward" not in chinese.get_data(as_text=True)


def test_the_help_call_steps_follow_the_pages_language(app, services):
    """一键呼叫 on an English page shows its steps in English (the status JSON the page polls too)."""
    client, token = _paired_tv(app, services)
    started = client.post("/tv/call?lang=en", data={"t": token})
    assert started.status_code == 302
    status_url = started.headers["Location"].split("?")[0] + "/status"
    english = client.get(f"{status_url}?lang=en").get_json()
    assert (english["steps"], english["current"]) == (["Calling 王小明 (儿子)"], "Calling 王小明 (儿子)")
    chinese = client.get(status_url).get_json()
    assert chinese["steps"] == ["正在呼叫 王小明（儿子）"]
