"""The "Requests" queue's interface texts in Chinese and English.

Merged into :data:`web.console.i18n.TEXTS`.
"""

from __future__ import annotations

REQUESTS_TEXTS: dict[str, tuple[str, str]] = {
    # key: (zh, en)
    "requests": ("申请", "Requests"),
    "requests_intro": (
        "顾客在对话里提出的退款申请和机器人改不了的账户修改请求由你审批；机器人按顾客确认做出的更改"
        "（取消、暂停、接受优惠）也列在这里。你的决定会发到顾客的对话里，用顾客的语言。",
        "Refund requests and account changes the bot cannot make wait for your decision; "
        "changes the bot made on a customer's confirmation (cancel, pause, an accepted offer) "
        "are listed too. Your decision is sent to the customer's conversation, in their "
        "language.",
    ),
    "status_open": ("待处理", "Open"),
    "status_approved": ("已批准", "Approved"),
    "status_rejected": ("已拒绝", "Refused"),
    "refund_requests": ("退款申请", "Refund requests"),
    "changes_in_chat": ("对话中的更改", "Changes made in chat"),
    "no_requests": ("没有这个状态的申请。", "No request in this state."),
    "request_id": ("编号", "No."),
    "order": ("订单", "Order"),
    "reason": ("原因（已脱敏）", "Reason (redacted)"),
    "decision": ("决定", "Decision"),
    "decision_note": ("给顾客的留言（可选）", "Note to the customer (optional)"),
    "approve": ("批准", "Approve"),
    "refuse": ("拒绝", "Refuse"),
    "decided_by": ("处理人", "Decided by"),
    "delivered": ("已送达", "Delivered"),
    "not_delivered": ("未送达", "Not delivered"),
    "send_again": ("重新发送", "Send again"),
    "conversation": ("对话", "Conversation"),
    "change_kind": ("更改", "Change"),
    "detail": ("内容", "Detail"),
    "kind_cancel_subscription": ("取消订阅", "Cancelled the subscription"),
    "kind_pause_subscription": ("暂停订阅", "Paused the subscription"),
    "kind_retention_offer": ("接受挽留优惠", "Accepted a retention offer"),
    "kind_account_details": ("修改账户资料（请你来改）", "Change account details (for you to do)"),
    "requests_bad_decision": ("请选择批准或拒绝。", "Choose approve or refuse."),
    "requests_note_too_long": ("留言最多 {n} 个字符。", "The note can be at most {n} characters."),
    "requests_already_decided": (
        "申请 #{id} 已经处理过了。",
        "Request #{id} was already decided.",
    ),
    "requests_not_decided": ("申请 #{id} 还没有处理。", "Request #{id} is not decided yet."),
    "requests_sent": (
        "申请 #{id} 已处理，结果已发给顾客。",
        "Request #{id} decided; the customer was told.",
    ),
    "requests_not_sent": (
        "申请 #{id} 的决定已保存，但没能发给顾客：{error}",
        "The decision on request #{id} is stored but could not be sent to the customer: {error}",
    ),
    "requests_decided_no_conversation": (
        "申请 #{id} 已处理（它不是在对话中提出的，没有发送消息）。",
        "Request #{id} decided (it was not made in a conversation; nothing was sent).",
    ),
}
