"""Service errors and outbound texts render from one catalogued msgid in either language (pure, no app)."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

import pytest

from core.bands import texts as band_texts
from core.errors import InvalidInput, LocalisedError, NotFound, ServiceError
from core.i18n import bilingual, translate
from core.phone import helpcalls as hc
from core.requests.supervision import Digest, render_digest
from tvportal.pages import reminders_speech


def test_a_service_error_keeps_its_msgid_and_params_and_renders_per_reader():
    """str() is the Chinese text; text("en") the English one; the API code and status stay on the class."""
    exc = InvalidInput("上报间隔应在%(low)s到%(high)s秒之间", low=30, high=3600)
    assert (exc.message, exc.params) == ("上报间隔应在%(low)s到%(high)s秒之间", {"low": 30, "high": 3600})
    assert str(exc) == exc.text() == exc.text("zh") == "上报间隔应在30到3600秒之间"
    assert exc.text("en") == "The interval must be 30–3600 s"
    assert exc.text("fr") == str(exc)  # an unknown language falls back to Chinese, never an error
    assert (exc.code, exc.status) == ("invalid_input", 422)
    assert (NotFound("找不到这位居民").code, NotFound("找不到这位居民").status) == ("not_found", 404)
    assert isinstance(exc, ServiceError) and isinstance(exc, LocalisedError)


def test_user_text_in_a_parameter_is_never_formatted_again():
    """A username like "50%" or "%(x)s" is shown as typed, in both languages."""
    exc = InvalidInput("用户名已存在：%(username)s", username="50%(x)s")
    assert str(exc) == "用户名已存在：50%(x)s"
    assert exc.text("en") == "Username taken: 50%(x)s"


def test_a_service_error_survives_pickling_with_its_text():
    """Errors cross process boundaries (logging queues, test workers) as their Chinese text."""
    assert str(pickle.loads(pickle.dumps(NotFound("找不到这条告警")))) == "找不到这条告警"


def test_bilingual_prints_chinese_then_english_and_never_twice_the_same():
    """The CLI line: both halves come from the catalogue; a text without English is printed once."""
    assert bilingual("这个设备号已经登记过") == "这个设备号已经登记过 / This device id is already registered"
    assert bilingual("未知类别：%(category)s", category="%s{}") == "未知类别：%s{} / Unknown category: %s{}"
    assert bilingual("没有这条文字") == "没有这条文字"


def test_alert_summaries_render_in_both_languages_with_missing_readings_as_question_marks():
    """Each alert type's summary fills its reading, or "?" when the band did not send it."""
    zh = band_texts.alert_summary("hr_high", "王奶奶", {"hr": 131}, "心率偏高", "zh")
    assert zh == "王奶奶心率持续偏高（131次/分）"
    assert band_texts.alert_summary("spo2_low", "王奶奶", {}, "血氧偏低", "en") == \
        "王奶奶's blood oxygen stays low (?%)"
    assert band_texts.alert_summary("new_kind", "王奶奶", {}, "新类型", "zh") == "王奶奶：新类型"


CHAIN = [{"position": 1, "name": "王小明", "kind": "family"},
         {"position": 2, "name": "李院长", "kind": "courtyard_head"}]


def test_help_call_steps_in_english():
    """The TV's help-call steps read in English on an English page, the names as they are."""
    legs = [SimpleNamespace(id=1, position=1, name="王小明", status="no_answer", round=1),
            SimpleNamespace(id=2, position=2, name="李院长", status="ringing", round=1)]
    steps = hc.describe_steps(status="calling", legs=legs, chain=CHAIN, reached_name=None, locale="en")
    assert steps == ["王小明 did not answer; calling the next person", "Calling 李院长"]
    assert hc.describe_steps(status="reached", legs=[], chain=[], reached_name=None, locale="en") == \
        ["Family answered; connecting you"]


def test_digest_in_english_translates_the_request_type():
    """An English-reading 院长's morning digest, with the request type in English."""
    text = render_digest("李院长", Digest(3, 1, 0, [(12, "维修", "椒香小院", 26)]), "en")
    assert text == ("Good morning, 李院长: 3 open requests, 1 of them overdue. "
                    "Longest overdue: #12 Repair (椒香小院) 26 h overdue.")


@pytest.mark.parametrize(("items", "said"), [
    ([], "今天没有提醒。"),
    ([SimpleNamespace(time="19:00", kind_label="用药", text="晚饭后吃降压药"),
      SimpleNamespace(time="20:00", kind_label="会议", text="院坝会")],
     "今天的提醒。19:00，用药提醒：晚饭后吃降压药。20:00，会议提醒：院坝会。"),
])
def test_reminders_are_read_aloud_in_chinese_word_for_word(items, said):
    """读给我听 on the TV: the voice speaks Chinese whatever the page's language."""
    assert reminders_speech(items) == said


def test_every_alert_template_fills_in_both_languages():
    """No template of the bands area raises or leaves a slot empty, in Chinese or in English."""
    params = dict.fromkeys(("who", "label", "band", "household", "summary", "place", "when", "code", "at", "by",
                            "hr", "spo2", "temp_c", "minutes", "battery", "by_hour", "count", "items", "village"), "x")
    templates = [v for k, v in vars(band_texts).items() if k.isupper() and isinstance(v, str)]
    templates += list(band_texts.SUMMARIES.values())
    for template in templates:
        for locale in ("zh", "en"):
            assert "%(" not in translate(template, locale, **params), (template, locale)
