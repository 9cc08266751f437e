"""Escalation planning is pure: chain order, staff at the end, kinds per severity, repeats."""

from __future__ import annotations

from core.bands.escalation import Contact, Policy, next_step, plan_escalation, plan_from_json, plan_to_json

SON = Contact("王小明", "+8613800001111", ("dryrun",), user_id=7, kind="family")
HEAD = Contact("李院长", "+8613900000000", user_id=1, kind="courtyard_head")
DOCTOR = Contact("赵医生", "+8613900000020", kind="doctor")
VILLAGE = Contact("村干部", "+8613900000011", user_id=5, kind="village")


def test_critical_plan_walks_the_chain_then_the_staff_not_already_in_it():
    plan = plan_escalation([SON, HEAD, DOCTOR], [HEAD, VILLAGE], Policy(timeout_min=2, channels=("voice_call",)))
    assert [[c.name for c in lv.contacts] for lv in plan] == [["王小明"], ["李院长"], ["赵医生"], ["村干部"]]
    assert all(lv.timeout_s == 120 and lv.channels == ("voice_call",) for lv in plan)


def test_warning_plan_reaches_only_family_and_falls_back_to_staff():
    warning = Policy(timeout_min=15, kinds=("family",), staff=False)
    plan = plan_escalation([SON, HEAD, DOCTOR], [HEAD], warning)
    assert [[c.name for c in lv.contacts] for lv in plan] == [["王小明"]]
    # Nobody in the family: the 院长 and the village are told rather than nobody.
    assert [[c.name for c in lv.contacts] for lv in plan_escalation([DOCTOR], [HEAD, VILLAGE], warning)] == [
        ["李院长", "村干部"]]


def test_next_step_repeats_the_chain_the_configured_number_of_times():
    steps, current = [], (0, 1)
    while (current := next_step(current[0], current[1], 3, 2)) is not None:
        steps.append(current)
    assert steps == [(1, 1), (2, 1), (3, 1), (1, 2), (2, 2), (3, 2)]
    assert next_step(0, 1, 0, 3) is None


def test_plan_survives_a_round_trip_through_the_database_json():
    plan = plan_escalation([SON, DOCTOR], [VILLAGE], Policy(timeout_min=5, channels=("voice_call", "message")))
    assert plan_from_json(plan_to_json(plan)) == plan


TOWN = Contact("指挥中心", "+8613900000010", user_id=9, kind="town")


def test_the_town_centre_is_the_last_level_after_the_staff():
    plan = plan_escalation([SON, HEAD], [HEAD, VILLAGE], Policy(timeout_min=2), [TOWN, VILLAGE])
    assert [[c.name for c in lv.contacts] for lv in plan] == [["王小明"], ["李院长"], ["村干部"], ["指挥中心"]]
    # A warning without staff never reaches the town; with nobody else, it falls back to staff and town.
    warning = Policy(kinds=("family",), staff=False)
    assert [[c.name for c in lv.contacts] for lv in plan_escalation([SON], [VILLAGE], warning, [TOWN])] == [["王小明"]]
    assert [[c.name for c in lv.contacts] for lv in plan_escalation([], [], warning, [TOWN])] == [["指挥中心"]]


def test_ring_at_once_puts_that_many_chain_members_in_one_level():
    plan = plan_escalation([SON, HEAD, DOCTOR], [VILLAGE], Policy(ring_at_once=2))
    assert [[c.name for c in lv.contacts] for lv in plan] == [["王小明", "李院长"], ["赵医生"], ["村干部"]]


def test_call_outcomes_from_provider_reports():
    """Only ends of a call are outcomes; a machine is a machine whatever the status says."""
    from core.phone.progress import call_outcome

    assert [call_outcome(s) for s in ("queued", "ringing", "in-progress", "answered")] == [None] * 4
    assert [call_outcome(s) for s in ("no-answer", "busy", "failed", "canceled", "completed")] == [
        "no_answer", "busy", "failed", "canceled", "completed"]
    assert call_outcome("in-progress", "machine_start") == call_outcome("completed", "fax") == "machine"
    assert call_outcome("completed", "human") == "completed"


def test_a_level_is_unanswered_only_when_every_call_of_it_ended_so():
    from types import SimpleNamespace

    from core.bands.escalation import level_unanswered

    def note(name, status, level=1, channels=("voice_call", "message"), phone="+861380000", kind="alert"):
        return SimpleNamespace(recipient_name=name, call_status=status, level=level, round=1, severity="critical",
                               channels=list(channels), recipient_phone=phone, kind=kind)

    ringing = [note("王小明", "busy"), note("李院长", None)]
    assert not level_unanswered(ringing, level=1, round_=1, severity="critical")
    ended = [note("王小明", "busy"), note("李院长", "machine"), note("只发短信", None, channels=("message",)),
             note("没号码", None, phone=None), note("上一级", None, level=0)]
    assert level_unanswered(ended, level=1, round_=1, severity="critical")
    assert not level_unanswered([note("只发短信", None, channels=("message",))], level=1, round_=1,
                                severity="critical")  # no call at this level: the timeout decides
