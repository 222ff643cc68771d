"""A small bilingual concept table for the shop's domain (issue 15).

Customers and the FAQ name the same thing with different words, and often in different
languages: "退货" / "send it back" / "return", "包邮" / "free shipping" / "免邮". Each concept
below lists its Chinese and English surface forms; ``concept_tokens`` turns every form found
in a text into the token ``c:<concept>``, for passages and questions alike, so a question
matches a passage through a shared concept even when they share no word (and across
languages: an English question reaches a Chinese-only passage).

Forms (``|``-separated in ``_TABLE``): Chinese forms match as substrings; English forms match whole words, where a
trailing ``*`` lets the word continue (``deliver*``: deliver, delivery, delivered) and a
space stands for any run of spaces or punctuation. Written from the shop's domain (the FAQ
in ``knowledge/`` and ordinary customer words), never from the held-out bench questions.

Chinese forms are Simplified. Texts in Traditional Chinese (a customer's question, or a
passage the founder wrote in Traditional) are folded to Simplified first by
``fold_traditional`` (OpenCC), so one form serves both scripts; Taiwan's and Hong Kong's own
words for the same thing (简讯 for 短信, 资讯 for 信息, 储存 for 保存), folded, are forms too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

from analytics.core.language import CJK_RANGES, to_simplified

logger = logging.getLogger(__name__)

#: OpenCC's configuration that folds Traditional Chinese to Simplified: Hong Kong's variant
#: forms (衞, 枱, 衹) to the standard ones, then OpenCC's Traditional-to-Simplified phrase
#: and character tables (t2s; Taiwan's standard forms 裡, 臺, 著 are standard Traditional
#: there). Simplified text passes unchanged (checked by tests/analytics/brain/
#: test_retrieval_traditional.py). Not ``tw2s``: it also maps Simplified 么 to 幺 (什么).
FOLD_CONFIG = "hk2s"
_SURROGATES = re.compile("[\ud800-\udfff]")

_TABLE: dict[str, str] = {
    # shipping
    "dispatch": "发货|寄出|发出|发走|出库|ship out|dispatch*|send out",
    "arrive": "送达|到货|收到|arriv*|get here|show up|到手|寄到",
    # how long delivery takes, distinct from how long a refund takes
    "ship_time": (
        "几天到|多久到|几天能到|多久能到|几天能收到|多久能收到|几天收到|多久收到|多久送到|几天送到|送达时间|"
        "多久发货|几天发货|发货时间|次日达|要几天|delivery time*|shipping time*|delivery take*|shipping take*|"
        "how long does delivery|how long does shipping|how long will delivery|how long will shipping|"
        "how long to deliver|how fast|how soon|how many days until|how many days for delivery"
    ),
    "coverage": (
        "配送范围|哪些地方|哪些地区|哪些省|送哪里|发哪里|where do you deliver|where do you ship|which areas|"
        "which regions|which provinces|areas do you"
    ),
    "ship_fee": (
        "运费|邮费|快递费|包邮|免邮|免运费|shipping cost*|shipping fee*|delivery fee*|"
        "delivery cost*|shipping charge*|delivery charge*|shipping price*|shipping rate*|how much is shipping|"
        "how much is delivery|how much does shipping|how much does delivery|how much for shipping|"
        "cost to ship|cost of shipping|cost of delivery|"
        "postage|free shipping|free delivery|shipping free|ship free|ships free"
    ),
    "courier": "快递公司|顺丰|京东物流|圆通|courier*|carrier*|sf express|jd logistics|yto",
    "tracking": (
        "运单号|快递单号|单号|物流信息|物流资讯|查物流|到哪|在哪了|track*|where is my order|where is my parcel|"
        "where is my package"
    ),
    "delay": (
        "延误|晚到|没收到|还没到|丢了|丢失|没动|没更新|催件|delay*|late|lost|not arrived|hasn't arrived|stuck|"
        "still waiting"
    ),
    "address": "地址|收货地址|address*",
    "abroad": (
        "国外|海外|国际|境外|出国|香港|澳门|台湾|新加坡|美国|英国|日本|international*|abroad|overseas|hong kong|"
        "macao|macau|taiwan|singapore|usa|united states|uk|europe*|countr*|马来西亚|澳大利亚|加拿大|韩国|德国|法国|malaysia|australia|canada|japan|korea|germany|france"
    ),
    # shipping abroad, distinct from paying with a card from abroad (c:abroad)
    "ship_abroad": (
        "寄到国外|寄国外|发国外|寄到海外|寄海外|发海外|海外配送|国际配送|国际快递|国际运费|寄出国|寄到香港|寄香港|"
        "发香港|寄到台湾|寄台湾|发台湾|寄到澳门|寄澳门|寄到新加坡|寄新加坡|寄到美国|寄美国|寄到英国|寄到日本|"
        "寄到加拿大|寄到澳大利亚|其他国家|ship abroad|ship overseas|ship internationally|international shipping|"
        "international delivery|deliver abroad|deliver overseas|send abroad|send overseas|send it abroad|"
        "ship outside|ship to other countries|other countries|to the us|to the uk|to the states"
    ),
    "customs": "关税|清关|海关|进口税|customs|duty|duties|import tax*|import*",
    "remote": "偏远|新疆|西藏|青海|内蒙|remote|rural|xinjiang|tibet|qinghai",
    "gift": "礼物|送人|送朋友|送给|礼品|gift*|present|presents",
    "wrap": "包装|贺卡|卡片|wrap*|card message|gift note|note",
    "freight_collect": "到付|freight collect",
    "cod": "货到付款|cash on delivery|cod|pay on delivery|pay when it arrives",
    # returns and refunds
    "return": "退货|退回|寄回|退换|return*|send back|send it back|sent back",
    # how long a refund takes, distinct from how long delivery takes
    "refund_time": (
        "退款多久|退款要几天|退款几天|退钱要几天|退货要几天|"
        "when will i get my money|when do i get my money|how long does a refund|how long do refunds|"
        "how long will my refund|refund take*|refunds take*"
    ),
    "return_policy": (
        "退货政策|退换货政策|退货规则|退换货规则|退货期限|几天内可以退|return policy|returns policy|"
        "return window|time limit for returns|time limit to return|refund policy|可以退货|能退货|能不能退货|"
        "可不可以退货|can i return|can you return|can i send it back"
    ),
    "refund": "退款|退钱|钱退|退费|refund*|money back|reimburs*",
    "no_reason": (
        "无理由|不想要|不喜欢|后悔|不合适|changed my mind|change my mind|no reason|don't want|"
        "don't like|dont want"
    ),
    "request": "申请|流程|售后|手续|request*|process|procedure|how do i return",
    "unopened": "未拆封|没拆|没开封|没打开|没开过|unopened|still sealed|unused",
    "opened": "拆封|拆开|开封|打开|拆了|opened|unsealed",
    "quality": "质量|受潮|发霉|异味|不新鲜|quality|mould*|mold*|stale|musty|damp|霉|味道不对",
    "damaged": "破损|压扁|压坏|碎了|摔碎|破了|裂|漏气|damag*|broke*|smash*|crush*|crack*|dent*|shatter*",
    "wrong_item": "发错|少发|漏发|少了|少件|不一样|不对|wrong item*|wrong product*|missing|wrong|只收到",
    # payment
    "pay": "支付|付款|付钱|买单|结账|结算|pay|paying|payment*|checkout",
    "pay_methods": (
        "支付方式|付款方式|怎么付款|怎么支付|payment method*|payment option*|ways to pay|how can i pay|"
        "how do i pay|what can i pay with"
    ),
    "alipay_wechat": "支付宝|微信支付|微信付|alipay|wechat pay",
    "card": "信用卡|借记卡|银行卡|银联|卡|credit card*|debit card*|card*|unionpay",
    "foreign_card": (
        "万事达|维萨|美国运通|境外卡|外国卡|国外的卡|visa|mastercard|amex|american express|paypal|"
        "foreign card*"
    ),
    "qr": "二维码|扫码|扫一扫|qr code|qr|scan*",
    "installment": "分期|花呗|installment*|instalment*|huabei|pay later",
    "invoice": "发票|开票|抬头|税号|统一编号|统编|invoic*|fapiao|tax number|vat receipt|专票|专用发票|普票",
    "pay_failed": (
        "付款失败|支付失败|付不了|付不出|扣了|没付款|未付款|限额|declin*|fail*|charged twice|double charg*|"
        "won't go through"
    ),
    "coupon": "优惠码|优惠券|折扣码|券|coupon*|discount code*|promo*|voucher*|code",
    "points": "积分|point*|loyalty",
    "price": "价格|标价|人民币|美元|币种|含税|price*|currenc*|yuan|rmb|usd|dollar*|vat|tax|taxes|taxed",
    # contact
    "hours": "几点|上班|下班|营业时间|工作时间|在线|周末|节假日|hour*|opening time*|open|weekend*|holiday*|what time",
    "human": "人工|真人|转人工|店主|human|real person|talk to a person|founder|owner",
    "channel": "联系|联络|电话|邮箱|邮件|contact*|phone|call|email*|e-mail*|邮箱地址|email address",
    "reply": "回复|多久回|回消息|回讯息|reply|replies|respon*|get back to",
    "about": "谁开的|老板|经营|run by|产地|来源|哪里来|采购|who runs|who owns|come from|origin*|sourc*|behind",
    "visit": "实体店|门店|门市|线下|自提|到店|自己拿|physical|visit*|pick up|pickup|in person|walk in|come by|located|location|drop by|stop by|pick it up",
    "complaint": "投诉|不满意|差评|建议|complain*|unhappy|feedback|dissatisfied",
    "wechat_group": "微信|群|社群|企业微信|wechat|group*|community",
    # privacy
    "personal_data": "个人信息|信息|数据|隐私|资料|资讯|personal data|data|privacy|information|info|密码|password*|collect|手机号|电话号码|phone number*",
    "chat_log": "聊天记录|聊天内容|对话|聊天|chat*|conversation*|messages",
    "order_records": "订单记录|购买记录|交易记录|历史订单|order history|purchase history|records|transaction*",
    "keep_time": "保存多久|储存多久|保留|一直保存|一直储存|多久删除|keep|kept|retain*|retention|store my|how long do you keep",
    "export": "导出|汇出|一份|下载|副本|export*|download*|copy of",
    "delete": "删除|注销|删掉|删了|delet*|eras*|close my account|remove my",
    "share_data": "给别人|出售|出租|交给|pass it to|rent|卖给|卖我|泄露|第三方|share|sharing|sell my|sell your|sell data|selling my|third part*|卖用户|卖使用者|卖个人|卖我的|卖数据|卖资料|卖信息|卖资讯",
    "marketing": "营销|促销|广告|推销|短信|简讯|退订|market*|promotional|unsubscrib*|spam|newsletter*|ads",
    "bot": "机器人|自动回复|bot|robot|automated|ai",
    # products and brewing
    "green_tea": "绿茶|龙井|碧螺春|茉莉|green tea|longjing|biluochun|jasmine",
    "oolong": "乌龙|铁观音|大红袍|单丛|oolong|tieguanyin|da hong pao|dancong",
    "black_tea": "红茶|正山小种|滇红|black tea|lapsang|souchong|yunnan black",
    "white_puerh": "白茶|白毫银针|银针|普洱|white tea|silver needle|pu-erh|puerh|pu erh|熟普|生普|ripe|raw pu-erh",
    "brew": "冲泡|泡|水温|出汤|几秒|brew*|steep*|infusion*|water temperature|how hot",
    "beans_grind": "咖啡豆|豆子|磨粉|研磨|磨成|手冲|法压|bean*|grind*|ground|pour-over|pour over|french press|pre-ground|咖啡粉|磨好",
    "cold_drip": "冷萃|挂耳|cold brew|drip bag*",
    "storage": "保质期|how long does tea keep|how long does coffee keep|how long do beans keep|how long does tea last|how long does coffee last|tea keep|coffee keep|beans keep|tea last|coffee last|beans last|how long does tea|how long do tea|how long does coffee|how long do beans|how long do coffee|保存|储存|放多久|过期|冰箱|新鲜|shelf life|store|stored|storing|storage|expir*|fresh*|fridge|roast date|go bad|变质|坏掉",
    "caffeine": "咖啡因|低因|失眠|睡觉|睡不着|睡不著|孕|caffein*|decaf*|sleep*|pregnan*",
    "accessories": (
        "器具|茶具|磨豆机|手冲壶|盖碗|法压壶|保温杯|保修|accessor*|grinder*|kettle*|gaiwan*|tumbler*|"
        "warrant*|teapot*"
    ),
    # subscriptions
    "subscription": "订阅|礼盒|会员|续订|续费|subscri*|box|boxes|member*|renew*",
    "billing": "扣费|扣款|扣钱|几号|哪天|charg*|bill|bills|billed|billing|renewal date|next payment|next charge|next billing",
    "pause": "暂停|跳过|停一个月|停一期|pause*|skip*|hold|先别寄|不要寄|别寄|hold off",
    "perks": "会员福利|权益|perk*|benefit*",
    "cancel": "取消|停掉|不想续|不续|退订阅|cancel*|stop my subscription|end my subscription",
    "switch": "换成|更换|改成|互换|switch*|swap*|change to|instead of",
    "renew_fail": "扣款失败|扣费失败|扣款没成功|卡过期|card expired|renewal fail*|expired card",
    # wholesale
    "wholesale": (
        "批发|进货|供货|大批量|批量|企业|公司|wholesal*|bulk|business*|supply|supplier*|cafe*|café*|"
        "hotel*|restaurant*|company|合作|供应|partner*"
    ),
    "minimum": "起订|最少|最低|起批|minimum*|moq|at least",
    "corporate_gift": "年会|员工|福利|中秋|春节|节日|corporate|employee*|staff|clients",
    "branding": "logo|定制|印上|印我们|custom*|print*|branding|印",
    "sample": "样品|试用|小样|sample*|trial|try first|试喝装|试用装",
    "terms": "对公|转账|账期|月结|bank transfer|net 30|payment terms|terms",
}
CONCEPTS: dict[str, tuple[str, ...]] = {k: tuple(v.split("|")) for k, v in _TABLE.items()}
#: A narrower concept also counts as its broader one: "how long refunds take" is still about
#: refunds, "ship abroad" still names a place abroad.
BROADER: dict[str, str] = {
    "ship_abroad": "abroad",
    "refund_time": "refund",
    "return_policy": "return",
    "pay_methods": "pay",
}


_CJK = re.compile(r"[\u3400-\u9fff]")
_CJK_RUN = re.compile(f"[{CJK_RANGES}]+")
_WORD = re.compile(r"\w+(?:['-]\w+)*")

_Element = tuple[str, bool]  # a word, and whether it may continue (trailing ``*``)
_Form = tuple[tuple[_Element, ...], str]  # an English form's words, and its concept


def _build() -> tuple[dict[str, str], int, dict[str, list[_Form]]]:
    """Lookup tables for matching.

    Returns:
        Chinese form -> concept, the longest Chinese form's length, and the English forms
        by their first word (``word`` or, for an open-ended first word, ``stem*``), longest
        form first.
    """
    chinese: dict[str, str] = {}
    english: dict[str, list[_Form]] = {}
    for name, forms in CONCEPTS.items():
        for form in forms:
            if _CJK.search(form):
                chinese.setdefault(form, name)
                continue
            elements = tuple((w.rstrip("*"), w.endswith("*")) for w in form.split())
            first, open_end = elements[0]
            english.setdefault(first + ("*" if open_end else ""), []).append((elements, name))
    for candidates in english.values():
        candidates.sort(key=lambda form: -len(form[0]))
    return chinese, max(map(len, chinese), default=1), english


_CHINESE, _LONGEST, _ENGLISH = _build()
_PREFIX_LENGTHS = sorted({len(k) - 1 for k in _ENGLISH if k.endswith("*")}, reverse=True)


def _matches(words: list[str], elements: tuple[_Element, ...]) -> bool:
    """Whether ``words`` start with the form's words (open-ended ones as prefixes)."""
    if len(words) < len(elements):
        return False
    return all(
        word.startswith(text) if open_end else word == text
        for word, (text, open_end) in zip(words, elements, strict=False)
    )


def _with_broader(name: str) -> Iterator[str]:
    """The concept's token and, for a narrower concept, its broader one's."""
    yield "c:" + name
    if name in BROADER:
        yield "c:" + BROADER[name]


def _english_concepts(words: list[str]) -> Iterator[str]:
    """Concepts of a word sequence: at each word the longest matching form, no overlaps."""
    i = 0
    while i < len(words):
        word = words[i]
        keys = [word] + [word[:n] + "*" for n in _PREFIX_LENGTHS if n <= len(word)]
        best: tuple[int, str] | None = None
        for key in keys:
            for elements, name in _ENGLISH.get(key, ()):
                if best is not None and len(elements) <= best[0]:
                    break
                if _matches(words[i : i + len(elements)], elements):
                    best = (len(elements), name)
                    break
        if best is None:
            i += 1
        else:
            yield from _with_broader(best[1])
            i += best[0]


def _chinese_concepts(run: str) -> Iterator[str]:
    """Concepts of a run of CJK characters: the longest form at each position, no overlaps."""
    i = 0
    while i < len(run):
        for n in range(min(_LONGEST, len(run) - i), 0, -1):
            name = _CHINESE.get(run[i : i + n])
            if name is not None:
                yield from _with_broader(name)
                i += n
                break
        else:
            i += 1


def fold_traditional(text: str) -> str:
    """The text with Traditional Chinese written in Simplified characters (OpenCC).

    In context, with OpenCC's phrase tables: 乾燥 -> 干燥 but 乾隆 stays; 頭髮 -> 头发.
    Simplified Chinese, English and everything else pass unchanged. The words stay the
    writer's (Taiwan's 簡訊 becomes 简讯, not 短信): the concept table lists those.

    Args:
        text: Any text; lone surrogates (which OpenCC cannot take) are dropped.

    Returns:
        The folded text (the same object when it is ASCII).
    """
    if text.isascii():
        return text
    return to_simplified(_SURROGATES.sub("", text), FOLD_CONFIG)


def concept_tokens(text: str) -> Iterator[str]:
    """``c:<concept>`` once for every surface form found in a lowercased, normalised text.

    Matches do not overlap; at one position the longest form wins.

    Args:
        text: NFKC-normalised, lowercased text, Traditional Chinese folded to Simplified
            (``retrieval.tokenize`` prepares it).

    Yields:
        Concept tokens, repeated as often as the concept's forms occur.
    """
    for run in _CJK_RUN.findall(text):
        yield from _chinese_concepts(run)
    yield from _english_concepts(_WORD.findall(_CJK_RUN.sub(" ", text.replace("\u2019", "'"))))


def user_words() -> list[str]:
    """Chinese forms of the table, for jieba's user dictionary (kept as whole words)."""
    return sorted(
        {f for forms in CONCEPTS.values() for f in forms if re.fullmatch(r"[\u3400-\u9fff]{2,}", f)}
    )
