"""Alerts by e-mail (``smtplib``, STARTTLS by default), plain text in UTF-8.

``SMTP_HOST``/``SMTP_PORT`` (587), ``SMTP_STARTTLS`` (on: the server's certificate is
verified), ``SMTP_USER``/``SMTP_PASSWORD`` (no login when the user is empty), ``SMTP_FROM``
and ``ALERT_EMAIL_TO``. The subject is the alert's title; the ``Message-ID`` is returned.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from typing import ClassVar

from analytics.core.settings import Settings
from analytics.loop.alerts.notifiers.base import (
    HTTP_TIMEOUT_S,
    AlertText,
    NotifierConfigError,
    NotifierError,
    short,
)

ENV = ("SMTP_HOST", "SMTP_FROM", "ALERT_EMAIL_TO")
MSGID_DOMAIN = "alerts.leafbean"


class EmailNotifier:
    """Sends each alert as one e-mail (one SMTP session per alert)."""

    kind: ClassVar[str] = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        to: str,
        *,
        user: str = "",
        password: str = "",
        starttls: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ):
        """Create a notifier.

        Args:
            host: The SMTP server.
            port: Its port.
            sender: The From address.
            to: The founder's address(es), comma-separated.
            user: The SMTP user (empty: no login).
            password: Its password.
            starttls: Upgrade the connection with STARTTLS (required then).
            ssl_context: The TLS context (default: the system's, verifying the server).
        """
        self._host, self._port = host, port
        self._sender, self._to = sender, to
        self._user, self._password = user, password
        self._starttls = starttls
        self._context = ssl_context or ssl.create_default_context()

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailNotifier:
        """The notifier of the settings (:class:`NotifierConfigError` if incomplete)."""
        if not (settings.smtp_host and settings.smtp_from and settings.alert_email_to):
            raise NotifierConfigError("set " + ", ".join(ENV))
        password = settings.smtp_password
        return cls(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_from,
            settings.alert_email_to,
            user=settings.smtp_user,
            password=password.get_secret_value() if password else "",
            starttls=settings.smtp_starttls,
        )

    def message(self, alert_text: AlertText) -> EmailMessage:
        """The e-mail of an alert."""
        message = EmailMessage()
        message["Subject"] = alert_text.title
        message["From"] = self._sender
        message["To"] = self._to
        message["Message-ID"] = make_msgid(idstring=alert_text.ref, domain=MSGID_DOMAIN)
        message.set_content(alert_text.text, subtype="plain", charset="utf-8")
        return message

    def send(self, alert_text: AlertText) -> str | None:
        """Send the alert; returns its ``Message-ID``."""
        message = self.message(alert_text)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=HTTP_TIMEOUT_S) as smtp:
                smtp.ehlo()
                if self._starttls:
                    smtp.starttls(context=self._context)
                    smtp.ehlo()
                if self._user:
                    smtp.login(self._user, self._password)
                smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as error:
            raise NotifierError(
                f"email: login refused ({error.smtp_code})", retryable=False
            ) from None
        except smtplib.SMTPRecipientsRefused:
            raise NotifierError("email: the recipient was refused", retryable=False) from None
        except smtplib.SMTPNotSupportedError:
            raise NotifierError(
                "email: the server does not offer STARTTLS", retryable=False
            ) from None
        except smtplib.SMTPResponseException as error:
            raise NotifierError(
                f"email: {error.smtp_code} {short(error.smtp_error)}",
                retryable=400 <= error.smtp_code < 500,
            ) from None
        except ssl.SSLCertVerificationError:
            raise NotifierError(
                "email: the server's certificate is not trusted", retryable=False
            ) from None
        except (OSError, smtplib.SMTPException) as error:
            raise NotifierError(f"email: {type(error).__name__}", retryable=True) from None
        return str(message["Message-ID"])

    def close(self) -> None:
        """Nothing to release (one SMTP session per alert)."""
