"""Grammar-first recognition as pure functions: phrase lists from the intent table, and the verdict on a result."""

from __future__ import annotations

import pytest

from voice.asr import Transcript, compile_grammar, detect_language, judge_grammar, split_phrase
from voice.intents import GRAMMAR_FILLERS, GRAMMAR_PHRASES, INTENTS, classify, grammar_table

ZH_VOCAB = {"垃圾", "桶", "满", "了", "我", "家", "水管", "爆", "院长", "找", "积分", "查", "喂", "[unk]"}


def zh_known(word: str) -> bool:
    return word in ZH_VOCAB


def words(*pairs: tuple[str, float]) -> Transcript:
    return Transcript(text=" ".join(w for w, _ in pairs), confidence=0.0,
                      words=[{"word": w, "conf": c} for w, c in pairs])


def test_chinese_phrases_are_split_into_the_longest_words_the_model_knows() -> None:
    assert split_phrase("垃圾桶满了", zh_known) == (["垃圾", "桶", "满", "了"], [])
    assert split_phrase("我家水管爆了", zh_known) == (["我", "家", "水管", "爆", "了"], [])


def test_words_the_model_does_not_know_are_dropped_and_reported() -> None:
    assert split_phrase("垃圾箱满了", zh_known) == (["垃圾", "满", "了"], ["箱"])
    assert split_phrase("안녕하세요 도와주세요", lambda w: w == "안녕하세요") == (["안녕하세요"], ["도와주세요"])


def test_compiled_grammar_keeps_known_words_drops_unknown_ones_and_adds_unk() -> None:
    grammar = compile_grammar({"environment": ["垃圾桶满了", "臭水沟"], "find_head": ["找院长"]}, zh_known,
                              fillers=["喂", "我"])
    assert grammar.phrases == ("垃圾 桶 满 了", "找 院长", "喂", "我", "[unk]")
    assert set(grammar.dropped) == {"臭", "水", "沟"}  # a phrase with no known word disappears entirely
    assert grammar.intents_of("垃圾") == {"environment"} and grammar.intents_of("院长") == {"find_head"}
    assert grammar.intents_of("喂") == frozenset()  # fillers point nowhere


def test_unk_is_only_added_when_the_model_has_it() -> None:
    grammar = compile_grammar({"points": ["查积分"]}, lambda w: w in {"查", "积分"})
    assert grammar.phrases == ("查 积分",)


def test_words_shared_by_intents_or_fillers_point_nowhere() -> None:
    grammar = compile_grammar({"environment": ["垃圾满了"], "repair": ["水管爆了"]}, zh_known, fillers=["我"])
    assert grammar.intents_of("了") == {"environment", "repair"}
    filler_in_phrase = compile_grammar({"find_head": ["我找院长"]}, zh_known, fillers=["我"])
    assert filler_in_phrase.intents_of("我") == frozenset()


GRAMMAR = compile_grammar({"environment": ["垃圾桶满了"], "repair": ["水管爆了"], "find_head": ["找院长"],
                           "points": ["查积分"]}, zh_known, fillers=["喂", "我", "家"])


def test_a_confident_single_intent_result_is_accepted() -> None:
    match = judge_grammar(GRAMMAR, words(("喂", 0.5), ("垃圾", 0.9), ("桶", 0.8), ("满", 0.95), ("了", 0.7)))
    assert match.intent == "environment" and match.reason == "ok" and match.text == "喂 垃圾 桶 满 了"
    assert match.confidence == pytest.approx((0.9 + 0.8 + 0.95) / 3, abs=0.001)  # "了" points to one intent only


@pytest.mark.parametrize(("result", "reason"), [
    (words(), "empty"),
    (words(("[unk]", 0.9)), "unk"),
    (words(("[unk]", 0.9), ("[unk]", 0.9), ("院长", 0.99)), "unk"),
    (words(("喂", 1.0), ("我", 1.0)), "no_intent"),
    (words(("院长", 1.0), ("积分", 1.0), ("水管", 0.9)), "ambiguous"),  # out-of-list speech forced onto the list
    (words(("找", 0.55), ("院长", 0.6)), "low_confidence"),
    (words(("喂", 1.0), ("院长", 0.3)), "low_confidence"),
])
def test_results_the_grammar_cannot_vouch_for_fall_back_to_free_mode(result: Transcript, reason: str) -> None:
    match = judge_grammar(GRAMMAR, result)
    assert match.intent is None and match.reason == reason


def test_a_barely_heard_word_of_another_intent_does_not_veto_a_clear_result() -> None:
    match = judge_grammar(GRAMMAR, words(("找", 1.0), ("院长", 1.0), ("积分", 0.38)))
    assert match.intent == "find_head" and match.confidence == 1.0


def test_every_chinese_grammar_phrase_reads_back_as_its_own_intent() -> None:
    table, fillers = grammar_table("zh")
    assert set(table) == set(INTENTS)
    for intent, phrases in table.items():
        for phrase in phrases:
            found = classify(phrase)
            assert found is not None and found.name == intent, phrase
    assert all(classify(filler) is None for filler in fillers)


def test_the_phrase_list_comes_from_the_intent_table_per_language() -> None:
    assert set(GRAMMAR_PHRASES) == set(GRAMMAR_FILLERS) == {"zh", "ko"}
    assert all(kw in GRAMMAR_PHRASES["zh"][name] for name, (_, kws) in INTENTS.items() for kw in kws)
    assert grammar_table("xx") == ({}, ())


def test_the_model_language_is_detected_from_its_vocabulary() -> None:
    korean = {w for ps in GRAMMAR_PHRASES["ko"].values() for p in ps for w in p.split()}
    assert detect_language(lambda w: w in korean) == "ko"
    assert detect_language(lambda w: len(w) == 1 and "\u4e00" <= w <= "\u9fff") == "zh"
    assert detect_language(lambda w: False) is None


def test_korean_test_model_transcripts_map_to_intents_by_whole_words() -> None:
    found = classify("안녕하세요 원장님")
    assert found is not None and found.name == "find_head" and found.summary == "안녕하세요 원장님"
    assert classify("안녕하세요") is None


def test_chinese_grammar_words_that_name_an_intent_stay_unique_to_it() -> None:
    """积分 means 查积分 and 医生 means 求助 in grammar mode: 换积分 and 找村医 must not make them neutral."""
    words = {"积分", "医生", "工作", "卫生", "院长", "兑换", "奖品", "垃圾", "救命", "活路"}
    table, fillers = grammar_table("zh")
    grammar = compile_grammar(table, lambda w: w in words or (len(w) == 1 and "\u4e00" <= w <= "\u9fff"),
                              fillers=fillers)
    expected = {"积分": "points", "医生": "help", "工作": "job", "卫生": "environment", "院长": "find_head",
                "兑换": "redeem", "奖品": "redeem", "垃圾": "environment", "救命": "help", "活路": "job"}
    assert {w: set(grammar.intents_of(w)) for w in expected} == {w: {i} for w, i in expected.items()}
