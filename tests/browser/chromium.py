"""Debian Chromium for the Playwright tests: where it is, how it is started, the widget it loads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.stack import REPO

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDGET_JS = REPO / "widget" / "dist" / "widget.js"


def require_browser() -> None:
    """Fails the test (not skips) when Chromium or the built widget is missing."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make chromium` (Debian chromium).")
    if not WIDGET_JS.exists():
        pytest.fail(f"{WIDGET_JS} is missing: run `make widget`.")
