"""Value types of the settings: how one variable's text becomes a typed value.

:class:`analytics.core.settings.Settings` declares its fields with these types. Each parser
takes the text of one environment (or ``.env``) variable; a value it cannot read raises
``ValueError``, which the settings report with the variable's name.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr
from pydantic_settings import NoDecode

logger = logging.getLogger(__name__)

REPO_ROOT: Path = Path(__file__).resolve().parents[2]
"""The repository root (the folder that holds ``analytics/``)."""

ENV_SITE_ORIGINS = "SITE_ORIGINS"
PRODUCTION = "production"
LOCAL = "local"
AUTO = "auto"
ON = "on"
OFF = "off"
YES_WORDS = frozenset({"1", "true", "yes", "on"})
NO_WORDS = frozenset({"0", "false", "no", "off"})
URL_MARK = "://"
ORIGIN_RE = re.compile(r"https?://[^/\s*]+")

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def in_repo(path: Path, root: Path = REPO_ROOT) -> Path:
    """An absolute path: a relative one is taken inside the repository.

    Args:
        path: The path as written (``~`` is expanded).
        root: The repository root.

    Returns:
        The resolved absolute path.
    """
    path = path.expanduser()
    return (path if path.is_absolute() else root / path).resolve()


def path_or_url(value: object) -> object:
    """A store given as a file path (made absolute inside the repository) or as a URL.

    Args:
        value: The variable's text (or a default, already a secret).

    Returns:
        A URL (``scheme://...``) unchanged; a path as an absolute path string.
    """
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if isinstance(text, str) and URL_MARK not in text:
        return str(in_repo(Path(text)))
    return value


def lower(value: object) -> object:
    """The text in lower case (for choices such as ``PROFILE``)."""
    return value.strip().lower() if isinstance(value, str) else value


def switch(value: object) -> object:
    """``auto``, ``on`` or ``off``; ``1/true/yes`` mean on and ``0/false/no`` off."""
    if isinstance(value, bool):
        return ON if value else OFF
    if not isinstance(value, str):
        return value
    word = value.strip().lower()
    if word in YES_WORDS:
        return ON
    if word in NO_WORDS:
        return OFF
    return word


def parse_origins(value: object) -> object:
    """``SITE_ORIGINS``: comma-separated ``scheme://host[:port]``, lower case.

    ``*`` and anything that is not an origin are logged and skipped (Rasa's ``--cors``
    reads the same variable, where ``*`` means any origin; the web app never allows any).

    Args:
        value: The variable's text (a tuple passes through).

    Returns:
        The origins, as a tuple.
    """
    if not isinstance(value, str):
        return value
    origins: list[str] = []
    for item in (part.strip().rstrip("/") for part in value.split(",")):
        if not item:
            continue
        if not ORIGIN_RE.fullmatch(item):
            logger.warning("%s: %r is not an origin; ignored", ENV_SITE_ORIGINS, item[:80])
            continue
        origins.append(item.lower())
    return tuple(origins)


def parse_networks(value: object) -> object:
    """Comma-separated IP addresses and CIDR networks (host bits allowed: ``10.1.2.3/8``).

    Args:
        value: The variable's text (a tuple passes through).

    Returns:
        The networks, as a tuple.

    Raises:
        ValueError: On an item that is not an address or a network.
    """
    if not isinstance(value, str):
        return value
    networks: list[IpNetwork] = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item[:60]!r} is not an IP address or network") from None
    return tuple(networks)


Port = Annotated[int, Field(ge=1, le=65535)]
"""A TCP port."""
Positive = Annotated[int, Field(ge=1)]
"""A whole number of at least 1."""
Switch = Annotated[Literal["auto", "on", "off"], BeforeValidator(switch)]
"""``auto``, ``on`` or ``off`` (with the usual yes/no words for on/off)."""
Profile = Annotated[Literal["local", "production"], BeforeValidator(lower)]
"""``local`` or ``production``."""
IngestSource = Annotated[Literal["sql", "rabbitmq"], BeforeValidator(lower)]
"""Where the ingest worker reads Rasa's events."""
RepoPath = Annotated[Path, AfterValidator(in_repo)]
"""A file or folder; a relative path is inside the repository."""
StoreLocation = Annotated[SecretStr, BeforeValidator(path_or_url)]
"""A database as a path (inside the repository when relative) or a URL (secret: it may
hold a password)."""
Origins = Annotated[tuple[str, ...], NoDecode, BeforeValidator(parse_origins)]
"""Web origins, comma-separated in the variable."""
Networks = Annotated[tuple[IpNetwork, ...], NoDecode, BeforeValidator(parse_networks)]


def parse_names(value: object) -> object:
    """Comma-separated names, stripped, lower case, blanks and repeats dropped.

    Args:
        value: The variable's text (a tuple passes through).

    Returns:
        The names, as a tuple, in their first order.
    """
    if not isinstance(value, str):
        return value
    names = (part.strip().lower() for part in value.split(","))
    return tuple(dict.fromkeys(name for name in names if name))


#: The kinds of place a founder alert can go (``ALERT_CHANNELS``).
AlertKind = Literal["telegram", "slack", "wecom", "feishu", "dingtalk", "email", "webhook"]
AlertKinds = Annotated[tuple[AlertKind, ...], NoDecode, BeforeValidator(parse_names)]
"""IP networks, comma-separated in the variable."""
