"""Spoken TV text (语音导读): numbers read the way people say them, and the clip text of a focused tile or row.

espeak-ng's Mandarin voice reads "32分" digit by digit or in a stilted way; villagers expect "三十二分",
"第三名", "九点半". These pure functions turn the digits of a short screen text into Chinese numerals
before the text is synthesised (and cached by its content hash).
"""

from __future__ import annotations

import re

DIGITS = "零一二三四五六七八九"
SMALL_UNITS = ("", "十", "百", "千")
MAX_CLIP_CHARS = 120
# Counted things for which a lone 2 is said 两 ("两分", "两条新通知"), never after 第.
MEASURE_WORDS = "分条户个次位件斤升块元人天"
# Amounts stay numbers even when long ("12000分"); other runs of 5+ digits are codes or phone numbers.
AMOUNT_UNITS = "分元斤块升"

_TOKEN = re.compile(
    r"(?P<time>(?<!\d)(?P<hh>[01]?\d|2[0-3]):(?P<mm>[0-5]\d)(?!\d))"
    r"|(?P<sign>[+＋\-−])?(?P<num>\d+)(?:\.(?P<frac>\d+))?(?P<pct>%|％)?"
)

_CJK = r"[\u3000-\u9fff\uff00-\uffef]"
_SPACE_BY_NUMBER = re.compile(rf"(?<={_CJK})[ \t]+(?=[+\-\d])|(?<=\d)[ \t]+(?={_CJK})")


def digits_one_by_one(digits: str) -> str:
    """'102030' → '一零二零三零' (codes, phone numbers, years)."""
    return "".join(DIGITS[int(d)] for d in digits)


def _below_10000(n: int) -> str:
    """1–9999 in Chinese numerals with 零 for gaps ('一千零五')."""
    parts: list[str] = []
    gap = False
    for power in (3, 2, 1, 0):
        digit = (n // 10 ** power) % 10
        if digit == 0:
            gap = bool(parts)
            continue
        if gap:
            parts.append("零")
            gap = False
        parts.append(DIGITS[digit] + SMALL_UNITS[power])
    return "".join(parts)


def _grouped(n: int) -> str:
    if n < 10 ** 4:
        return _below_10000(n)
    size, unit = (10 ** 8, "亿") if n >= 10 ** 8 else (10 ** 4, "万")
    high, low = divmod(n, size)
    said = _grouped(high) + unit
    if low:
        said += ("零" if low < size // 10 else "") + _grouped(low)
    return said


def chinese_number(n: int) -> str:
    """A whole number the way it is said: 0 零, 10 十, 32 三十二, 105 一百零五, 20500 二万零五百."""
    if n < 0:
        return "负" + chinese_number(-n)
    if n == 0:
        return "零"
    said = _grouped(n)
    return said[1:] if said.startswith("一十") else said  # 十二, not 一十二


def _read_digit_by_digit(digits: str, after: str) -> bool:
    """Years before 年, codes with a leading zero, and long runs that are not amounts (phone numbers)."""
    if after == "年" and len(digits) == 4:
        return True
    if len(digits) > 1 and digits.startswith("0"):
        return True
    return len(digits) >= 5 and not (after and after in AMOUNT_UNITS)


def _say_token(match: re.Match[str], text: str) -> str:
    if match.group("time"):
        hour, minute = int(match.group("hh")), int(match.group("mm"))
        said = ("两" if hour == 2 else chinese_number(hour)) + "点"
        if minute == 30:
            return said + "半"
        if minute:
            said += ("零" if minute < 10 else "") + chinese_number(minute) + "分"
        return said
    digits = match.group("num")
    after = text[match.end():match.end() + 1]
    before = text[match.start() - 1:match.start()] if match.start() else ""
    raw_sign = match.group("sign") or ""
    sign = {"+": "加", "＋": "加", "-": "减", "−": "减"}.get(raw_sign, "")
    if sign and before.isalnum():
        sign = raw_sign  # a hyphen between words or numbers ("A-3"), not a sign
    if match.group("frac") is not None:
        spoken = chinese_number(int(digits)) + "点" + digits_one_by_one(match.group("frac"))
    elif _read_digit_by_digit(digits, after):
        spoken = digits_one_by_one(digits)
    elif digits == "2" and after and after in MEASURE_WORDS and before != "第":
        spoken = "两"
    else:
        spoken = chinese_number(int(digits))
    if match.group("pct"):
        spoken = "百分之" + spoken
    return sign + spoken


def speak_numbers(text: str) -> str:
    """The text with every number said naturally: '32分' → '三十二分', '第3名' → '第三名', '9:30' → '九点半'.

    Codes and phone numbers (5+ digits, or a leading zero) are read digit by digit; a 4-digit year
    before 年 too; '+5' is 加五, '12.5' 十二点五, '50%' 百分之五十.
    """
    text = _SPACE_BY_NUMBER.sub("", text or "")  # "积分 32 分" is shown spaced but said as one word
    return _TOKEN.sub(lambda m: _say_token(m, text), text)


def clip_text(parts: list[str] | str) -> str:
    """What the TV says for a focused tile or row: its visible parts joined by pauses, numbers spoken.

    `parts` are the texts the page shows on the element (label, sub-line, a row's full text); empty
    and repeated parts are dropped, the whole is cut to MAX_CLIP_CHARS.
    """
    if isinstance(parts, str):
        parts = re.split(r"[|·\n]", parts)
    seen: list[str] = []
    for part in parts:
        cleaned = " ".join((part or "").split()).strip("，,。 ")
        if cleaned and cleaned not in seen:
            seen.append(cleaned)
    return speak_numbers("，".join(seen))[:MAX_CLIP_CHARS]
