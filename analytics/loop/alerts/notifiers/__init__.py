"""One notifier per alert channel, behind one interface (:mod:`.base`).

:func:`build_notifiers` makes the notifiers of ``ALERT_CHANNELS``; a channel whose
variables are missing is skipped with one log line (the process stays up).
:func:`usable_channels` names the channels that would be built (the alert rules create
deliveries for those only).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from analytics.core.settings import Settings
from analytics.loop.alerts.notifiers.base import Notifier, NotifierConfigError
from analytics.loop.alerts.notifiers.dingtalk import DingTalkNotifier
from analytics.loop.alerts.notifiers.email import EmailNotifier
from analytics.loop.alerts.notifiers.feishu import FeishuNotifier
from analytics.loop.alerts.notifiers.slack import SlackNotifier
from analytics.loop.alerts.notifiers.telegram import TelegramNotifier
from analytics.loop.alerts.notifiers.webhook import WebhookNotifier
from analytics.loop.alerts.notifiers.wecom import WeComNotifier

logger = logging.getLogger(__name__)

FACTORIES: dict[str, Callable[[Settings], Notifier]] = {
    "telegram": TelegramNotifier.from_settings,
    "slack": SlackNotifier.from_settings,
    "wecom": WeComNotifier.from_settings,
    "feishu": FeishuNotifier.from_settings,
    "dingtalk": DingTalkNotifier.from_settings,
    "email": EmailNotifier.from_settings,
    "webhook": WebhookNotifier.from_settings,
}
"""Channel kind -> its notifier made from the settings."""


def build_notifiers(settings: Settings, *, log: bool = True) -> dict[str, Notifier]:
    """The notifiers of ``ALERT_CHANNELS`` whose variables are set.

    Args:
        settings: The settings.
        log: Log one line per skipped channel.

    Returns:
        Channel kind -> notifier, in ``ALERT_CHANNELS`` order.
    """
    out: dict[str, Notifier] = {}
    for kind in dict.fromkeys(settings.alert_channels):
        factory = FACTORIES.get(kind)
        if factory is None:
            if log:
                logger.error("Alert channel %r is unknown: skipped", kind)
            continue
        try:
            out[kind] = factory(settings)
        except NotifierConfigError as error:
            if log:
                logger.error("Alert channel %s is in ALERT_CHANNELS but skipped: %s", kind, error)
    return out


def usable_channels(settings: Settings) -> tuple[str, ...]:
    """The kinds of ``ALERT_CHANNELS`` whose variables are set (no log, nothing kept)."""
    notifiers = build_notifiers(settings, log=False)
    for notifier in notifiers.values():
        notifier.close()
    return tuple(notifiers)


__all__ = ["FACTORIES", "Notifier", "build_notifiers", "usable_channels"]
