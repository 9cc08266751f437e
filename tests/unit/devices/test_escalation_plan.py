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
