"""The console's interface texts in Chinese and English.

Customer data is never translated; only the interface. ``t(lang, key)`` falls back to
English, then to the key itself.
"""

from __future__ import annotations

from analytics.core.vocabulary import LANG_ZH, LANGUAGES
from web.console.i18n_knowledge import KNOWLEDGE_TEXTS
from web.console.i18n_requests import REQUESTS_TEXTS

LANGS = LANGUAGES
DEFAULT_LANG = LANG_ZH

TEXTS: dict[str, tuple[str, str]] = {
    # key: (zh, en)
    "app_title": ("叶与豆 · 店主控制台", "Leaf & Bean · Founder console"),
    "login": ("登录", "Sign in"),
    "logout": ("退出", "Sign out"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "wrong_login": ("用户名或密码错误", "Wrong username or password"),
    "too_many_attempts": (
        "尝试次数过多，请 {seconds} 秒后再试。",
        "Too many attempts; try again in {seconds} s.",
    ),
    "change_password": ("修改密码", "Change password"),
    "current_password": ("当前密码", "Current password"),
    "new_password": ("新密码", "New password"),
    "confirm_password": ("再输入一次新密码", "New password again"),
    "password_rules": (
        "至少 {n} 个字符。修改后，其他设备上的登录都会失效。",
        "At least {n} characters. Every other signed-in browser is signed out.",
    ),
    "password_changed": (
        "密码已修改，其他设备上的登录已失效。",
        "Password changed; every other session has ended.",
    ),
    "wrong_current_password": ("当前密码不对", "The current password is wrong"),
    "password_too_short": (
        "新密码至少 {n} 个字符",
        "The new password needs at least {n} characters",
    ),
    "password_mismatch": ("两次输入的新密码不一致", "The two new passwords differ"),
    "dead_letters": ("入库失败", "Dead letters"),
    "dead_letters_intro": (
        "下面这些 Rasa 事件没能写入分析库（已脱敏、截断）。其他事件照常处理。",
        "These Rasa events could not be stored (redacted, truncated); all others went on.",
    ),
    "dead_letters_notice": (
        "有 {count} 个事件没能写入分析库。",
        "{count} events could not be stored.",
    ),
    "dead_letters_shown": ("显示最新的 {shown} 个（共 {total} 个）", "Newest {shown} of {total}"),
    "no_dead_letters": ("没有入库失败的事件。", "No event failed to be stored."),
    "source": ("来源", "Source"),
    "position": ("位置", "Position"),
    "error": ("错误", "Error"),
    "payload": ("内容", "Payload"),
    "when": ("时间", "When"),
    "inbox": ("收件箱", "Inbox"),
    "building_facts": (
        "正在后台整理对话摘要（{percent}%），列表暂时可能不完整。",
        "Summarising conversations in the background ({percent} %); the list may be incomplete.",
    ),
    "customers": ("客户", "Customers"),
    "insights": ("图表", "Charts"),
    "teach": ("训练机器人", "Teach the bot"),
    "search": ("搜索", "Search"),
    "search_placeholder": ("搜索对话内容…", "Search transcripts…"),
    "filter": ("筛选", "Filter"),
    "reset": ("清除", "Reset"),
    "export_csv": ("导出 CSV", "Export CSV"),
    "date_from": ("开始日期", "From"),
    "date_to": ("结束日期", "To"),
    "channel": ("渠道", "Channel"),
    "language": ("语言", "Language"),
    "intent": ("意图", "Intent"),
    "segment": ("分群", "Segment"),
    "churn_risk": ("流失风险", "Churn risk"),
    "had_fallback": ("有兜底回复", "Had fallback"),
    "had_handoff": ("请求转人工", "Asked for a person"),
    "rating": ("评分", "Rating"),
    "reviewed": ("已审阅", "Reviewed"),
    "not_reviewed": ("未审阅", "Not reviewed"),
    "tag": ("标签", "Tag"),
    "tags": ("标签", "Tags"),
    "any": ("全部", "Any"),
    "yes": ("是", "Yes"),
    "no": ("否", "No"),
    "low": ("低", "Low"),
    "medium": ("中", "Medium"),
    "high": ("高", "High"),
    "revenue_at_risk": ("风险收入", "Revenue at risk"),
    "customer": ("客户", "Customer"),
    "anonymous": ("匿名访客", "Anonymous visitor"),
    "last_message": ("最近消息", "Last message"),
    "status": ("状态", "Status"),
    "open": ("进行中", "Open"),
    "resolved": ("已解决", "Resolved"),
    "messages": ("消息", "Messages"),
    "no_results": ("没有符合条件的对话", "No conversations match"),
    "page": ("第 {page} 页，共 {pages} 页（{total} 条）", "Page {page} of {pages} ({total})"),
    "prev": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "handoff_requests": ("等待你处理的转人工请求", "Waiting for you: hand-off requests"),
    "new_handoff": ("新的转人工请求", "New hand-off request"),
    "sort": ("排序", "Sort"),
    "sort_risk": ("风险收入", "Revenue at risk"),
    "sort_recent": ("最近", "Most recent"),
    "transcript": ("对话记录", "Transcript"),
    "role_user": ("客户", "Customer"),
    "role_bot": ("机器人", "Bot"),
    "role_founder": ("店主", "Founder"),
    "confidence": ("置信度", "Confidence"),
    "entities": ("实体", "Entities"),
    "action": ("动作", "Action"),
    "sentiment": ("情绪", "Sentiment"),
    "confirm_intent": ("确认", "Confirm"),
    "correct_intent": ("改正为", "Correct to"),
    "save": ("保存", "Save"),
    "add": ("添加", "Add"),
    "remove": ("删除", "Remove"),
    "notes": ("备注", "Notes"),
    "add_note": ("添加备注", "Add note"),
    "mark_reviewed": ("标记为已审阅", "Mark reviewed"),
    "mark_unreviewed": ("标记为未审阅", "Mark not reviewed"),
    "mark_resolved": ("标记为已解决", "Mark resolved"),
    "save_test": ("保存为测试对话", "Save as test conversation"),
    "take_over": ("接管对话", "Take over"),
    "hand_back": ("交还机器人", "Hand back to the bot"),
    "send": ("发送", "Send"),
    "founder_message_placeholder": ("以店主身份回复…", "Reply as the founder…"),
    "taken_over": ("你正在接管这个对话，机器人已暂停。", "You have taken over; the bot is paused."),
    "lifetime_value": ("生命周期价值", "Lifetime value"),
    "health": ("健康度", "Health"),
    "lifecycle_stage": ("生命周期阶段", "Lifecycle stage"),
    "recommendations": ("推荐", "Recommendations"),
    "reasons": ("原因", "Reasons"),
    "orders": ("订单", "Orders"),
    "subscription": ("订阅", "Subscription"),
    "past_conversations": ("历史对话", "Past conversations"),
    "no_scores": (
        "客户评分尚未计算（运行评分后显示分群、流失风险与推荐）；以下为按订单估算。",
        "Customer scores are not computed yet; the values below are estimates from orders.",
    ),
    "estimate": ("估算", "estimate"),
    "email": ("邮箱", "Email"),
    "city": ("城市", "City"),
    "since": ("注册于", "Customer since"),
    "points": ("积分", "Points"),
    "spend": ("累计消费", "Total spend"),
    "segment_sizes": ("各分群人数", "Segment sizes"),
    "risk_over_time": (
        "流失风险分布（按月，按最近一次下单）",
        "Risk distribution over time (monthly, by recency)",
    ),
    "top_reasons": ("主要流失原因", "Top reasons for risk"),
    "intents_per_week": ("每周意图", "Intents per week"),
    "fallback_rate": ("每周兜底率", "Fallback rate per week"),
    "satisfaction": ("满意度趋势（每周平均评分）", "Satisfaction trend (average rating per week)"),
    "orders_chart": ("每月消费", "Spend per month"),
    "sentiment_chart": ("对话情绪", "Conversation sentiment"),
    "corrections": ("意图修正", "Intent corrections"),
    "corrections_diff": ("待提交的训练数据改动", "Training data changes not committed yet"),
    "no_changes": ("没有改动", "No changes"),
    "retrain": ("重新训练", "Retrain"),
    "retrain_help": (
        "在后台训练新模型；只有在保留测试集上不差于当前数据时才替换正在运行的模型。",
        "Trains in the background; the running model is replaced only if the new one is at least as good on the held-out NLU split.",
    ),
    "job_status": ("训练任务", "Training job"),
    "written_to": ("已写入", "Written to"),
    "correction_conflict": (
        "这句话已在训练数据中标为其他意图：",
        "This text is already in the training data with another intent: ",
    ),
    "already_present": (
        "训练数据中已有这句话，未重复添加。",
        "Already in the training data; nothing added.",
    ),
    "saved_test": ("已保存测试对话：", "Saved test conversation: "),
    "switch_lang": ("English", "中文"),
    "risk_high": ("高风险", "High risk"),
    "live_risk": ("实时风险", "Live risk"),
    "live_risk_alert": ("需要关注", "Needs attention"),
    "live_risk_updated": ("更新于 {when}", "updated {when}"),
    "live_risk_reasons": ("实时风险原因", "Why the live risk changed"),
    "all_customers": ("全部客户", "All customers"),
    "name": ("姓名", "Name"),
    "conversations": ("对话", "Conversations"),
    "created": ("创建", "Created"),
    "none": ("无", "None"),
    "rasa_unreachable": ("无法连接 Rasa 服务器：", "Cannot reach the Rasa server: "),
    "via": ("通过", "via"),
}
TEXTS.update(KNOWLEDGE_TEXTS)  # the knowledge page (web/console/routes/knowledge.py)
TEXTS.update(REQUESTS_TEXTS)  # the requests queue (web/console/routes/requests.py)


def normalize_lang(value: str | None) -> str:
    """Returns ``zh`` or ``en`` (the default for anything else)."""
    return value if value in LANGS else DEFAULT_LANG


def t(lang: str, key: str, **values: object) -> str:
    """Translates ``key`` into ``lang`` and fills ``{placeholders}``.

    Args:
        lang: ``zh`` or ``en``.
        key: A key of :data:`TEXTS`.
        **values: Values for the placeholders.

    Returns:
        The text; the key itself when it is unknown.
    """
    pair = TEXTS.get(key)
    if pair is None:
        return key
    text = pair[0] if lang == LANG_ZH else pair[1]
    return text.format(**values) if values else text
