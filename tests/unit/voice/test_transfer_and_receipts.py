"""Pure rules of the phone line: who 0 / 2 ring and in which order, webhook receipt keys, the slow menu rate."""

from __future__ import annotations

from types import SimpleNamespace

from core.phone.config import SipSettings, village_for_number
from core.phone.receipts import receipt_key
from core.phone.transfers import HEAD, HUMAN, Person, PlaceStaff, plan_transfer
from voice.speech import slow_rate

HEAD_P = Person("李院长", "+8613900000000", "head", 1)
DUTY = Person("值班", "+8613900000099", "duty")
TOWN = Person("指挥中心", "+8613900000010", "town", 5)
GRID = Person("网格员", "+8613900000012", "staff", 3)
PLACE = PlaceStaff(head=HEAD_P, duty=DUTY, town=TOWN, staff=(GRID,))


def _phones(people):
    return [p.phone for p in people]


def test_key_2_rings_the_head_then_the_duty_phone_then_the_staff_list():
    assert _phones(plan_transfer(HEAD, PLACE))[:3] == [HEAD_P.phone, DUTY.phone, GRID.phone]


def test_key_0_reaches_someone_other_than_the_head_first():
    people = plan_transfer(HUMAN, PLACE)
    assert people[0].phone == DUTY.phone and people[1].phone == TOWN.phone
    no_duty = PlaceStaff(head=HEAD_P, duty=None, town=TOWN, staff=(GRID,))
    assert plan_transfer(HUMAN, no_duty)[0].kind == "town"
    same_as_head = PlaceStaff(head=HEAD_P, duty=Person("值班", HEAD_P.phone, "duty"), town=None, staff=(GRID,))
    assert plan_transfer(HUMAN, same_as_head)[0].phone == GRID.phone


def test_a_number_already_dialled_in_this_call_is_never_rung_again():
    assert HEAD_P.phone not in _phones(plan_transfer(HEAD, PLACE, dialled={HEAD_P.phone}))
    assert plan_transfer(HEAD, PLACE, dialled=set(_phones(plan_transfer(HEAD, PLACE)))) == []


def test_duplicate_numbers_are_rung_once():
    place = PlaceStaff(head=HEAD_P, duty=Person("值班", HEAD_P.phone, "duty"), town=None, staff=(GRID, GRID))
    assert _phones(plan_transfer(HEAD, place)) == [HEAD_P.phone, GRID.phone]


def test_receipt_key_is_the_recording_or_the_step_with_its_token():
    assert receipt_key("message", {"_t": "a"}, {"RecordingSid": "RE1"}) == "rec:RE1"
    one = receipt_key("menu/key", {"tries": "1", "_t": "abc"}, {"Digits": "3"})
    assert one == receipt_key("menu/key", {"_t": "abc", "tries": "1"}, {"Digits": "3"})
    assert one != receipt_key("menu/key", {"tries": "1", "_t": "abd"}, {"Digits": "3"})
    # Without a token (the first webhook), what the caller pressed tells deliveries apart.
    assert receipt_key("incoming", {}, {}) != receipt_key("incoming", {}, {"Digits": "9"})


def test_slow_prompts_ask_for_three_quarters_of_the_rate():
    tts = SimpleNamespace(rate=160)
    assert slow_rate(tts, "menu_speech_slow") == {"rate": 120}
    assert slow_rate(tts, "menu_speech") == {}
    assert slow_rate(SimpleNamespace(), "menu_keys_slow") == {}


def test_the_called_number_names_its_village_in_any_written_form():
    settings = SimpleNamespace(sip=SipSettings(numbers={"023-4671 2345": 3}))
    assert village_for_number(settings, "+862346712345") == 3
    assert village_for_number(settings, "+15005550006") is None
    assert village_for_number(settings, None) is None
