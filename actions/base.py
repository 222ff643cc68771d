"""Shared plumbing of the shop's actions: who is talking, in which language.

Every action that touches the store derives from :class:`ShopAction` and
implements :meth:`ShopAction.act`. The base class opens one database session per
action run, looks up the customer a door verified for the latest message and, if
the database (or anything else) fails, takes back anything the action already said
and answers with a polite apology instead: the conversation itself stays intact in Rasa.

Identity: the doors (Rasa's channels) check the host website's signed token and leave
only ``metadata["verified_customer_id"]`` on the message; the action server trusts
that key and nothing else (a ``customer_id`` or token in the metadata means nothing
here). See :mod:`analytics.core.identity`.
"""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass, field
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions.phrases import Phrasebook
from actions.store import session_scope
from analytics.core.identity import verified_customer_id
from analytics.core.vocabulary import LANG_ZH, LANGUAGES
from analytics.store import repositories as repo
from analytics.store.models import Customer

logger = logging.getLogger(__name__)

SLOT_LANGUAGE = "language"
SLOT_CUSTOMER_ID = "customer_id"
SLOT_PENDING = "pending_action"
UTTER_TECHNICAL_DIFFICULTY = "utter_technical_difficulty"
UTTER_ASK_SIGN_IN = "utter_ask_sign_in"


@dataclass
class Turn:
    """What an action knows about the current turn.

    Attributes:
        dispatcher: Where replies go.
        tracker: The conversation.
        session: An open database session (committed by the base class).
        language: The reply language, ``zh`` or ``en``.
        customer: The verified customer, or None when anonymous.
        phrases: The domain's responses in the reply language, for the pieces of a
            reply an action renders itself (:mod:`actions.phrases`).
    """

    dispatcher: CollectingDispatcher
    tracker: Tracker
    session: Session
    language: str
    customer: Customer | None
    phrases: Phrasebook = field(default_factory=Phrasebook)
    events: list[EventType] = field(default_factory=list)

    def say(self, response: str, **kwargs: Any) -> None:
        """Sends a domain response (its language variation is chosen by Rasa)."""
        self.dispatcher.utter_message(response=response, **kwargs)

    def phrase(self, response: str, /, **values: Any) -> str:
        """Renders a piece of a reply (an ``utter_phrase_*`` response) in the reply language."""
        return self.phrases.text(response, **values)

    @property
    def sender_id(self) -> str:
        """The Rasa sender id of this conversation."""
        return str(self.tracker.sender_id)

    @property
    def channel(self) -> str:
        """The input channel of the latest message (``rest``, ``socketio``, ...)."""
        return self.tracker.get_latest_input_channel() or "unknown"


def reply_language(tracker: Tracker) -> str:
    """Returns the reply language from the ``language`` slot (default Chinese)."""
    value = tracker.get_slot(SLOT_LANGUAGE)
    return value if value in LANGUAGES else LANG_ZH


def message_metadata(tracker: Tracker) -> dict[str, Any]:
    """Returns the metadata of the latest user message (empty if none)."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    return metadata if isinstance(metadata, dict) else {}


def verified_customer(session: Session, tracker: Tracker) -> Customer | None:
    """Returns the customer a door verified for the latest message.

    Args:
        session: An open store session.
        tracker: The conversation.

    Returns:
        The customer, or None for anonymous messages and unknown ids.
    """
    external_id = verified_customer_id(message_metadata(tracker))
    if external_id is None:
        return None
    return repo.get_customer(session, external_id)


class ShopAction(Action, abc.ABC):
    """Base class of actions that read or change the store (abstract: not served)."""

    #: Actions that show personal data set this; anonymous customers are then
    #: asked to sign in and :meth:`act` is not called.
    requires_customer: bool = False

    @abc.abstractmethod
    def name(self) -> str:
        """The action's name in the domain."""

    @abc.abstractmethod
    def act(self, turn: Turn) -> list[EventType]:
        """Does the action's work. Subclasses implement this.

        Args:
            turn: The current turn.

        Returns:
            Events to apply to the conversation.
        """

    def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[EventType]:
        """Runs :meth:`act` in a database session; apologises if anything fails."""
        said_before = len(dispatcher.messages)
        try:
            with session_scope() as session:
                customer = verified_customer(session, tracker)
                language = reply_language(tracker)
                phrases = Phrasebook.from_domain(domain, language)
                turn = Turn(dispatcher, tracker, session, language, customer, phrases)
                if self.requires_customer and customer is None:
                    turn.say(UTTER_ASK_SIGN_IN)
                    return []
                return self.act(turn)
        except SQLAlchemyError:
            logger.exception("Store unavailable while running %s", self.name())
        except Exception:  # noqa: BLE001 - one bad turn must not take the answer away
            logger.exception("Unexpected failure while running %s", self.name())
        del dispatcher.messages[said_before:]
        dispatcher.utter_message(response=UTTER_TECHNICAL_DIFFICULTY)
        return []
