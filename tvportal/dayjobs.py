"""TV pages for 找活干: the open day jobs of my village and town, one job with 读给我听, and 报名 (key 1)."""

from __future__ import annotations

from typing import Any

from flask import g, redirect, render_template, request

from core.community import dayjobs as job_service
from core.community import texts
from core.i18n import SPOKEN_LOCALE, translate
from tvportal.pages import _focused_page, _locale, _page_slice, _speech, tv_date
from tvportal.views import (
    bp,
    household_required,
    read_unit,
    require_form_token,
    services,
    tv_config,
    tvurl,
    unit_of_work,
)


def _row(job: Any, mine: bool) -> dict[str, Any]:
    return {"id": job.id, "title": job.title, "pay": job.pay, "place": job.place, "workers": job.workers,
            "date": tv_date(job.work_date, _locale()), "mine": mine, "note": job.note}


@bp.get("/jobs")
@household_required
def jobs() -> Any:
    """The open jobs this household may take, soonest first, paged like the notices (home tile 6)."""
    now = services().clock.now()
    with read_unit() as session:
        mine = job_service.signed_up_jobs(session, g.tv_household_id)
        items = [_row(job, job.id in mine)
                 for job in job_service.jobs_for_household(session, now=now, household_id=g.tv_household_id)]
    size = tv_config().page_size("notices", g.tv_text_size)
    page_items, page, pages = _page_slice(items, _focused_page(items, "job-", size), size)
    return render_template("tv/jobs.html", items=page_items, page=page, pages=pages,
                           back_url=tvurl("tv.index", f="tile-jobs"))


@bp.get("/jobs/<int:job_id>")
@household_required
def job(job_id: int) -> Any:
    """One job in large text with 读给我听 and 报名."""
    now = services().clock.now()
    with read_unit() as session:
        found = job_service.get_job_for_household(session, now=now, household_id=g.tv_household_id, job_id=job_id)
        item = _row(found, found.id in job_service.signed_up_jobs(session, g.tv_household_id))
        item["count"] = job_service.signup_count(session, found.id)  # the job page says how many signed up
    return render_template("tv/job.html", item=item, done=request.args.get("done") == "1",
                           audio_url=tvurl("tv.job_audio", job_id=job_id),
                           back_url=tvurl("tv.jobs", f=f"job-{job_id}"))


@bp.get("/jobs/<int:job_id>/audio")
@household_required
def job_audio(job_id: int) -> Any:
    """读给我听: the job as speech, ending with how to sign up."""
    with read_unit() as session:
        found = job_service.get_job_for_household(session, now=services().clock.now(),
                                                  household_id=g.tv_household_id, job_id=job_id)
        text = job_service.speech_text(found)
        mine = found.id in job_service.signed_up_jobs(session, g.tv_household_id)
    return _speech(text + translate(texts.JOB_SIGNED_UP_SPOKEN if mine else texts.JOB_SIGNUP_HINT, SPOKEN_LOCALE))


@bp.post("/jobs/<int:job_id>/signup")
@household_required
def job_signup(job_id: int) -> Any:
    """报名: the poster and the 院长 are told; signing up again changes nothing."""
    require_form_token()
    with unit_of_work() as session:
        job_service.sign_up(session, now=services().clock.now(), household_id=g.tv_household_id, job_id=job_id,
                            channel="tv")
    return redirect(tvurl("tv.job", job_id=job_id, done=1))
