"""找活干 on the phone (menu 4 → 2): the open day jobs are read one by one; 1 signs up, 2 reads the next."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from core.clock import to_local
from core.community import dayjobs as job_service
from core.db import transaction
from core.models.dayjobs import JobSignup
from core.models.outbox import OutboxMessage
from core.models.staff import User
from tests.integration.voice.conftest import PUBLIC_BASE

WANG = "+8613800000000"


def _post(voice_services, world, title: str) -> int:
    now = voice_services.clock.now()
    with transaction(voice_services.session_factory) as s:
        job = job_service.post_job(
            s, now=now, actor=s.get_one(User, world.users["village_a"].id), village_id=world.villages[0].id,
            fields=job_service.JobFields(title=title, pay="100元/天", place="大坡", workers=3,
                                         work_date=to_local(now).date() + dt.timedelta(days=1)))
        return job.id


def _jobs_menu(call):
    caller = call(WANG)
    caller.post(f"{PUBLIC_BASE}/voice/twilio/menu/key?tries=1&failures=0", Digits="4")
    return caller, caller.post(f"{PUBLIC_BASE}/voice/twilio/submenu4", Digits="2")


def test_key_1_signs_the_caller_up_for_the_job_read_out(world, call, voice_services):
    first = _post(voice_services, world, "摘花椒")
    second = _post(voice_services, world, "掰玉米")
    caller, doc = _jobs_menu(call)
    assert "现在有2个活在招人" in doc.spoken and "摘花椒，100元/天" in doc.spoken and "报名这个活，请按1" in doc.spoken
    doc = caller.post(doc.url("Gather"), Digits="2")
    assert "掰玉米" in doc.spoken and "摘花椒" not in doc.spoken
    doc = caller.post(doc.url("Gather"), Digits="1")
    assert "报上名了" in doc.spoken
    with voice_services.session_factory() as s:
        [signup] = s.scalars(sa.select(JobSignup)).all()
        assert signup.job_id == second and signup.channel == "phone" and signup.resident_id == world.residents[0].id
        told = set(s.scalars(sa.select(OutboxMessage.recipient_user_id)
                             .where(OutboxMessage.template == "dayjob_signup")))
        assert told == {world.users["village_a"].id, world.users["head_a"].id}
    assert first != second


def test_after_the_last_job_come_the_job_notices(world, call, voice_services):
    _post(voice_services, world, "摘花椒")
    caller, doc = _jobs_menu(call)
    doc = caller.post(doc.url("Gather"), Digits="2")
    assert "现在没有招工信息" in doc.spoken and "院长帮您留意" in doc.spoken
