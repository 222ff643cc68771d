"""Fakes of the places founder alerts go that are not founder apps (see founder_apps.py).

Each speaks the platform's documented protocol and checks what the platform checks:

* :class:`FakeSlackWebhook`: a Slack incoming webhook (``POST /services/T../B../<token>``,
  ``{"text"}``; answers ``ok`` or Slack's error strings).
* :class:`FakeFeishuBot`: a Feishu custom bot (``POST /open-apis/bot/v2/hook/<token>``),
  verifying ``timestamp`` + ``sign`` (base64 HMAC-SHA256 keyed with timestamp + newline +
  secret over nothing; at most an hour old) like Feishu, answering ``{"code", "msg"}``.
* :class:`FakeDingTalkRobot`: a DingTalk custom robot (``POST /robot/send?access_token=``),
  verifying the ``timestamp`` (ms) and URL-encoded ``sign`` query parameters (base64
  HMAC-SHA256 keyed with the secret over timestamp + newline + secret; at most an hour old),
  answering ``{"errcode", "errmsg"}``.
* :class:`FakeAlertReceiver`: the founder's own endpoint for the generic webhook, verifying
  ``X-Leafbean-Signature`` (``sha256=`` hex HMAC of ``"<timestamp>." + body``) and a fresh
  ``X-Leafbean-Timestamp``.
* :class:`SmtpSink`: an aiosmtpd server with STARTTLS (a self-signed certificate made on the
  fly) and AUTH LOGIN/PLAIN, recording the messages it accepts.

No module here has ``make_fake``: the channel stack does not start them; a test does and
passes :meth:`env` to the alert dispatcher's settings.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import hashlib
import hmac
import ipaddress
import secrets
import socket
import ssl
import time
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

from tests.channels.fakes.base import Call, FakePlatform, Reply

#: How old a signed timestamp may be (Feishu and DingTalk: one hour; our webhook: 5 min).
PLATFORM_WINDOW_S = 3600
WEBHOOK_WINDOW_S = 300


def _hmac_b64(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


class FakeSlackWebhook(FakePlatform):
    """A Slack incoming webhook."""

    name = "slack_alerts"

    def __init__(self) -> None:
        """A webhook with a random path token."""
        super().__init__()
        self.path = f"/services/T0FAKE/B0FAKE/{secrets.token_urlsafe(18)}"
        self.add_route("POST", r"/services/.*", self._post)

    def env(self) -> dict[str, str]:
        """``SLACK_ALERT_WEBHOOK_URL``."""
        return {"SLACK_ALERT_WEBHOOK_URL": f"{self.url}{self.path}"}

    def _post(self, call: Call) -> Reply:
        if call.path != self.path:
            return Reply(403, body=b"invalid_token", headers={"Content-Type": "text/plain"})
        body = call.json
        if not isinstance(body, dict):
            return Reply(400, body=b"invalid_payload", headers={"Content-Type": "text/plain"})
        if not isinstance(body.get("text"), str) or not body["text"].strip():
            return Reply(400, body=b"no_text", headers={"Content-Type": "text/plain"})
        return Reply(200, body=b"ok", headers={"Content-Type": "text/plain"})

    def texts(self) -> list[str]:
        """The texts accepted, oldest first."""
        return [c.json["text"] for c in self.calls_to(r"^/services/") if _accepted(c, self.path)]


def _accepted(call: Call, path: str) -> bool:
    return call.path == path and isinstance(call.json, dict) and bool(call.json.get("text"))


class FakeFeishuBot(FakePlatform):
    """A Feishu custom bot with signature verification on."""

    name = "feishu_alerts"

    def __init__(self) -> None:
        """A bot with a random hook token and signing secret."""
        super().__init__()
        self.hook = secrets.token_hex(16)
        self.secret = secrets.token_urlsafe(24)
        self.accepted: list[dict[str, Any]] = []
        self.add_route("POST", r"/open-apis/bot/v2/hook/[^/]+", self._post)

    def env(self) -> dict[str, str]:
        """``FEISHU_ALERT_WEBHOOK_URL`` and ``FEISHU_ALERT_SECRET``."""
        return {
            "FEISHU_ALERT_WEBHOOK_URL": f"{self.url}/open-apis/bot/v2/hook/{self.hook}",
            "FEISHU_ALERT_SECRET": self.secret,
        }

    def _post(self, call: Call) -> Reply:
        if call.path.rsplit("/", 1)[-1] != self.hook:
            return Reply(
                json={"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}
            )
        body = call.json if isinstance(call.json, dict) else None
        if body is None:
            return Reply(400, json={"code": 9499, "msg": "Bad Request"})
        timestamp = str(body.get("timestamp", ""))
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= PLATFORM_WINDOW_S
        expected = _hmac_b64(f"{timestamp}\n{self.secret}".encode(), b"")
        if not fresh or not hmac.compare_digest(str(body.get("sign", "")), expected):
            return Reply(
                json={
                    "code": 19021,
                    "msg": "sign match fail or timestamp is not within one hour from current time",
                }
            )
        if body.get("msg_type") not in ("text", "post", "interactive") or not body.get("content"):
            return Reply(json={"code": 9499, "msg": "Bad Request"})
        self.accepted.append(body)
        return Reply(json={"code": 0, "data": {}, "msg": "success"})

    def rate_limit_next(self, n: int = 1) -> None:
        """The next ``n`` posts answer Feishu's "frequency limited" (HTTP 200, code 11232)."""
        self.fail_next(
            n,
            200,
            json={"code": 11232, "msg": "frequency limited psm[lark.oapi.app_platform_runtime]"},
        )


class FakeDingTalkRobot(FakePlatform):
    """A DingTalk custom robot with the "sign" security setting."""

    name = "dingtalk_alerts"

    def __init__(self) -> None:
        """A robot with a random access token and ``SEC`` secret."""
        super().__init__()
        self.access_token = secrets.token_hex(32)
        self.secret = "SEC" + secrets.token_hex(32)
        self.accepted: list[dict[str, Any]] = []
        self.add_route("POST", r"/robot/send", self._post)

    def env(self) -> dict[str, str]:
        """``DINGTALK_ALERT_WEBHOOK_URL`` (with the access token) and ``DINGTALK_ALERT_SECRET``."""
        return {
            "DINGTALK_ALERT_WEBHOOK_URL": f"{self.url}/robot/send?access_token={self.access_token}",
            "DINGTALK_ALERT_SECRET": self.secret,
        }

    def _post(self, call: Call) -> Reply:
        if call.query.get("access_token") != [self.access_token]:
            return Reply(json={"errcode": 300001, "errmsg": "token is not exist"})
        timestamp = (call.query.get("timestamp") or [""])[0]
        sign = (call.query.get("sign") or [""])[0]  # parse_qs has URL-decoded it
        fresh = (
            timestamp.isdigit()
            and abs(time.time() * 1000 - int(timestamp)) <= PLATFORM_WINDOW_S * 1000
        )
        expected = _hmac_b64(self.secret.encode(), f"{timestamp}\n{self.secret}".encode())
        if not fresh or not hmac.compare_digest(sign, expected):
            return Reply(
                json={
                    "errcode": 310000,
                    "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
                }
            )
        body = call.json if isinstance(call.json, dict) else None
        if body is None or body.get("msgtype") != "text":
            return Reply(json={"errcode": 40035, "errmsg": "缺少参数 json"})
        content = (body.get("text") or {}).get("content")
        if not isinstance(content, str) or not content:
            return Reply(json={"errcode": 40035, "errmsg": "缺少参数 content"})
        self.accepted.append(body)
        return Reply(json={"errcode": 0, "errmsg": "ok"})

    def rate_limit_next(self, n: int = 1) -> None:
        """The next ``n`` posts answer "send too fast" (errcode 130101)."""
        self.fail_next(
            n, 200, json={"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
        )


class FakeAlertReceiver(FakePlatform):
    """The founder's own endpoint for ``ALERT_WEBHOOK_URL``, verifying our signature."""

    name = "alert_webhook"

    def __init__(self) -> None:
        """A receiver with a random secret."""
        super().__init__()
        self.secret = secrets.token_urlsafe(32)
        self.accepted: list[dict[str, Any]] = []
        self.add_route("POST", r"/hooks/leafbean", self._post)

    def env(self) -> dict[str, str]:
        """``ALERT_WEBHOOK_URL`` and ``ALERT_WEBHOOK_SECRET``."""
        return {
            "ALERT_WEBHOOK_URL": f"{self.url}/hooks/leafbean",
            "ALERT_WEBHOOK_SECRET": self.secret,
        }

    def _post(self, call: Call) -> Reply:
        timestamp = call.headers.get("x-leafbean-timestamp", "")
        signature = call.headers.get("x-leafbean-signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > WEBHOOK_WINDOW_S:
            return Reply(401, json={"error": "stale or missing timestamp"})
        digest = hmac.new(
            self.secret.encode(), f"{timestamp}.".encode() + call.body, hashlib.sha256
        )
        if not hmac.compare_digest(signature, f"sha256={digest.hexdigest()}"):
            return Reply(401, json={"error": "bad signature"})
        if not isinstance(call.json, dict):
            return Reply(400, json={"error": "not JSON"})
        self.accepted.append(call.json)
        return Reply(200, json={"ok": True})


# --- e-mail -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def self_signed_cert(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for ``host`` (an IP address): (cert file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.crt", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@dataclass
class SmtpSink:
    """A local SMTP server (aiosmtpd) requiring STARTTLS and a login, recording messages.

    Attributes:
        folder: Where the certificate is written.
        user: The accepted login.
        password: Its password.
        messages: The accepted messages, parsed.
        envelopes: (from, recipients) of each.
    """

    folder: Path
    user: str = "alerts@example.test"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    messages: list[Message] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    fail_next: list[str] = field(default_factory=list)
    """SMTP replies (``"451 4.3.0 try later"``) given to the next DATA commands."""

    def __post_init__(self) -> None:
        """Make the certificate; the server starts with :meth:`start`."""
        self.cert, self.key = self_signed_cert(self.folder)
        self._controller: Any = None

    def client_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts this server's certificate (and checks it)."""
        return ssl.create_default_context(cafile=str(self.cert))

    def start(self) -> SmtpSink:
        """Serve on a free loopback port."""
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        sink = self

        class _Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                if sink.fail_next:
                    return sink.fail_next.pop(0)
                sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                sink.messages.append(email.message_from_bytes(envelope.original_content))
                return "250 OK"

        def _auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
            ok = (
                isinstance(data, LoginPassword)
                and data.login.decode() == sink.user
                and data.password.decode() == sink.password
            )
            return AuthResult(success=ok, handled=False)

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self.cert), str(self.key))
        self._controller = Controller(
            _Handler(),
            hostname="127.0.0.1",
            port=_free_port(),
            tls_context=context,
            require_starttls=True,
            authenticator=_auth,
            auth_require_tls=True,
        )
        self._controller.start()
        return self

    @property
    def port(self) -> int:
        """The server's port."""
        return int(self._controller.port)

    def env(self) -> dict[str, str]:
        """The ``SMTP_*`` and ``ALERT_EMAIL_TO`` variables pointing at this server."""
        return {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.port),
            "SMTP_USER": self.user,
            "SMTP_PASSWORD": self.password,
            "SMTP_FROM": "Leaf & Bean alerts <alerts@example.test>",
            "SMTP_STARTTLS": "true",
            "ALERT_EMAIL_TO": "founder@example.test",
        }

    def stop(self) -> None:
        """Stop the server."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
