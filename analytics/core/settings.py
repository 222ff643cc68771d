"""The one settings object of the main environment (analytics, actions, web, bench).

Every environment variable the main environment reads is a field of :class:`Settings`,
typed, with its default and its description (``.env.example`` is generated from them:
``python -m analytics.core.env_example``). A field ``web_port`` is the variable
``WEB_PORT``: the variable's name is the field's name in upper case.

Where the values come from, strongest first: the real environment, then the ``.env`` file
at the repository root, then the field's default. A blank value counts as unset: it takes
the default, and a blank variable in the environment still hides the ``.env`` value (tests
set a variable to ``""`` so that a checkout's ``.env`` cannot fill it in). A value that
cannot be read stops the process with :class:`InvalidSettingsError`, naming the variable.
Secrets, and store URLs that may hold a password, are :class:`~pydantic.SecretStr`: they
never show in ``repr`` or logs; :func:`reveal` gives the text where it is needed.

:func:`get_settings` returns one instance per process: ``.env`` is read when the instance is
built, never per request. The instance is rebuilt only when the process's own environment
changes (tests' ``monkeypatch.setenv``) or after ``get_settings.cache_clear()``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar, get_args, overload

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from analytics.core.setting_types import (
    PRODUCTION,
    REPO_ROOT,
    IngestSource,
    Networks,
    Origins,
    Port,
    Positive,
    Profile,
    RepoPath,
    StoreLocation,
    Switch,
)
from analytics.core.settings_channels import FIELD_RULES, ChannelSettings
from analytics.core.settings_sources import (
    DEFAULT_DB_FILE,
    DEMO_MARKER_FILE,
    VAR_DIR_NAME,
    InvalidSettingsError,
    MappingEnvSource,
    default_database_url,
    demo_marker,
    ensure_sqlite_parent,
    parse_env_file,
    set_demo_shop,
)

__all__ = [
    "DEFAULT_DB_FILE",
    "DEFAULT_ENV_FILE",
    "DEMO_MARKER_FILE",
    "ENV_DATABASE_URL",
    "ENV_DEMO_MODE",
    "ENV_FILE_NAME",
    "ENV_IDENTITY_SECRET",
    "ENV_NAMES",
    "ENV_PROFILE",
    "PRODUCTION",
    "REPO_ROOT",
    "SECRET_NAMES",
    "VAR_DIR_NAME",
    "InvalidSettingsError",
    "Settings",
    "SettingsView",
    "default_database_url",
    "demo_marker",
    "demo_mode",
    "ensure_sqlite_parent",
    "get_settings",
    "load_settings",
    "parse_env_file",
    "reveal",
    "set_demo_shop",
]

logger = logging.getLogger(__name__)

ENV_FILE_NAME = ".env"
DEFAULT_ENV_FILE = REPO_ROOT / ENV_FILE_NAME
ENV_DATABASE_URL = "SHOP_DATABASE_URL"
ENV_IDENTITY_SECRET = "IDENTITY_SECRET"
ENV_PROFILE = "PROFILE"
ENV_DEMO_MODE = "DEMO_MODE"

T = TypeVar("T")


class Settings(ChannelSettings):
    """Every setting of the main environment; read-only once built (see the module)."""

    model_config = SettingsConfigDict(
        **FIELD_RULES, env_file=DEFAULT_ENV_FILE, env_file_encoding="utf-8"
    )

    # Secrets (make env writes random ones)
    identity_secret: SecretStr | None = None
    """Signs customer identity tokens; shared with the host website (README, "Identity")."""
    demo_identity_secret: SecretStr | None = None
    """Signs identity tokens on the demo shop page only (demo mode); never give it to a
    website."""
    rasa_jwt_secret: SecretStr | None = None
    """Rasa's HTTP API and the widget's founder routes accept HS256 JWTs signed with it; it
    also keys the widget's session tokens."""
    action_server_token: SecretStr | None = None
    """Rasa sends it to the action server with every call (bot/endpoints.yml `token`); when
    set, every request but GET /health must carry it."""
    session_secret: SecretStr | None = None
    """Signs console session cookies."""
    console_password: SecretStr | None = None
    """The console user's password (user: CONSOLE_USER), hashed on first run. Never printed;
    read it here."""

    # Profile and demo mode
    profile: Profile = "local"
    """local or production. production refuses default or weak credentials (RabbitMQ guest,
    short secrets) and demo mode, and always sends Secure cookies."""
    demo_mode: Switch = "auto"
    """auto: on while the store holds the bundled demo shop (make run seeds it), off after an
    import or in production; on / off force it."""

    # Stores
    shop_database_url: SecretStr | None = None
    """The analytics store's SQLAlchemy URL (empty: SQLite var/shop.db). PostgreSQL:
    postgresql+psycopg://user:password@host:5432/leafbean"""
    rasa_events_db: StoreLocation = SecretStr("var/rasa_events.db")
    """Rasa's SQL event broker (a path, relative to the repository, or a SQLAlchemy URL), read
    by the ingest worker and the retention job."""
    rasa_tracker_db: StoreLocation = SecretStr("var/rasa_tracker.db")
    """Rasa's tracker store (a path or a SQLAlchemy URL), pruned by the retention job. In
    production the URL of the PostgreSQL tracker store of bot/endpoints.prod.yml, e.g.
    postgresql+psycopg://rasa:PASSWORD@db-host:5432/rasa"""
    retention_days: Annotated[int, Field(ge=0)] = 30
    """Days raw chat text stays in Rasa's tracker and event stores once ingested (redacted
    copies stay in the analytics store)."""

    # Processes and ports
    action_port: Port = 5055
    """The port the action server listens on."""
    web_port: Port = 8000
    """The port the web app (console, widget, demo shop) listens on."""
    action_server_host: str = "127.0.0.1"
    """The address the action server binds; listen wider (0.0.0.0) only with
    ACTION_SERVER_TOKEN set."""
    action_server_max_body_bytes: Annotated[int, Field(ge=1024)] = 1024 * 1024
    """The largest request body the action server accepts (Rasa sends the session and the
    domain: about 300 short turns fit in 1 MiB)."""
    rasa_url: str = "http://localhost:5005"
    """How the web app reaches Rasa's HTTP API (server side)."""
    rasa_public_url: str | None = None
    """How customers' browsers reach Rasa (the widget); empty: the same as RASA_URL."""
    rasa_endpoints: str = "bot/endpoints.yml"
    """Rasa's endpoints file; with bot/endpoints.prod.yml Rasa uses PostgreSQL, Redis and
    RabbitMQ (then guest/guest is refused)."""
    ingest_source: IngestSource = "sql"
    """Which ingest source make run uses: sql (embedded) or rabbitmq (production)."""
    pending_confirmation_seconds: Positive = 600
    """Seconds a pending confirmation (cancel, pause, retention offer) stays valid."""

    # Doors: limits of the chat channels (REST and widget)
    site_origins: Origins = ("http://localhost:8000", "http://127.0.0.1:8000")
    """Web pages allowed to open the widget, read its history and post ratings
    (comma-separated origins)."""
    chat_trusted_proxies: Networks = ()
    """Reverse proxies whose X-Forwarded-For is believed (comma-separated IPs or CIDRs)."""
    chat_rate_exempt_loopback: bool = True
    """Loopback clients skip the per-address rate limits of the chat doors and the console
    (not the login throttle); in production set CHAT_TRUSTED_PROXIES or turn it off."""
    chat_session_token_ttl_s: Positive = 24 * 3600
    """How long the widget's session token lives, in seconds."""
    chat_session_token_resume_s: Positive = 300
    """How old a session token may be when Rasa does not remember its session (after a
    restart), in seconds."""

    # Console
    console_user: str = "founder"
    """The console user's login name."""
    console_secure_cookies: Switch = "auto"
    """auto: Secure cookies except over plain HTTP to localhost, 127.0.0.1 or ::1; on / off
    force it (PROFILE=production always sends them)."""
    console_login_per_minute: Positive = 5
    """Console login attempts per user name and client address per minute (the login
    throttle)."""
    console_rate_per_minute: Positive = 300
    """Console requests per client address per minute."""

    # Production: RabbitMQ, Rasa's event broker (bot/endpoints.prod.yml, ingest --source rabbitmq)
    rabbitmq_host: str = "127.0.0.1"
    """RabbitMQ's host."""
    rabbitmq_port: Port = 5672
    """RabbitMQ's AMQP port."""
    rabbitmq_vhost: str = "/"
    """RabbitMQ's virtual host."""
    rabbitmq_user: str = "guest"
    """RabbitMQ's user (empty: guest). Required whenever RabbitMQ is used: guest/guest is
    refused."""
    rabbitmq_password: SecretStr = SecretStr("guest")
    """RabbitMQ's password (empty: guest)."""
    rabbitmq_queue: str = "rasa_events"
    """The durable queue Rasa publishes its events to (poison messages go to <queue>.dead)."""
    rabbitmq_exchange: str = "rasa-exchange"
    """Rasa's fanout exchange."""

    # Console "Teach" and retraining: where it writes (relative: inside the repository)
    console_nlu_dir: RepoPath = Path("nlu_data")
    """NLU training data; corrections go to <dir>/<lang>/corrections.yml."""
    console_test_conversations_dir: RepoPath = Path("tests/conversations")
    """Where "save as test conversation" writes."""
    console_domain_dir: RepoPath = Path("bot/domain")
    """The bot's domain (the list of intents)."""
    console_models_dir: RepoPath = Path("models")
    """Trained Rasa models."""
    console_work_dir: RepoPath = Path("var/console")
    """Scratch space of retraining jobs."""
    console_rasa_bin: RepoPath = Path(".venv-rasa/bin/rasa")
    """The rasa executable of the Rasa environment."""

    # Knowledge base and attachments (issue 15)
    knowledge_dir: RepoPath = Path("knowledge")
    """The founder's FAQ: one Markdown file per topic (knowledge/README.md)."""
    knowledge_reload_seconds: Annotated[int, Field(ge=1, le=60)] = 10
    """How often the action server looks for edited knowledge files (at most 60 s)."""
    upload_dir: RepoPath = Path("var/uploads")
    """Where customers' photos from the widget are stored: Rasa writes there (several Rasa servers must share it), ingest and the console read it; relative to the repository (Rasa's working directory under make run)."""
    upload_max_bytes: Annotated[int, Field(ge=1024, le=20 * 1024 * 1024)] = 5 * 1024 * 1024
    """Largest photo a customer may attach, in bytes."""

    # Benchmarks
    shared_data_dir: RepoPath = Path("../shared/data")
    """The public data sets the brain benchmarks read."""

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:  # noqa: ANN401 - whatever the sources give
        """Strip the values; a blank one is left out, so the field takes its default."""
        if not isinstance(data, Mapping):
            return data
        cleaned: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, str):
                value = value.strip()
                if not value:
                    continue
            cleaned[key] = value
        return cleaned

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The sources, strongest first: arguments, the environment, ``.env``.

        The environment is ``os.environ``, or the one given to :func:`load_settings`; there
        is no secrets directory.
        """
        origin = _ORIGIN.get()
        if origin is None:
            return init_settings, env_settings, dotenv_settings
        environ, env_file = origin
        env = env_settings if environ is None else MappingEnvSource(settings_cls, environ)
        dotenv = DotEnvSettingsSource(settings_cls, env_file=env_file, env_file_encoding="utf-8")
        return init_settings, env, dotenv

    def __setattr__(self, name: str, value: Any) -> None:  # noqa: ANN401
        """Settings are read-only."""
        raise AttributeError(f"settings are read-only ({name})")

    def __delattr__(self, name: str) -> None:
        """Settings are read-only."""
        raise AttributeError(f"settings are read-only ({name})")

    @property
    def database_url(self) -> str:
        """SQLAlchemy URL of the analytics store (``SHOP_DATABASE_URL`` or var/shop.db)."""
        return reveal(self.shop_database_url) or default_database_url()

    @property
    def production(self) -> bool:
        """``PROFILE=production``."""
        return self.profile == PRODUCTION


def _is_secret(annotation: object) -> bool:
    """Whether a field's type is (or may be) a secret."""
    return annotation is SecretStr or any(_is_secret(arg) for arg in get_args(annotation))


#: What :func:`load_settings` was asked to read: (environment or None, ``.env`` file or None).
_ORIGIN: ContextVar[tuple[Mapping[str, str] | None, Path | None] | None] = ContextVar(
    "settings_origin", default=None
)

#: Every variable a field reads, in field order.
ENV_NAMES: tuple[str, ...] = tuple(str(field.alias) for field in Settings.model_fields.values())
#: The variables whose values are secret (never shown in errors or ``repr``).
SECRET_NAMES: frozenset[str] = frozenset(
    str(field.alias) for field in Settings.model_fields.values() if _is_secret(field.annotation)
)


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = DEFAULT_ENV_FILE
) -> Settings:
    """Build new settings (uncached); most code wants :func:`get_settings`.

    Args:
        environ: The environment; ``None`` is ``os.environ``.
        env_file: The ``.env`` file (a missing one is fine); ``None`` reads none.

    Returns:
        The settings. The parent folder of a SQLite store file is created.

    Raises:
        InvalidSettingsError: A variable holds a value that cannot be read.
    """
    token = _ORIGIN.set((environ, env_file))
    try:
        settings = Settings()
    except ValidationError as error:
        raise InvalidSettingsError.from_validation(error, SECRET_NAMES) from None
    finally:
        _ORIGIN.reset(token)
    ensure_sqlite_parent(settings.database_url)
    return settings


class _SettingsCache:
    """:func:`get_settings`: one :class:`Settings` per process environment."""

    def __init__(self) -> None:
        self._cached: tuple[tuple[str | None, ...], Settings] | None = None

    def __call__(
        self, environ: Mapping[str, str] | None = None, env_file: Path | None = None
    ) -> Settings:
        """The process's settings, built on first use (``.env`` is read then).

        Args:
            environ: An environment to read instead (builds new, uncached settings).
            env_file: A ``.env`` file to read instead (builds new, uncached settings).

        Returns:
            The settings.
        """
        if environ is not None or env_file is not None:
            return load_settings(environ, env_file if env_file is not None else DEFAULT_ENV_FILE)
        key = tuple(os.environ.get(name) for name in ENV_NAMES)
        cached = self._cached
        if cached is None or cached[0] != key:
            cached = (key, load_settings())
            self._cached = cached
        return cached[1]

    def cache_clear(self) -> None:
        """Forget the settings: the next call re-reads the environment and ``.env``."""
        self._cached = None


get_settings = _SettingsCache()


class SettingsView(Generic[T]):
    """A part's view of the settings (``web.settings``, ``actions.settings`` ...).

    The view is built once per settings instance, and rebuilt with them.

    Args:
        build: Makes the view from the settings (no reading of the environment).
    """

    def __init__(self, build: Callable[[Settings], T]) -> None:
        self._build = build
        self._cached: tuple[Settings, T] | None = None

    def __call__(self) -> T:
        """The view of the current settings."""
        settings = get_settings()
        cached = self._cached
        if cached is None or cached[0] is not settings:
            cached = (settings, self._build(settings))
            self._cached = cached
        return cached[1]

    def cache_clear(self) -> None:
        """Rebuild the settings (and this view) on next use."""
        self._cached = None
        get_settings.cache_clear()


@overload
def reveal(value: SecretStr) -> str: ...
@overload
def reveal(value: SecretStr | None) -> str | None: ...
def reveal(value: SecretStr | None) -> str | None:
    """The text of a secret, or None when it is unset."""
    return None if value is None else value.get_secret_value()


def demo_mode(root: Path = REPO_ROOT, settings: Settings | None = None) -> bool:
    """Whether the demo shop page and its identity signing are available.

    ``DEMO_MODE=on|off`` decides when set; otherwise (``auto``) demo mode is on exactly when
    the store holds the bundled demo shop (checked on every call: an import turns it off
    without a restart) and ``PROFILE`` is not ``production``.

    Args:
        root: The repository root.
        settings: The settings; defaults to :func:`get_settings`.

    Returns:
        The verdict.
    """
    settings = settings if settings is not None else get_settings()
    if settings.demo_mode != "auto":
        return settings.demo_mode == "on"
    if settings.production:
        return False
    return demo_marker(root).exists()
