"""Report figures reconcile with the raw rows: every number is recomputed here in plain Python."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import random
import statistics

import pytest
import sqlalchemy as sa

from core.clock import LOCAL_TZ, to_local
from core.db import transaction
from core.models.alerts import Alert
from core.models.checkins import CheckIn
from core.models.helpcalls import HelpCall, HelpCallLeg
from core.models.places import Courtyard, Household
from core.models.points import PointEntry
from core.models.requests import Request, RequestEvent
from core.requests.reports import build_report, render_csv, render_json, render_text
from core.requests.workorders import evaluate_request, resolve_request, start_request, submit_request

DAYS = [dt.date(2026, 11, 24) + dt.timedelta(days=i) for i in range(4)]


def _at(day: dt.date, minutes: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=LOCAL_TZ) + dt.timedelta(minutes=minutes)


@pytest.fixture
def history(services, world, clock):
    """Four days of requests, evaluations, help calls, alerts, check-ins and points with random times."""
    rng = random.Random(6)
    due = services.settings.requests.due_hours
    events = []
    for _ in range(40):
        created = _at(rng.choice(DAYS), rng.randrange(0, 24 * 60))
        events.append((created, "submit", rng.randrange(6), rng.choice(list(due))))
    events.sort()
    with transaction(services.session_factory) as s:
        for created, _, resident_index, req_type in events:
            req = submit_request(s, now=created, due_hours=due, resident_id=world.residents[resident_index].id,
                                 type=req_type, channel="tv", text="测试")
            fate = rng.random()
            if fate < 0.7:
                done = created + dt.timedelta(hours=rng.uniform(0.5, 80))
                if rng.random() < 0.5:
                    start_request(s, now=created + dt.timedelta(minutes=5), actor=None, request_id=req.id)
                resolve_request(s, now=done, actor=None, request_id=req.id, note="已处理")
                if rng.random() < 0.8:
                    verdict = rng.choice(["satisfied", "basic", "dissatisfied", "unevaluated"])
                    evaluate_request(s, now=done + dt.timedelta(hours=1), actor=None, request_id=req.id,
                                     satisfaction=verdict)
            if rng.random() < 0.15:
                s.add(RequestEvent(request_id=req.id, at=created + dt.timedelta(hours=70), actor_label="督办",
                                   action="supervised", note=""))
        households = s.execute(sa.select(Household.id, Courtyard.id, Courtyard.village_id).join(
            Courtyard, Household.courtyard_id == Courtyard.id)).all()
        town_id = world.town.id
        for i in range(12):
            hh, cy, village = rng.choice(households)
            created = _at(rng.choice(DAYS), rng.randrange(0, 24 * 60))
            call = HelpCall(household_id=hh, courtyard_id=cy, village_id=village, town_id=town_id, source="tv",
                            status=rng.choice(["reached", "bridged", "failed", "calling"]), created_at=created,
                            updated_at=created)
            s.add(call)
            s.flush()
            for leg in range(rng.randrange(1, 4)):
                s.add(HelpCallLeg(help_call_id=call.id, position=leg, name="x", started_at=created,
                                  deadline_at=created))
            raised = _at(rng.choice(DAYS), rng.randrange(0, 24 * 60))
            acked = raised + dt.timedelta(minutes=rng.randrange(1, 90)) if rng.random() < 0.7 else None
            s.add(Alert(dedup_key=f"k{i}", type=rng.choice(["fall", "sos", "hr_high"]), severity="urgent",
                        status="acknowledged" if acked else "notified", household_id=hh, courtyard_id=cy,
                        village_id=village, town_id=town_id, summary="测试", short_code=f"{i:04d}",
                        raised_at=raised, updated_at=raised, acknowledged_at=acked))
        for day in DAYS:
            for hh, cy, village in households:
                if rng.random() < 0.6:
                    s.add(CheckIn(household_id=hh, courtyard_id=cy, village_id=village, town_id=town_id,
                                  local_date=day, at=_at(day, 600)))
                if rng.random() < 0.5:
                    source = rng.choice(["console", "batch", "redemption", "refund", "reversal"])
                    s.add(PointEntry(household_id=hh, courtyard_id=cy, village_id=village, town_id=town_id,
                                     delta=rng.choice([-30, -5, 5, 10, 20]), category="环境卫生", source=source,
                                     created_at=_at(day, rng.randrange(0, 1440))))
    return world


def _expected(session, *, start_day: dt.date, end_day: dt.date, village_id: int | None, town_id: int) -> dict:
    """Plain-Python recomputation of the report's definitions from every raw row."""
    def in_scope(row) -> bool:
        return row.village_id == village_id if village_id is not None else row.town_id == town_id

    def in_period(when: dt.datetime | None) -> bool:
        return when is not None and start_day <= to_local(when).date() < end_day

    requests = [r for r in session.scalars(sa.select(Request)) if in_scope(r)]
    events = list(session.scalars(sa.select(RequestEvent)))
    by_request: dict[int, list[RequestEvent]] = {}
    for e in events:
        by_request.setdefault(e.request_id, []).append(e)
    new = [r for r in requests if in_period(r.created_at)]
    resolved = {}
    for r in requests:
        times = [e.at for e in by_request.get(r.id, []) if e.action == "resolved" and in_period(e.at)]
        if times:
            resolved[r.id] = (max(times) - r.created_at).total_seconds() / 3600
    overdue = [r for r in requests if in_period(r.due_at) and not any(
        e.action in ("resolved", "closed") and e.at <= r.due_at for e in by_request.get(r.id, []))]
    supervised = {r.id for r in requests for e in by_request.get(r.id, [])
                  if e.action == "supervised" and in_period(e.at)}
    evaluated = {r.id: r.satisfaction for r in requests for e in by_request.get(r.id, []) if in_period(e.at) and (
        e.action == "evaluated" or (e.action == "closed" and r.satisfaction == "unevaluated"))}
    hours = sorted(resolved.values())
    sat = {k: sum(1 for v in evaluated.values() if v == k) for k in ("satisfied", "basic", "dissatisfied",
                                                                      "unevaluated")}
    answered = sat["satisfied"] + sat["basic"] + sat["dissatisfied"]
    calls = [c for c in session.scalars(sa.select(HelpCall)) if in_scope(c) and in_period(c.created_at)]
    call_ids = {c.id for c in calls}
    alerts = [a for a in session.scalars(sa.select(Alert)) if in_scope(a) and in_period(a.raised_at)]
    waits = sorted((a.acknowledged_at - a.raised_at).total_seconds() / 60 for a in alerts if a.acknowledged_at)
    checkins = [c for c in session.scalars(sa.select(CheckIn)) if in_scope(c) and start_day <= c.local_date < end_day]
    points = [p for p in session.scalars(sa.select(PointEntry)) if in_scope(p) and in_period(p.created_at)]
    households = [h for h, v, t in session.execute(sa.select(Household.id, Courtyard.village_id, sa.literal(town_id))
                                                   .join(Courtyard, Household.courtyard_id == Courtyard.id))
                  if (v == village_id if village_id is not None else True)]
    return {
        "new": len(new), "resolved": len(resolved), "overdue": len(overdue), "supervised": len(supervised),
        "median": round(statistics.median(hours), 2) if hours else None,
        "p90": round(hours[math.ceil(0.9 * len(hours)) - 1], 2) if hours else None,
        "satisfaction": {**sat, "rate": round((sat["satisfied"] + sat["basic"]) / answered, 4) if answered else None},
        "help_calls": {"total": len(calls), "reached": sum(c.status in ("reached", "bridged") for c in calls),
                       "legs": sum(1 for leg in session.scalars(sa.select(HelpCallLeg))
                                   if leg.help_call_id in call_ids)},
        "alerts_total": len(alerts),
        "ack_median": round(statistics.median(waits), 1) if waits else None,
        "checkins": (len(checkins), len(households) * (end_day - start_day).days),
        "points": (sum(p.delta for p in points if p.source not in ("redemption", "refund")),
                   -sum(p.delta for p in points if p.source in ("redemption", "refund"))),
        "types": {t: sum(1 for r in new if r.type == t) for t in {r.type for r in new}},
    }


@pytest.mark.parametrize(("kind", "day", "span"), [
    ("daily", DAYS[0], 1), ("daily", DAYS[2], 1), ("weekly", DAYS[1], 7), ("monthly", DAYS[3], 30),
])
def test_report_figures_reconcile_with_raw_rows(services, history, kind, day, span):
    town_id = history.town.id
    scopes = [(None, town_id)] + [(v.id, town_id) for v in history.villages]
    with services.session_factory() as s:
        for village_id, _ in scopes:
            report = build_report(s, kind=kind, day=day, village_id=village_id,
                                  town_id=None if village_id else town_id)
            start_day = dt.date.fromisoformat(report.start)
            end_day = dt.date.fromisoformat(report.end)
            assert (end_day - start_day).days == span
            assert start_day <= day < end_day
            exp = _expected(s, start_day=start_day, end_day=end_day, village_id=village_id, town_id=town_id)
            r = report.requests
            assert (r["new"], r["resolved"], r["overdue"], r["supervised"]) == (
                exp["new"], exp["resolved"], exp["overdue"], exp["supervised"])
            assert (r["resolve_hours_median"], r["resolve_hours_p90"]) == (exp["median"], exp["p90"])
            assert {t: v["new"] for t, v in r["by_type"].items() if v["new"]} == exp["types"]
            assert sum(v["new"] for v in r["by_courtyard"].values()) == exp["new"]
            assert report.satisfaction == exp["satisfaction"]
            assert report.help_calls == exp["help_calls"]
            assert report.alerts["total"] == exp["alerts_total"]
            assert report.alerts["ack_minutes_median"] == exp["ack_median"]
            assert (report.checkins["checked_in"], report.checkins["expected"]) == exp["checkins"]
            assert (report.points["awarded"], report.points["redeemed"]) == exp["points"]
    # The data is rich enough that the reconciliation means something.
    assert exp["new"] > 0 and exp["resolved"] > 0


def test_report_renders_as_text_json_and_csv(services, history):
    with services.session_factory() as s:
        report = build_report(s, kind="daily", day=DAYS[1], village_id=history.villages[0].id)
    text = render_text(report)
    assert text.startswith(f"【高瓷村日通报 {DAYS[1].isoformat()}】")
    assert f"新增{report.requests['new']} 解决{report.requests['resolved']}" in text
    assert f"一键呼叫：{report.help_calls['total']}次，接通{report.help_calls['reached']}次" in text
    assert json.loads(render_json(report))["requests"]["new"] == report.requests["new"]
    rows = list(csv.reader(io.StringIO(render_csv(report))))
    assert rows[1][:2] == ["daily", DAYS[1].isoformat()]
    assert ["requests", "", "new", str(report.requests["new"])] in rows
    assert ["help_calls", "", "reached", str(report.help_calls["reached"])] in rows
