"""Alert lifecycle against a real database with a fake clock: dedup, the chain, acknowledgement, restart."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core.bands.alerts import raise_alert, resolve_alert
from core.bands.escalation import EscalationConfig, sweep_alerts
from core.clock import UTC
from core.container import Services
from core.db import make_engine, make_session_factory, transaction
from core.errors import InvalidInput
from core.models.outbox import OutboxMessage
from core.phone.confirmations import confirm
from core.phone.sms_replies import answer_sms_reply
from tests.integration.devices.helpers import alerts, outbox, seed


def raise_sos(services, resident_id):
    with transaction(services.session_factory) as s:
        alert, created = raise_alert(s, now=services.clock.now(), config=EscalationConfig.from_settings(
            services.settings), alert_type="sos", severity="critical", resident_id=resident_id)
    return alert.id, created


def told(services, alert_id) -> list[str]:
    """Recipients of alert calls in the order they were placed."""
    return [m.recipient_name for m in outbox(services, subject_id=alert_id, channel="voice_call")]


def test_one_open_alert_per_resident_and_type(services):
    world, _, _ = seed(services)
    first, created = raise_sos(services, world.residents[0].id)
    again, created_again = raise_sos(services, world.residents[0].id)
    assert created and not created_again and first == again
    assert len(alerts(services)) == 1 and alerts(services)[0].occurrences == 2
    assert len(told(services, first)) == 1  # the repeat told nobody again


def test_nobody_answers_the_chain_walks_its_levels_at_the_right_times(services, clock):
    """With no call reporting its end, each level waits its timeout; the town centre is told last."""
    world, _, _ = seed(services)
    alert_id, _ = raise_sos(services, world.residents[0].id)
    assert told(services, alert_id) == ["王小明"]
    clock.advance(seconds=119)
    sweep_alerts(services)
    assert told(services, alert_id) == ["王小明"]  # not yet: critical waits 2 minutes per level
    chain = ["王小明", "李院长", "赵医生", "village_a", "town"]  # the town 指挥中心 is the last level
    for n in range(2, len(chain) + 1):
        expected = chain[:n]
        clock.advance(seconds=1 if expected[-1] == "李院长" else 120)
        sweep_alerts(services)
        assert told(services, alert_id) == expected
    clock.advance(minutes=2)
    sweep_alerts(services)
    assert told(services, alert_id)[-1] == "王小明"  # round 2 starts again from the top
    assert alerts(services)[0].round == 2


def test_keypress_acknowledges_and_stops_the_chain_a_completed_call_does_not(services, clock):
    world, _, _ = seed(services)
    alert_id, _ = raise_sos(services, world.residents[0].id)
    call = outbox(services, subject_id=alert_id, channel="voice_call")[0]
    with transaction(services.session_factory) as s:
        message = s.get(OutboxMessage, call.id)
        assert confirm(s, now=clock.now(), message=message, digits="") is None  # voicemail: no keypress
        assert confirm(s, now=clock.now(), message=message, digits="9") is None
    assert alerts(services)[0].status == "notified"
    with transaction(services.session_factory) as s:
        reply = confirm(s, now=clock.now(), message=s.get(OutboxMessage, call.id), digits="1")
    assert reply and "确认" in reply
    alert = alerts(services)[0]
    assert (alert.status, alert.acknowledged_by, alert.acknowledged_via) == ("acknowledged", "王小明", "call")
    clock.advance(minutes=10)
    sweep_alerts(services)
    assert told(services, alert_id) == ["王小明"]


def test_sms_reply_with_the_short_code_acknowledges(services, clock):
    world, _, _ = seed(services)
    alert_id, _ = raise_sos(services, world.residents[0].id)
    code = alerts(services)[0].short_code
    with transaction(services.session_factory) as s:
        answer_sms_reply(s, now=clock.now(), phone="+8613900000020", body=code)  # not told: acknowledges nothing
    assert alerts(services)[0].status == "notified"
    with transaction(services.session_factory) as s:
        answer_sms_reply(s, now=clock.now(), phone="+8613800001111", body=code)
    alert = alerts(services)[0]
    assert (alert.id, alert.status, alert.acknowledged_via) == (alert_id, "acknowledged", "sms")


def test_acknowledged_but_unresolved_alert_is_raised_again(services, clock):
    world, _, _ = seed(services)
    alert_id, _ = raise_sos(services, world.residents[0].id)
    with transaction(services.session_factory) as s:
        confirm(s, now=clock.now(), message=s.scalar(sa.select(OutboxMessage).where(
            OutboxMessage.channel == "voice_call")), digits="1")
    clock.advance(minutes=29)
    sweep_alerts(services)
    assert alerts(services)[0].status == "acknowledged"
    clock.advance(minutes=1)
    sweep_alerts(services)
    alert = alerts(services)[0]
    assert alert.status == "notified"
    assert [m.template for m in outbox(services, channel="voice_call")] == ["alert.alert", "alert.retrigger"]


def test_resolve_needs_a_note_and_closes_the_alert(services, clock):
    world, _, _ = seed(services)
    alert_id, _ = raise_sos(services, world.residents[0].id)
    with transaction(services.session_factory) as s:
        with pytest.raises(InvalidInput):
            resolve_alert(s, now=clock.now(), alert_id=alert_id, note="  ", by="赵医生")
    with transaction(services.session_factory) as s:
        resolve_alert(s, now=clock.now(), alert_id=alert_id, note="上门查看，无大碍", by="赵医生")
    alert = alerts(services)[0]
    assert (alert.status, alert.open_key, alert.next_escalation_at) == ("resolved", None, None)
    again, created = raise_sos(services, world.residents[0].id)
    assert created and again != alert_id  # a new SOS after resolution is a new alert


def test_restart_mid_escalation_resumes_without_repeating_a_level(services, clock, db_url):
    world, _, _ = seed(services)
    alert_id, _ = raise_sos(services, world.residents[0].id)
    clock.advance(minutes=2)
    sweep_alerts(services)
    assert told(services, alert_id) == ["王小明", "李院长"]
    # A new process: new engine, new session factory, same database and time.
    engine = make_engine(db_url)
    restarted = Services(settings=services.settings, session_factory=make_session_factory(engine), clock=clock)
    try:
        sweep_alerts(restarted)  # nothing due yet: nobody told twice
        assert told(restarted, alert_id) == ["王小明", "李院长"]
        clock.advance(minutes=2)
        sweep_alerts(restarted)
        sweep_alerts(restarted)
        assert told(restarted, alert_id) == ["王小明", "李院长", "赵医生"]
    finally:
        engine.dispose()


def test_s5_sos_at_night_voicemail_does_not_count_doctor_presses_one(services, clock):
    """S5: a man living alone presses SOS at 02:10; the daughter's voicemail answers; the doctor presses 1."""
    clock.set(dt.datetime(2026, 11, 26, 2, 10, tzinfo=UTC) - dt.timedelta(hours=8))  # 02:10 local
    world, _, _ = seed(services)
    from core.models.places import CaregiverLink

    with transaction(services.session_factory) as s:
        resident_id = world.residents[0].id
        s.execute(sa.delete(CaregiverLink).where(CaregiverLink.resident_id == resident_id))
        s.add_all([
            CaregiverLink(resident_id=resident_id, position=1, kind="family", name="女儿", phone="+8613800002222",
                          channels=["dryrun"], hours_start=8, hours_end=21),  # quiet hours: ignored for SOS
            CaregiverLink(resident_id=resident_id, position=2, kind="doctor", name="赵医生", phone="+8613900000020",
                          channels=["dryrun"]),
        ])
    alert_id, _ = raise_sos(services, world.residents[0].id)
    assert told(services, alert_id) == ["女儿"]
    with transaction(services.session_factory) as s:  # voicemail answered: the call completed without a key
        daughter_call = s.scalar(sa.select(OutboxMessage).where(OutboxMessage.channel == "voice_call"))
        assert confirm(s, now=clock.now(), message=daughter_call, digits="") is None
    clock.advance(minutes=2)
    sweep_alerts(services)
    assert told(services, alert_id) == ["女儿", "赵医生"]
    with transaction(services.session_factory) as s:
        doctor_call = s.scalar(sa.select(OutboxMessage).where(OutboxMessage.channel == "voice_call",
                                                              OutboxMessage.recipient_name == "赵医生"))
        confirm(s, now=clock.now(), message=doctor_call, digits="1")
    clock.advance(minutes=30)
    with transaction(services.session_factory) as s:
        resolve_alert(s, now=clock.now(), alert_id=alert_id, note="已上门，老人摔倒无骨折", by="赵医生")
    sweep_alerts(services)
    alert = alerts(services)[0]
    assert (alert.status, alert.acknowledged_by) == ("resolved", "赵医生")
    assert told(services, alert_id) == ["女儿", "赵医生"]
