"""What the founder reads back in the alert app (bilingual, ``<zh> / <en>``).

Every answer about one alert starts with one of :data:`ACK_LEADS` followed by ``（#A17）``:
a Telegram reply to such an answer goes to that alert (:data:`QUOTED_ACK_RE`). No other
text of the bot carries a usable ref: the help's example is ``#A<编号>`` / ``#A<number>``.
"""

from __future__ import annotations

import re

SENT = (
    "已发送给客户（#{ref}）。机器人已暂停，回复“#{ref} /bot”交还机器人。"
    " / Sent to the customer (#{ref}). The bot is paused; reply “#{ref} /bot” to hand back."
)
HANDED_BACK = "已交还给机器人（#{ref}）。 / Handed back to the bot (#{ref})."
NOT_SENT = (
    "未能发送给客户（#{ref}）：机器人服务器暂时无法连接，请稍后重试或在控制台回复：{link}"
    " / Not sent to the customer (#{ref}): the bot server could not be reached; try again"
    " or answer in the console: {link}"
)
HELP = (
    "回复某条提醒（或以提醒编号开头，如 #A<编号>）即可把文字发给该客户；"
    "“#A<编号> /bot”把对话交还机器人。"
    " / Reply to an alert (or start with its ref, like #A<number>) to send your text to that"
    " customer; “#A<number> /bot” hands the conversation back to the bot."
)
DELIVERY_REFUSED = (
    "已记入对话（#{ref}），但客户的应用拒收了这条消息（例如微信的 48 小时回复期限已过），客户没有收到。"
    "机器人已暂停；请在控制台查看：{link}"
    " / Recorded in the conversation (#{ref}), but the customer's app refused it (for"
    " example WeChat's 48-hour reply window has passed): the customer did not get it. The bot"
    " is paused; see the console: {link}"
)
STILL_SENDING = (
    "正在发送给客户（#{ref}）：已记入对话，客户的应用暂时未接收，系统会继续重试。"
    "机器人已暂停，回复“#{ref} /bot”交还机器人。"
    " / Still sending to the customer (#{ref}): recorded in the conversation; their app has"
    " not accepted it yet and it is being retried. The bot is paused; reply “#{ref} /bot” to"
    " hand back."
)
NOT_SENT_PAUSED = (
    "未能发送给客户（#{ref}）：机器人服务器拒绝了消息，且机器人仍处于暂停状态；"
    "请在控制台回复或交还机器人：{link}"
    " / Not sent to the customer (#{ref}): the bot server refused the message and the bot is"
    " still paused; answer or hand back in the console: {link}"
)
GROUP_REFUSED = (
    "为安全起见，只接受店主与提醒机器人私聊中的回复；群聊中的消息不会转发给客户。"
    " / For safety, replies are taken only from the founder's private chat with the alert"
    " bot; messages in a group are never passed on to customers."
)
UNKNOWN_REF = "找不到提醒 #{ref}。 / There is no alert #{ref}."
CONFLICT = (
    "你回复的是提醒 #{replied}，但消息以 #{named} 开头：未发送。"
    " / You replied to alert #{replied} but wrote #{named}: nothing was sent."
)
AMBIGUOUS = (
    "最近有多条提醒（{refs}），请以编号开头，例如“#{first} 您好”。"
    " / There are several recent alerts ({refs}): start with the ref, like “#{first} Hello”."
)
TEXT_ONLY = "只能转发文字消息。 / Only text messages can be passed on."
TOO_LONG = (
    "消息太长（最多 {limit} 字），未发送。 / The message is too long ({limit} characters at"
    " most); nothing was sent."
)

#: How every answer about one alert begins (then ``（#A17）``).
ACK_LEADS = ("已发送给客户", "已记入对话", "正在发送给客户", "未能发送给客户", "已交还给机器人")
#: An acknowledgement quoted in a Telegram reply: the alert it is about.
QUOTED_ACK_RE = re.compile("^(?:" + "|".join(map(re.escape, ACK_LEADS)) + r")（#(A\d{1,12})）")
