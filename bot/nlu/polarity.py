"""A small hand-written bilingual polarity lexicon and the classifier's polarity features.

The TF-IDF n-grams have no notion of polarity: an unseen sentiment word, or a negation
("从来没让我失望过", "not bad at all", "不太满意"), is just another n-gram. This module
counts positive and negative lexicon terms in a message and flips the polarity of a term
that follows a negation word closely (a few Han characters or Latin words, not across
punctuation or "but"/"但"). The lexicon is written from general language knowledge
(zh and en customer-feedback vocabulary), not derived from the bot's data.

``polarity_counts`` returns (positive, negative, negated positive, negated negative);
``polarity_matrix`` turns texts into the dense feature block appended to the TF-IDF
features when ``polarity_features`` is enabled (bot/nlu/classifier.py).
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

import numpy as np

# Chinese terms (Simplified; texts are normalised before matching). Longest match wins,
# so fixed phrases that contain a negation ("不错", "没毛病", "不满") are single terms.
ZH_POSITIVE = """
好 很好 挺好 真好 太好了 好评 好喝 好吃 好用 好看 好闻 香 很香 醇 醇厚 顺滑 回甘 清香 浓郁
棒 很棒 真棒 太棒 棒棒 赞 点赞 给力 厉害 牛 优秀 出色 完美 精致 精美 漂亮 惊艳 惊喜 满意 满分
喜欢 爱 热爱 超爱 推荐 值得 物超所值 划算 实惠 超值 良心 靠谱 放心 安心 舒服 舒心 开心 高兴
快乐 愉快 感谢 谢谢 多谢 感激 贴心 周到 细心 耐心 热情 用心 专业 高效 及时 迅速 很快 神速 准时
新鲜 正宗 地道 品质好 质量好 一流 上乘 不错 没毛病 无可挑剔 挑不出毛病 没得说 没话说 五星
回购 必须回购 会回购 再来 还会买 信赖 可靠 稳 省心 惊喜连连 好极了 不赖 棒极了 完美无缺
称赞 表扬 夸 夸夸 佩服 感动 温暖 友好 方便 顺利 成功 解决了 帮大忙 帮了大忙 优质 好样的
""".split()

ZH_NEGATIVE = """
差 很差 太差 极差 真差 差劲 差评 烂 很烂 垃圾 糟糕 糟透了 坑 坑人 坑爹 骗 骗子 骗人 欺骗
失望 很失望 太失望 令人失望 生气 气死 愤怒 恼火 火大 郁闷 崩溃 无语 无奈 难受 心累 烦 烦人
讨厌 恶心 难喝 难吃 难闻 难用 苦涩 发苦 酸 霉 发霉 受潮 变质 过期 不新鲜 破 破损 坏 坏了 损坏
漏 漏了 洒了 压扁 碎 碎了 脏 异味 怪味 慢 太慢 很慢 磨蹭 拖 拖延 拖拖拉拉 迟 迟到 延误 晚了
贵 太贵 坑钱 不值 不值得 亏 吃亏 后悔 上当 敷衍 冷漠 态度差 态度恶劣 恶劣 傲慢 粗鲁 不耐烦
不满 不满意 不爽 不行 不好 不靠谱 不专业 不负责 不负责任 不合格 不像话 离谱 过分 太过分 欺负
投诉 毛病 故障 错 错了 搞错 出错 弄错 发错 少了 漏发 假货 山寨
货不对板 图文不符 智商税 一般 一般般 凑合 马马虎虎 还行吧 不怎么样 失败 糟心 闹心 别扭
""".split()

# Words that contain a lexicon term but carry no polarity (consumed, never counted).
ZH_NEUTRAL = """
你好 您好 好的 好吧 好了 好吗 好不好 好久 好像 好几 好多 还好 只好 最好 不好意思 问好 爱好
幸亏 多亏 麻烦 牛奶 牛肉 香港 香草 值班 陈皮 陈年 假期 放假 请假 缺货 酸奶 酸度 不用谢
""".split()

# Negation words: they flip the polarity of a lexicon term a few characters later.
ZH_NEGATORS = """
不 没 没有 别 未 无 非 莫 勿 甭 毫不 并不 并没 并没有 从不 从没 从未 从来不 从来没 从来没有
绝不 决不 一点也不 一点都不 根本不 根本没 不太 不怎么 不是 不算 谈不上 称不上 算不上 不再
""".split()

ZH_BREAKS = set("但可却而")  # "但是", "可是", "却", "而且" start a new clause

EN_POSITIVE = """
good great excellent amazing awesome wonderful fantastic fabulous superb outstanding brilliant
perfect perfectly lovely love loved loves loving enjoy* delicious tasty yummy fresh smooth
rich fragrant happy glad pleased satisfied delight* impress* recommend* best better nice fine
beautiful gorgeous elegant exceptional incredible terrific marvelous marvellous stellar top-notch
thank* thx grateful appreciat* helpful kind friendly polite patient quick fast prompt speedy
efficient professional reliable trustworthy worth worthwhile bargain favourite favorite
cool neat solid superb spot-on flawless seamless easy smooth* wow
kudos bravo cheers praise* compliment* five-star 5-star legend* hero* rock* rocks
exceeded exceed* fantastically wonderfully beautifully nicely pleasure enjoyable
""".split()

EN_NEGATIVE = """
bad poor terrible awful horrible horrendous dreadful atrocious lousy crap crappy rubbish garbage
trash junk worst worse disappoint* unhappy dissatisf* upset* angry annoy* frustrat* furious
mad disgust* hate* dislike* sucks suck sucked stale bitter sour mouldy moldy mold* mould*
expired broken damaged damage* cracked crushed leak* leaking spilled dented torn dirty smelly
slow late delay* overpriced expensive pricey ripoff rip-off scam* fraud* fake cheat* misleading
rude unhelpful useless incompetent careless sloppy unprofessional unacceptable ridiculous
outrageous shameful shame pathetic joke waste* wasted regret* mess messed wrong error* fault*
complain* complaint* missing lost mediocre meh bland weak
tasteless watery disaster nightmare hassle fail* failure unreliable inconvenien* sad
""".split()

EN_NEGATORS = """
not no never none nothing nobody neither nor without hardly barely scarcely
dont don't doesnt doesn't didnt didn't isnt isn't wasnt wasn't arent aren't werent weren't
cant can't cannot couldnt couldn't wont won't wouldnt wouldn't shouldnt shouldn't
havent haven't hasnt hasn't hadnt hadn't aint ain't
""".split()

# Fixed phrases whose words would mislead the counts (checked before single words).
EN_POSITIVE_PHRASES = [
    "can't complain",
    "cant complain",
    "no complaints",
    "no complaint",
    "not a single complaint",
    "couldn't be happier",
    "couldnt be happier",
    "couldn't be better",
    "couldnt be better",
    "can't fault",
    "cant fault",
    "no problem",
    "no problems",
    "no issues",
    "no issue",
    "never disappoints",
    "never disappointed",
    "never lets me down",
    "never let me down",
    "well done",
    "thumbs up",
    "over the moon",
    "hats off",
    "keep it up",
    "keep up the good work",
    "second to none",
    "worth every penny",
    "money well spent",
    "above and beyond",
    "hit the spot",
    "top notch",
    "on point",
    "spot on",
    "went above",
    "love it",
    "can't recommend enough",
    "cant recommend enough",
    "can't get enough",
]
EN_NEGATIVE_PHRASES = [
    "don't like",
    "dont like",
    "didn't like",
    "didnt like",
    "do not like",
    "did not like",
    "not like",
    "let down",
    "let me down",
    "letting me down",
    "fed up",
    "sick of",
    "tired of",
    "not happy",
    "not good enough",
    "not worth it",
    "not worth",
    "rip off",
    "ripped off",
    "waste of money",
    "waste of time",
    "thumbs down",
    "far from",
    "fell apart",
    "falling apart",
    "went wrong",
    "gone wrong",
    "never again",
    "never arrived",
    "never came",
    "not as described",
    "nothing like",
    "what a joke",
    "had enough",
    "last straw",
    "no one replied",
    "nobody replied",
    "no response",
    "no reply",
]

EN_BREAKS = {"but", "however", "although", "though", "yet", "except"}

NEGATION_WINDOW_ZH = 4  # Han characters between a negation and the term it flips
NEGATION_WINDOW_EN = 3  # Latin words between a negation and the term it flips

_UNIT_RE = re.compile(r"[a-z0-9]+(?:['’\-][a-z0-9]+)*|[\u3400-\u4dbf\u4e00-\u9fff]|[^\s]")
_PUNCT_RE = re.compile(r"[^\w\s'’\-]")
N_FEATURES = 5


Entry = tuple[str, int]  # ("neg" | "none" | "term", polarity of a term: 1 or -1)


class _Lexicon(NamedTuple):
    zh: dict[str, Entry]
    zh_max: int
    en_exact: dict[str, Entry]
    en_prefix: list[tuple[str, Entry]]
    phrases: dict[tuple[str, ...], Entry]
    phrase_max: int


@functools.lru_cache(maxsize=1)
def _lexicon() -> _Lexicon:
    zh: dict[str, Entry] = {}
    for words, kind, value in (
        (ZH_NEGATORS, "neg", 0),
        (ZH_NEUTRAL, "none", 0),
        (ZH_POSITIVE, "term", 1),
        (ZH_NEGATIVE, "term", -1),
    ):
        for word in words:
            zh[word] = (kind, value)
    en_exact: dict[str, Entry] = {}
    en_prefix: list[tuple[str, Entry]] = []
    for words, kind, value in (
        (EN_NEGATORS, "neg", 0),
        (EN_POSITIVE, "term", 1),
        (EN_NEGATIVE, "term", -1),
    ):
        for word in words:
            if word.endswith("*"):
                en_prefix.append((word[:-1], (kind, value)))
            else:
                en_exact[word] = (kind, value)
    en_prefix.sort(key=lambda item: -len(item[0]))
    phrases: dict[tuple[str, ...], Entry] = {}
    for table, value in ((EN_POSITIVE_PHRASES, 1), (EN_NEGATIVE_PHRASES, -1)):
        for phrase in table:
            phrases[tuple(phrase.lower().replace("’", "'").split())] = ("term", value)
    return _Lexicon(
        zh, max(len(w) for w in zh), en_exact, en_prefix, phrases, max(len(p) for p in phrases)
    )


def _en_lookup(word: str, lexicon: _Lexicon) -> Entry | None:
    if word in lexicon.en_exact:
        return lexicon.en_exact[word]
    for prefix, entry in lexicon.en_prefix:
        if word.startswith(prefix):
            return entry
    if word.endswith("n't") or (word.endswith("nt") and word[:-2] + "n't" in lexicon.en_exact):
        return ("neg", 0)
    return None


def polarity_counts(text: str) -> tuple[int, int, int, int]:
    """Counts lexicon terms in normalised (lower-case, Simplified) text.

    Args:
        text: Normalised message text.

    Returns:
        (positive, negative, negated positive, negated negative): terms of each polarity,
        and those of them that follow a negation within the window (in the same clause).
    """
    lexicon = _lexicon()
    zh, zh_max = lexicon.zh, lexicon.zh_max
    phrases, phrase_max = lexicon.phrases, lexicon.phrase_max
    units = [u.replace("’", "'") for u in _UNIT_RE.findall(text.lower())]
    counts = [0, 0, 0, 0]
    negation_left = 0  # units after the last negation that can still be flipped
    i = 0
    while i < len(units):
        unit = units[i]
        han = len(unit) == 1 and "\u3400" <= unit <= "\u9fff"
        entry: Entry | None = None
        length = 1
        if han:
            # longest Chinese term starting here (units are single Han characters)
            for size in range(min(zh_max, len(units) - i), 0, -1):
                candidate = "".join(units[i : i + size])
                if candidate in zh:
                    entry, length = zh[candidate], size
                    break
            if entry is None and unit in ZH_BREAKS:
                negation_left = 0
        elif _PUNCT_RE.fullmatch(unit):
            negation_left = 0
        else:
            for size in range(min(phrase_max, len(units) - i), 1, -1):
                if tuple(units[i : i + size]) in phrases:
                    entry, length = phrases[tuple(units[i : i + size])], size
                    break
            if entry is None:
                if unit in EN_BREAKS:
                    negation_left = 0
                else:
                    entry = _en_lookup(unit, lexicon)
        if entry is not None:
            kind, value = entry
            if kind == "none":
                pass
            elif kind == "neg":
                negation_left = NEGATION_WINDOW_ZH + 1 if han else NEGATION_WINDOW_EN + 1
            else:
                negated = negation_left > 0
                counts[(0 if value > 0 else 1) + (2 if negated else 0)] += 1
                negation_left = 0
        elif negation_left:
            negation_left -= 1
        i += length
    return counts[0], counts[1], counts[2], counts[3]


def polarity_vector(text: str) -> np.ndarray:
    """The five polarity features of one normalised text, log-scaled.

    (positive, negative, negated positive, negated negative, net), where net =
    positive + negated negative - negative - negated positive; each as sign * log1p(|x|).
    """
    pos, neg, neg_pos, neg_neg = polarity_counts(text)
    raw = np.array([pos, neg, neg_pos, neg_neg, pos + neg_neg - neg - neg_pos], dtype=float)
    return np.sign(raw) * np.log1p(np.abs(raw))


def polarity_matrix(texts: list[str], weight: float = 1.0) -> np.ndarray:
    """Stacks ``polarity_vector`` for each text, times ``weight`` (rows, 5)."""
    if not texts:
        return np.zeros((0, N_FEATURES))
    return weight * np.vstack([polarity_vector(t) for t in texts])
