"""What the founder's reply hooks need to know, from the one settings object.

Nothing is read from the environment here (:mod:`analytics.core.settings` does that). A hook
whose variables are not all set is off: its route answers 404 and nothing else happens.
"""

from __future__ import annotations

from dataclasses import dataclass

from analytics.core.settings import Settings, SettingsView, reveal


@dataclass(frozen=True)
class HookSettings:
    """The founder alert apps' variables (``docs/alerts-replies.md``).

    Attributes:
        telegram_token: ``TELEGRAM_ALERT_BOT_TOKEN`` (acknowledgements are sent with it).
        telegram_chat_id: ``TELEGRAM_ALERT_CHAT_ID``: replies are taken only from this chat.
        telegram_secret: ``TELEGRAM_ALERT_WEBHOOK_SECRET`` (the webhook's ``secret_token``).
        telegram_api_url: ``TELEGRAM_API_URL``.
        wecom_corp_id: ``WECOM_CORP_ID``.
        wecom_agent_id: ``WECOM_ALERT_AGENT_ID``.
        wecom_secret: ``WECOM_ALERT_SECRET`` (acknowledgements need an access token).
        wecom_token: ``WECOM_ALERT_TOKEN`` (the callback's signature token).
        wecom_aes_key: ``WECOM_ALERT_AES_KEY`` (the callback's EncodingAESKey).
        wecom_user_id: ``WECOM_ALERT_USER_ID``: replies are taken only from this user.
        wecom_api_url: ``WECOM_API_URL``.
        quiet_minutes: ``ALERT_CONVERSATION_QUIET_MINUTES``: how recent an alert must be for
            a WeCom reply without a ref to go to it.
        console_url: ``CONSOLE_PUBLIC_URL``.
        rasa_url: ``RASA_URL``.
        rasa_jwt_secret: ``RASA_JWT_SECRET``.
        console_user: ``CONSOLE_USER`` (the take-over's author).
    """

    telegram_token: str | None
    telegram_chat_id: str
    telegram_secret: str | None
    telegram_api_url: str
    wecom_corp_id: str
    wecom_agent_id: str
    wecom_secret: str | None
    wecom_token: str | None
    wecom_aes_key: str | None
    wecom_user_id: str
    wecom_api_url: str
    quiet_minutes: int
    console_url: str
    rasa_url: str
    rasa_jwt_secret: str | None
    console_user: str

    @property
    def telegram_on(self) -> bool:
        """Whether ``/founder/hooks/telegram`` takes replies (token, chat and secret set)."""
        return bool(self.telegram_token and self.telegram_chat_id and self.telegram_secret)

    @property
    def wecom_on(self) -> bool:
        """Whether ``/founder/hooks/wecom`` takes replies (corp, token, key and user set)."""
        return bool(
            self.wecom_corp_id and self.wecom_token and self.wecom_aes_key and self.wecom_user_id
        )


def hooks_view(settings: Settings) -> HookSettings:
    """The hooks' part of the settings."""
    return HookSettings(
        telegram_token=reveal(settings.telegram_alert_bot_token),
        telegram_chat_id=settings.telegram_alert_chat_id.strip(),
        telegram_secret=reveal(settings.telegram_alert_webhook_secret),
        telegram_api_url=settings.telegram_api_url.rstrip("/"),
        wecom_corp_id=settings.wecom_corp_id.strip(),
        wecom_agent_id=settings.wecom_alert_agent_id.strip(),
        wecom_secret=reveal(settings.wecom_alert_secret),
        wecom_token=reveal(settings.wecom_alert_token),
        wecom_aes_key=reveal(settings.wecom_alert_aes_key),
        wecom_user_id=settings.wecom_alert_user_id.strip(),
        wecom_api_url=settings.wecom_api_url.rstrip("/"),
        quiet_minutes=settings.alert_conversation_quiet_minutes,
        console_url=settings.console_public_url.rstrip("/"),
        rasa_url=settings.rasa_url,
        rasa_jwt_secret=reveal(settings.rasa_jwt_secret),
        console_user=settings.console_user,
    )


#: ``get_hook_settings()``; ``get_hook_settings.cache_clear()`` rebuilds (tests).
get_hook_settings = SettingsView(hooks_view)
