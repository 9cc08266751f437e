"""Reminders: S8 meeting notice (TV home on the day, 8:00 calls to households without a TV), medication
reminders passed to the caregiver when not confirmed, and the monthly base points."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core.clock import LOCAL_TZ, to_local
from core.db import transaction
from core.models.ops import ReminderCall
from core.models.outbox import OutboxMessage
from core.models.points import PointEntry
from core.models.tvbox import TvBox
from core.phone.confirmations import confirm
from core.requests.reminders import (
    award_monthly_base_points,
    create_reminder,
    reminder_sweep,
    reminders_for_household_today,
)
from core.settings import load_settings
from tests.integration.ops.ops_helpers import outbox_rows

SATURDAY_9 = dt.datetime(2026, 11, 28, 9, 0, tzinfo=LOCAL_TZ)


def test_s8_meeting_notice_is_on_every_tv_and_households_without_tv_are_called_at_8(services, world, clock):
    tv_household, *others = world.households[:3]
    with transaction(services.session_factory) as s:
        s.add(TvBox(status="paired", household_id=tv_household.id, created_at=clock.now(), paired_at=clock.now()))
        create_reminder(s, now=clock.now(), actor=world.users["village_a"], kind="meeting",
                        text="本周六上午9点在椒香小院开云坝会", courtyard_id=world.courtyards[0].id, at=SATURDAY_9)
    with services.session_factory() as s:
        assert reminders_for_household_today(s, tv_household.id, clock.now()) == []  # not on Thursday
    clock.set(SATURDAY_9 - dt.timedelta(hours=1, minutes=1))
    assert reminder_sweep(services) == 0
    with services.session_factory() as s:
        (item,) = reminders_for_household_today(s, tv_household.id, clock.now())
        assert (item.kind_label, item.text, item.time) == ("会议", "本周六上午9点在椒香小院开云坝会", "09:00")
        assert reminders_for_household_today(s, world.households[3].id, clock.now()) == []  # other 小院
    clock.advance(minutes=1)  # 08:00
    assert reminder_sweep(services) == 2
    assert reminder_sweep(services) == 0
    calls = outbox_rows(services, template="reminder.call")
    assert sorted(m.recipient_phone for m in calls) == sorted(
        r.phone or h.landline for r, h in zip(world.residents[1:3], others, strict=True))
    assert all(m.channel == "voice_call" and "按1确认" in m.text for m in calls)
    with transaction(services.session_factory) as s:
        reply = confirm(s, now=clock.now(), message=s.get(OutboxMessage, calls[0].id), digits="1")
    assert reply == "好的，已确认。谢谢您。"
    clock.advance(hours=2)
    reminder_sweep(services)
    with services.session_factory() as s:
        statuses = sorted(s.scalars(sa.select(ReminderCall.status)))
    assert statuses == ["confirmed", "unconfirmed"]
    assert outbox_rows(services, template="reminder.unconfirmed") == []  # meetings do not go to caregivers


@pytest.mark.parametrize(("digits", "caregiver_told"), [("1", False), (None, True)])
def test_unconfirmed_medication_reminder_goes_to_the_caregiver(services, world, clock, digits, caregiver_told):
    with transaction(services.session_factory) as s:
        create_reminder(s, now=clock.now(), actor=world.users["head_a"], kind="medication", text="吃降压药",
                        resident_id=world.residents[0].id, at=clock.now() + dt.timedelta(hours=2),
                        call_at=clock.now() + dt.timedelta(hours=1))
    clock.advance(hours=1)
    reminder_sweep(services)
    (call,) = outbox_rows(services, template="reminder.call")
    assert call.recipient_phone == world.residents[0].phone and "用药提醒：吃降压药" in call.text
    if digits:
        with transaction(services.session_factory) as s:
            confirm(s, now=clock.now(), message=s.get(OutboxMessage, call.id), digits=digits)
    clock.advance(minutes=59)
    reminder_sweep(services)
    assert outbox_rows(services, template="reminder.unconfirmed") == []
    clock.advance(minutes=2)
    reminder_sweep(services)
    reminder_sweep(services)
    told = outbox_rows(services, template="reminder.unconfirmed")
    if caregiver_told:
        assert [m.recipient_name for m in told] == ["王小明"]
        assert "王奶奶没有确认用药提醒" in told[0].text
    else:
        assert told == []


def test_staff_cannot_schedule_reminders_outside_their_scope(services, world, clock):
    from core.errors import NotFound

    with transaction(services.session_factory) as s, pytest.raises(NotFound):
        create_reminder(s, now=clock.now(), actor=world.users["head_b"], kind="meeting", text="开会",
                        courtyard_id=world.courtyards[0].id, at=SATURDAY_9)


def test_monthly_base_points_once_per_month_when_configured(world, session_factory, clock, tmp_path):
    from core.container import Services

    settings = load_settings(environ={}, overrides={"data": {"dir": str(tmp_path)},
                                                    "ops": {"monthly_base_points": 100}})
    services = Services(settings=settings, session_factory=session_factory, clock=clock)
    assert award_monthly_base_points(services) == 6
    assert award_monthly_base_points(services) == 0
    clock.set(dt.datetime(2026, 12, 1, 6, 0, tzinfo=LOCAL_TZ))
    assert award_monthly_base_points(services) == 6
    with session_factory() as s:
        months = s.execute(sa.select(PointEntry.batch_id, sa.func.sum(PointEntry.delta)).group_by(
            PointEntry.batch_id).order_by(PointEntry.batch_id)).all()
    assert months == [("base-2026-11", 600), ("base-2026-12", 600)]
    assert to_local(clock.now()).day == 1
