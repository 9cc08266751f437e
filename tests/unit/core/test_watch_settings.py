"""The SOS numbers and phonebook a watch should hold follow the caregiver chain (pure command planning)."""

from __future__ import annotations

from core.bands.watches import settings_commands

CHAIN = [("+8613800001111", "王小明"), ("+8613900000000", "李院长"), ("+8613900000020", "赵医生")]
PHB = ("PHB,+8613800001111,738B5C0F660E,+8613900000000,674E9662957F,+8613900000020,8D75533B751F")


def test_a_new_watch_gets_three_sos_numbers_in_chain_order_and_the_phonebook():
    assert settings_commands(CHAIN, {}) == ["SOS1,+8613800001111", "SOS2,+8613900000000", "SOS3,+8613900000020",
                                            PHB]


def test_a_watch_in_step_gets_nothing():
    assert settings_commands(CHAIN, {"sos": [p for p, _ in CHAIN], "phb": PHB}) == []


def test_when_the_daughter_changes_phones_only_her_slot_and_the_phonebook_are_sent():
    new_chain = [("+8613700007777", "王小明"), *CHAIN[1:]]
    assert settings_commands(new_chain, {"sos": [p for p, _ in CHAIN], "phb": PHB}) == [
        "SOS1,+8613700007777", PHB.replace("+8613800001111", "+8613700007777")]


def test_a_shorter_chain_clears_a_slot_the_watch_held_and_leaves_empty_ones_alone():
    held = {"sos": [p for p, _ in CHAIN], "phb": PHB}
    assert settings_commands(CHAIN[:2], held)[:1] == ["SOS3,"]
    assert settings_commands(CHAIN[:1], {"sos": ["+8613800001111"]})[:1] == [
        "PHB,+8613800001111,738B5C0F660E"]


def test_an_unassigned_watch_keeps_no_numbers_from_a_former_wearer():
    assert settings_commands([], {"sos": ["+8613800001111", "", ""], "phb": PHB}) == ["SOS1,"]
