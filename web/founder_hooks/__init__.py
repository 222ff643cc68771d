"""Founder replies from the alert apps (Telegram, WeCom).

The founder answers an alert on Telegram or WeCom and the answer reaches the customer on the conversation's own channel (``docs/alerts-replies.md``).

:func:`web.app.create_app` includes :data:`router` (``/founder/hooks/...``).
"""

from __future__ import annotations

from web.founder_hooks.routes import router

__all__ = ["router"]
