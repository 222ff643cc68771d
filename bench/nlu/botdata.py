"""The bot's own NLU data (``nlu_data/``): held-out splits and the code-switched test set.

The code-switched set is built reproducibly from held-out Chinese and English examples:
in Chinese sentences some product and action words are replaced by English ones
("我的订单到哪了" -> "我的order到哪了"), in English sentences by Chinese ones
("cancel my subscription" -> "cancel my 订阅"). The held-out natural mixed examples are
added. None of these sentences (nor the sentences they were built from) is in the
training split.
"""

from __future__ import annotations

import csv
import logging
import random
import re
from dataclasses import dataclass
from pathlib import Path

from bench.nlu.datasets import REPO, SEED, Dataset, Example, stratified_split

logger = logging.getLogger(__name__)

NLU_DIR = REPO / "nlu_data"
LANGUAGES = ("zh", "en", "mixed")

# Chinese phrase -> English replacement (longest phrases are tried first).
ZH_TO_EN: dict[str, str] = {
    "订单号": "order number",
    "订单": "order",
    "单子": "order",
    "订阅": "subscription",
    "取消": "cancel",
    "退订": "unsubscribe",
    "退款": "refund",
    "退钱": "refund",
    "退货": "return",
    "物流": "tracking",
    "快递": "delivery",
    "包裹": "package",
    "发货": "ship",
    "运费": "shipping fee",
    "价格": "price",
    "多少钱": "how much",
    "折扣": "discount",
    "打折": "discount",
    "优惠券": "coupon",
    "优惠码": "promo code",
    "优惠": "discount",
    "账户": "account",
    "账号": "account",
    "积分": "points",
    "推荐": "recommend",
    "人工客服": "human agent",
    "人工": "human",
    "客服": "agent",
    "真人": "real person",
    "投诉": "complain",
    "暂停": "pause",
    "谢谢": "thanks",
    "多谢": "thanks",
    "你好": "hi",
    "再见": "bye",
    "地址": "address",
    "电话": "phone",
    "邮箱": "email",
    "密码": "password",
    "问题": "problem",
    "质量": "quality",
    "礼盒": "box",
    "会员": "membership",
    "机器人": "bot",
    "修改": "change",
    "更新": "update",
    "付款": "payment",
    "支付": "pay",
    "网站": "website",
    "登录": "login",
    "茶叶": "tea",
    "咖啡": "coffee",
    "好评": "good review",
    "太棒了": "awesome",
    "好的": "ok",
}

# English word or phrase -> Chinese replacement.
EN_TO_ZH: dict[str, str] = {
    "order number": "订单号",
    "tracking number": "快递单号",
    "order": "订单",
    "orders": "订单",
    "subscription": "订阅",
    "cancel": "取消",
    "refund": "退款",
    "return": "退货",
    "shipping": "运费",
    "delivery": "配送",
    "package": "包裹",
    "parcel": "包裹",
    "price": "价格",
    "discount": "折扣",
    "coupon": "优惠券",
    "account": "账户",
    "points": "积分",
    "recommend": "推荐",
    "human": "人工",
    "agent": "客服",
    "person": "真人",
    "complaint": "投诉",
    "pause": "暂停",
    "thanks": "谢谢",
    "thank you": "谢谢",
    "hello": "你好",
    "bye": "再见",
    "address": "地址",
    "password": "密码",
    "problem": "问题",
    "broken": "坏了",
    "quality": "质量",
    "tea": "茶",
    "coffee": "咖啡",
    "box": "礼盒",
    "bot": "机器人",
    "website": "网站",
    "payment": "付款",
    "email": "邮箱",
    "phone": "电话",
    "membership": "会员",
    "plan": "套餐",
}


@dataclass
class BotExample:
    """One example of the bot's data with its language folder."""

    text: str
    intent: str
    language: str


def load_bot_examples(nlu_dir: Path = NLU_DIR) -> list[BotExample]:
    """Loads all intent examples of ``nlu_data/{zh,en,mixed}`` (entity markup removed).

    Args:
        nlu_dir: The ``nlu_data`` folder.

    Returns:
        Examples in a stable order.
    """
    from rasa.shared.nlu.training_data.loading import load_data

    examples: list[BotExample] = []
    for language in LANGUAGES:
        folder = nlu_dir / language
        if not folder.is_dir() or not any(folder.glob("*.yml")):
            continue
        data = load_data(str(folder))
        for message in data.intent_examples:
            examples.append(BotExample(message.get("text"), message.get("intent"), language))
    examples.sort(key=lambda e: (e.language, e.intent, e.text))
    return examples


def split_bot_examples(
    examples: list[BotExample], test_size: float = 0.2, seed: int = SEED
) -> tuple[list[BotExample], list[BotExample]]:
    """Stratified split per (language, intent).

    Args:
        examples: All bot examples.
        test_size: Held-out share.
        seed: Random seed.

    Returns:
        (train, test)
    """
    keyed = [(f"{i}", f"{e.language}/{e.intent}") for i, e in enumerate(examples)]
    train_keys, test_keys = stratified_split(keyed, test_size=test_size, seed=seed)
    train = [examples[int(k)] for k, _ in train_keys]
    test = [examples[int(k)] for k, _ in test_keys]
    return train, test


def product_glossary(
    catalogue: Path = REPO / "analytics" / "store" / "data" / "catalogue.csv",
) -> dict:
    """Product names zh -> en from the catalogue (empty when missing)."""
    if not catalogue.is_file():
        return {}
    with open(catalogue, encoding="utf-8") as handle:
        return {row["name_zh"]: row["name_en"] for row in csv.DictReader(handle)}


def _switch(text: str, glossary: dict[str, str], rng: random.Random, latin: bool) -> str | None:
    """Replaces glossary terms (each with probability 0.7, at least one); None if none."""
    terms = sorted(glossary, key=len, reverse=True)
    if latin:
        pattern = re.compile(
            r"(?<![A-Za-z])(" + "|".join(re.escape(t) for t in terms) + r")(?![A-Za-z])",
            re.IGNORECASE,
        )
    else:
        pattern = re.compile("|".join(re.escape(t) for t in terms))
    matches = list(pattern.finditer(text))
    if not matches:
        return None
    chosen = [m for m in matches if rng.random() < 0.7] or [rng.choice(matches)]
    out, last = [], 0
    for match in chosen:
        replacement = glossary[match.group().lower() if latin else match.group()]
        out.append(text[last : match.start()])
        if latin:
            out.append(replacement)
        else:
            # Chinese -> English: spaces only where a Latin neighbour needs one.
            before = text[match.start() - 1 : match.start()]
            after = text[match.end() : match.end() + 1]
            prefix = " " if before and re.match(r"[A-Za-z0-9]", before) else ""
            suffix = " " if after and re.match(r"[A-Za-z0-9]", after) else ""
            out.append(prefix + replacement + suffix)
        last = match.end()
    out.append(text[last:])
    return re.sub(r"\s+", " ", "".join(out)).strip()


def code_switched(test: list[BotExample], seed: int = SEED) -> list[Example]:
    """Builds the code-switched test set from held-out examples.

    Args:
        test: Held-out bot examples (any language).
        seed: Random seed for which words get switched.

    Returns:
        (text, intent) pairs: switched zh and en sentences plus held-out mixed ones.
    """
    rng = random.Random(seed)
    products = product_glossary()
    zh_to_en = {**ZH_TO_EN, **products}
    en_to_zh = {**{k.lower(): v for k, v in EN_TO_ZH.items()}}
    en_to_zh.update({en.lower(): zh for zh, en in products.items()})
    out: list[Example] = []
    for example in test:
        if example.language == "mixed":
            out.append((example.text, example.intent))
            continue
        switched = _switch(
            example.text,
            en_to_zh if example.language == "en" else zh_to_en,
            rng,
            latin=example.language == "en",
        )
        if switched and switched != example.text:
            out.append((switched, example.intent))
    return out


def load_codeswitch(nlu_dir: Path = NLU_DIR) -> Dataset:
    """The code-switched benchmark: train on 80% of nlu_data, test on switched 20%."""
    examples = load_bot_examples(nlu_dir)
    if not examples:
        raise FileNotFoundError(f"No NLU examples under {nlu_dir}")
    train, test = split_bot_examples(examples)
    return Dataset(
        "codeswitch",
        "zh",
        [(e.text, e.intent) for e in train],
        code_switched(test),
        source="nlu_data/ (zh, en, mixed) stratified 80/20 by language+intent, seed 42; "
        "test = held-out zh/en with words switched (bench/nlu/botdata.py) + held-out mixed",
    )
