"""找活干: a cadre posts a day job; the TV lists it, reads it aloud and signs up; the poster and 院长 are told."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from core.clock import to_local
from core.community import dayjobs as job_service
from core.db import transaction
from core.errors import InvalidInput, InvalidTransition, NotFound, PermissionDenied
from core.models.audit import AuditEntry
from core.models.dayjobs import DayJob, JobSignup
from core.models.outbox import OutboxMessage
from core.models.staff import User
from tests.integration.console.conftest import login_as, post_form
from tests.integration.tv.test_tv_pages import SpokenTexts


def _post(services, world_ids, *, village: int | None = 0, workers: int = 2, days: int = 1, by: str = "village_a"):
    now = services.clock.now()
    fields = job_service.JobFields(title="摘花椒", pay="100元/天", place="大坡花椒地",
                                   work_date=to_local(now).date() + dt.timedelta(days=days), workers=workers)
    with transaction(services.session_factory) as session:
        actor = session.get_one(User, world_ids.users[by])
        job = job_service.post_job(session, now=now, actor=actor, fields=fields,
                                   village_id=None if village is None else world_ids.villages[village])
        return job.id


def _messages(services) -> list[OutboxMessage]:
    with services.session_factory() as s:
        return list(s.scalars(sa.select(OutboxMessage).where(OutboxMessage.template == "dayjob_signup")))


def test_a_job_is_listed_read_aloud_and_signed_up_for_on_the_tv(tv_client, services, world_ids, tmp_path):
    job_id = _post(services, world_ids)
    home = tv_client.get("/tv/").get_data(as_text=True)  # home tile 6, with how many jobs are open
    assert re.search(r'id="tile-jobs" href="/tv/jobs" data-key="6"><span class="key">6</span>'
                     r'<span class="label">找活干</span><span class="sub">1 个活在招人</span>', home)
    listing = tv_client.get("/tv/jobs").get_data(as_text=True)
    assert f'id="job-{job_id}"' in listing and "摘花椒" in listing and "100元/天" in listing
    assert 'data-back="/tv/?f=tile-jobs"' in listing  # Back goes to the home's tile
    page = tv_client.get(f"/tv/jobs/{job_id}").get_data(as_text=True)
    assert "大坡花椒地" in page and 'id="job-signup"' in page and 'data-key="1"' in page
    services.tts = SpokenTexts(tmp_path)
    with tv_client.get(f"/tv/jobs/{job_id}/audio") as audio:
        assert audio.status_code == 200 and audio.mimetype == "audio/wav"
    assert services.tts.said[-1].startswith("摘花椒，100元/天，") and services.tts.said[-1].endswith("要报名请按1。")

    done = tv_client.post(f"/tv/jobs/{job_id}/signup", data={"t": tv_client.tv_token})
    assert done.status_code == 302
    page = tv_client.get(done.headers["Location"]).get_data(as_text=True)
    assert 'id="job-done"' in page and 'id="job-signup"' not in page
    assert "已报名" in tv_client.get("/tv/jobs").get_data(as_text=True)  # the list marks the household's jobs
    assert tv_client.post(f"/tv/jobs/{job_id}/signup", data={"t": tv_client.tv_token}).status_code == 302
    with services.session_factory() as s:
        [signup] = s.scalars(sa.select(JobSignup)).all()
        assert signup.household_id == world_ids.households[0] and signup.channel == "tv"
        assert s.scalar(sa.select(AuditEntry.action).where(AuditEntry.action == "dayjob.signup")) is not None
    told = {m.recipient_user_id for m in _messages(services)}
    assert told == {world_ids.users["village_a"], world_ids.users["head_a"]}  # once each, not per press
    assert len(_messages(services)) == 2 and "王奶奶" in _messages(services)[0].text


def test_the_notices_list_keeps_its_page_size_with_jobs_open(tv_client, services, world_ids):
    """找活干 is a home tile: the notices list no longer adds a jobs row on top of a full page."""
    from core.community import notices as notice_service

    _post(services, world_ids)
    with transaction(services.session_factory) as session:
        for index in range(7):
            notice_service.post_notice(session, now=services.clock.now(), title=f"通知{index}", body="请注意。",
                                       category="notice", audience="village", town_id=world_ids.town,
                                       village_id=world_ids.villages[0])
    size = services.settings.tv.notices_page_size
    page = tv_client.get("/tv/notices").get_data(as_text=True)
    assert len(re.findall(r'class="row f"', page)) == size and 'id="jobs"' not in page
    assert "data-default-focus" in page.split('id="notice-')[1].split(">")[0]  # the first notice takes the focus


def test_signing_up_needs_the_boxs_token(tv_client, services, world_ids):
    job_id = _post(services, world_ids)
    assert tv_client.post(f"/tv/jobs/{job_id}/signup", data={}).status_code == 403
    with services.session_factory() as s:
        assert s.scalar(sa.select(sa.func.count(JobSignup.id))) == 0


def test_households_see_their_village_and_town_jobs_only(services, world_ids, clock):
    mine = _post(services, world_ids, village=0)
    other = _post(services, world_ids, village=1, by="town")
    town = _post(services, world_ids, village=None, by="town")
    with services.session_factory() as s:
        seen = {j.id for j in job_service.jobs_for_household(s, now=clock.now(), household_id=world_ids.households[0])}
        assert seen == {mine, town} and other not in seen
        with pytest.raises(NotFound):
            job_service.sign_up(s, now=clock.now(), household_id=world_ids.households[0], job_id=other, channel="tv")
    clock.advance(days=2)
    with services.session_factory() as s:  # yesterday's work is gone from the TV
        assert job_service.jobs_for_household(s, now=clock.now(), household_id=world_ids.households[0]) == []


def test_a_full_job_takes_no_more_people(services, world_ids, clock):
    job_id = _post(services, world_ids, workers=1)
    with transaction(services.session_factory) as s:
        job_service.sign_up(s, now=clock.now(), household_id=world_ids.households[0], job_id=job_id, channel="tv")
    with transaction(services.session_factory) as s, pytest.raises(InvalidTransition):
        job_service.sign_up(s, now=clock.now(), household_id=world_ids.households[1], job_id=job_id, channel="phone")


def test_who_may_post(services, world_ids, clock):
    fields = job_service.JobFields(title="摘花椒", pay="100元/天", place="坡上", work_date=to_local(clock.now()).date(),
                                   workers=3)
    with transaction(services.session_factory) as s:
        head = s.get_one(User, world_ids.users["head_a"])
        with pytest.raises(PermissionDenied):
            job_service.post_job(s, now=clock.now(), actor=head, fields=fields, village_id=world_ids.villages[0])
        cadre = s.get_one(User, world_ids.users["village_a"])
        with pytest.raises(NotFound):  # another village
            job_service.post_job(s, now=clock.now(), actor=cadre, fields=fields, village_id=world_ids.villages[1])
        with pytest.raises(PermissionDenied):  # the whole town is the town's
            job_service.post_job(s, now=clock.now(), actor=cadre, fields=fields, village_id=None)
    with pytest.raises(InvalidInput):
        job_service.validate_job(fields, today=fields.work_date + dt.timedelta(days=1))


def test_console_posts_lists_signups_and_closes(app, services, world_ids, clock):
    web = app.test_client()
    with services.session_factory() as s:
        cadre = s.get_one(User, world_ids.users["village_a"])
        head_b = s.get_one(User, world_ids.users["head_b"])
    login_as(web, cadre)
    day = (to_local(clock.now()).date() + dt.timedelta(days=3)).isoformat()
    response = post_form(web, "/console/jobs", {"action": "post", "title": "摘花椒", "pay": "100元/天",
                                                "place": "大坡", "work_date": day, "workers": "5",
                                                "village_id": str(world_ids.villages[0])})
    assert response.status_code == 302
    with services.session_factory() as s:
        job_id = s.scalar(sa.select(DayJob.id))
    with transaction(services.session_factory) as s:
        job_service.sign_up(s, now=clock.now(), household_id=world_ids.households[0], job_id=job_id, channel="phone")
    page = web.get("/console/jobs").get_data(as_text=True)
    assert re.search(r"1/5", page) and "王奶奶" in page and "+8613800000000" in page
    other = app.test_client()
    login_as(other, head_b)
    assert f'id="job-{job_id}"' not in other.get("/console/jobs").get_data(as_text=True)
    assert post_form(web, "/console/jobs", {"action": "close", "job_id": str(job_id)}).status_code == 302
    with services.session_factory() as s:
        assert s.get_one(DayJob, job_id).status == "closed"


def test_the_api_lists_jobs_with_signups_in_scope(app, services, world_ids, clock):
    from core.people.users import issue_api_token

    job_id = _post(services, world_ids)
    with transaction(services.session_factory) as s:
        job_service.sign_up(s, now=clock.now(), household_id=world_ids.households[0], job_id=job_id, channel="tv")
        cadre = issue_api_token(s, now=clock.now(), user=s.get_one(User, world_ids.users["village_a"]), name="t")
        other = issue_api_token(s, now=clock.now(), user=s.get_one(User, world_ids.users["head_b"]), name="t")
    web = app.test_client()
    body = web.get("/api/v1/jobs", headers={"Authorization": f"Bearer {cadre}"}).get_json()
    [job] = body["items"]
    assert job["id"] == job_id and job["workers"] == 2 and job["signups"][0]["resident_name"] == "王奶奶"
    assert web.get(f"/api/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {other}"}).status_code == 404
    assert web.get("/api/v1/jobs?status=closed", headers={"Authorization": f"Bearer {cadre}"}).get_json()["total"] == 0
