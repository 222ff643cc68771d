"""Messaging-platform channels (Telegram, Slack, Facebook, WeCom, WeChat, Feishu, DingTalk).

:mod:`bot.channels.messaging.base` is the shared webhook flow every platform subclasses;
:mod:`~bot.channels.messaging.registry` sends into a conversation on its own platform.
"""
