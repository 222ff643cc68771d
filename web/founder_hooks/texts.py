"""What the founder reads back in the alert app (bilingual, ``<zh> / <en>``)."""

from __future__ import annotations

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
    "回复某条提醒（或以 #A17 这样的编号开头）即可把文字发给该客户；“#A17 /bot”把对话交还机器人。"
    " / Reply to an alert (or start with its ref, like #A17) to send your text to that"
    " customer; “#A17 /bot” hands the conversation back to the bot."
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
