"""``action_identify``: who is talking, and in which language to answer.

Rasa runs it after every user message (it is the custom mapping of the
``language``, ``customer_id`` and ``customer_name`` slots). It never speaks.

Language rule: a Chinese or English message is answered in that language; a
mixed (code-switched) message in the verified customer's profile language, else
Chinese. Messages without a detected language (button payloads such as
``/affirm``) keep the current language.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions.base import SLOT_CUSTOMER_ID, SLOT_LANGUAGE, reply_language, verified_customer
from actions.store import session_scope
from analytics.core.language import CJK_RE, LATIN_RE
from analytics.core.vocabulary import LANG_MIXED, LANG_ZH, LANGUAGES

logger = logging.getLogger(__name__)

PARSE_LANGUAGE_KEY = "language"
SLOT_CUSTOMER_NAME = "customer_name"
ORDER_NUMBERS = re.compile(r"[A-Za-z]{1,3}\d{4,}")


def choose_language(
    detected: str | None, profile: str | None, current: str, text: str = "x"
) -> str:
    """Chooses the reply language.

    Args:
        detected: The NLU's detected message language (``zh``, ``en``, ``mixed``)
            or None when the message had no text to detect from.
        profile: The verified customer's profile language, if known.
        current: The conversation's current reply language.
        text: The message; one without any letter (an order number alone, an
            emoji) keeps the current language.

    Returns:
        ``zh`` or ``en``.
    """
    rest = ORDER_NUMBERS.sub("", text or "")
    if not (LATIN_RE.search(rest) or CJK_RE.search(rest)):
        return current
    if detected in LANGUAGES:
        return str(detected)
    if detected == LANG_MIXED:
        return profile if profile in LANGUAGES else LANG_ZH
    return current


class ActionIdentify(Action):
    """Sets ``customer_id``, ``customer_name`` and ``language`` for this turn."""

    def name(self) -> str:
        """The action's name in the domain."""
        return "action_identify"

    def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[EventType]:
        """Looks up the customer the door verified and picks the reply language."""
        customer_id: str | None = None
        name: str | None = None
        profile: str | None = None
        try:
            with session_scope() as session:
                customer = verified_customer(session, tracker)
                if customer is not None:
                    customer_id, name, profile = (
                        customer.external_id,
                        customer.name,
                        customer.language,
                    )
        except SQLAlchemyError:
            logger.exception("Store unavailable while identifying the customer")
        latest = tracker.latest_message or {}
        language = choose_language(
            latest.get(PARSE_LANGUAGE_KEY),
            profile,
            reply_language(tracker),
            latest.get("text") or "",
        )
        return [
            SlotSet(SLOT_CUSTOMER_ID, customer_id),
            SlotSet(SLOT_CUSTOMER_NAME, name),
            SlotSet(SLOT_LANGUAGE, language),
        ]
