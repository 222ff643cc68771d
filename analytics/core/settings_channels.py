"""The settings of founder alerts and account linking (part of the one settings object).

:class:`ChannelSettings` holds the fields; :class:`analytics.core.settings.Settings` inherits
them, so they are read, typed and documented like every other setting (``.env.example``
lists them). The customer channels' own variables (``TELEGRAM_ACCESS_TOKEN``, ``WECOM_SECRET``
...) are read by Rasa only: ``analytics.core.env_example`` lists them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from analytics.core.setting_types import AlertKinds, Port

#: How every settings class reads its fields (``Settings`` adds its sources to these): the
#: variable is the field's name in upper case, unknown variables are ignored, values are
#: read-only, and each field's docstring is its description.
FIELD_RULES = SettingsConfigDict(
    case_sensitive=True,
    alias_generator=str.upper,
    validate_by_name=True,
    validate_by_alias=True,
    extra="ignore",
    frozen=True,
    validate_default=True,
    hide_input_in_errors=True,
    use_attribute_docstrings=True,
)
#: Seconds in a day: the longest life of an account-link code.
DAY_SECONDS = 24 * 3600


class ChannelSettings(BaseSettings):
    """Founder alerts, their channels, and account-link codes."""

    model_config = FIELD_RULES

    # Founder alerts (docs/alerts.md)
    alert_channels: AlertKinds = ()
    """Where founder alerts go, comma-separated: telegram, slack, wecom, feishu, dingtalk,
    email, webhook (empty: no alerts). Each needs its variables below."""
    alert_vip_top_percent: Annotated[int, Field(ge=1, le=100)] = 20
    """High-value customers: the top this-many percent by lifetime value (and the champions
    and loyal segments) get alerts."""
    alert_conversation_quiet_minutes: Annotated[int, Field(ge=1)] = 60
    """At most one alert per conversation in this many minutes."""
    alert_max_per_hour: Annotated[int, Field(ge=1)] = 30
    """At most this many alerts per hour in all."""
    console_public_url: str = "http://localhost:8000"
    """How the founder's phone reaches the console (the link in an alert)."""
    link_code_ttl_s: Annotated[int, Field(ge=60, le=DAY_SECONDS)] = 900
    """How long an account-link code (docs/channels/linking.md) is valid, in seconds."""
    telegram_bot_username: str = ""
    """The customers' Telegram bot's user name, without @ (read by Rasa too; here for the
    t.me link that carries a link code)."""

    # Telegram: the founder's alert bot (not the customers' bot)
    telegram_alert_bot_token: SecretStr | None = None
    """The alert bot's token from @BotFather."""
    telegram_alert_chat_id: str = ""
    """The founder's chat with the alert bot (alerts go there; replies only from there)."""
    telegram_alert_webhook_secret: SecretStr | None = None
    """The secret_token given to setWebhook for /founder/hooks/telegram."""
    telegram_api_url: str = "https://api.telegram.org"
    """Telegram's Bot API (also read by Rasa's Telegram channel)."""

    # Slack
    slack_alert_webhook_url: SecretStr | None = None
    """An incoming-webhook URL of the founder's Slack workspace."""

    # WeCom: the founder's alert app (not the customers' app)
    wecom_corp_id: str = ""
    """The WeCom corp ID (also read by Rasa's WeCom channel)."""
    wecom_alert_agent_id: str = ""
    """The alert app's AgentId."""
    wecom_alert_secret: SecretStr | None = None
    """The alert app's Secret."""
    wecom_alert_token: SecretStr | None = None
    """The alert app's callback Token (replies: /founder/hooks/wecom)."""
    wecom_alert_aes_key: SecretStr | None = None
    """The alert app's callback EncodingAESKey."""
    wecom_alert_user_id: str = ""
    """The founder's WeCom UserID (alerts go there; replies only from there)."""
    wecom_api_url: str = "https://qyapi.weixin.qq.com"
    """WeCom's API (also read by Rasa's WeCom channel)."""

    # Feishu / Lark and DingTalk group robots
    feishu_alert_webhook_url: SecretStr | None = None
    """A Feishu custom bot's webhook URL."""
    feishu_alert_secret: SecretStr | None = None
    """Its signing secret (signature verification on)."""
    dingtalk_alert_webhook_url: SecretStr | None = None
    """A DingTalk custom robot's webhook URL (with its access_token)."""
    dingtalk_alert_secret: SecretStr | None = None
    """Its signing secret (SEC...)."""

    # E-mail and a generic webhook
    alert_email_to: str = ""
    """Where e-mail alerts go."""
    smtp_host: str = ""
    """The SMTP server."""
    smtp_port: Port = 587
    """Its port."""
    smtp_user: str = ""
    """Its user (empty: no login)."""
    smtp_password: SecretStr | None = None
    """Its password."""
    smtp_from: str = ""
    """The sender address."""
    smtp_starttls: bool = True
    """Use STARTTLS."""
    alert_webhook_url: SecretStr | None = None
    """Alerts are POSTed there as JSON."""
    alert_webhook_secret: SecretStr | None = None
    """Signs each POST: X-Leafbean-Signature: sha256=<hex HMAC of timestamp.body>."""
