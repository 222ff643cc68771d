"""Queries of the "Requests" queue: refund requests and changes made in chat.

Refund requests and account changes the bot cannot make wait for the founder (``open``)
until approved or refused; changes the bot made on a customer's confirmation (cancel,
pause, an accepted offer) are listed as approved by the bot, so every promise the bot
made is visible here. Refused requests are
stored as ``rejected`` (the store's vocabulary) and shown as "refused".

The founder's decision is sent to the conversation the request was made in, in the
customer's language, with the words of the bot's own domain responses
(``utter_refund_status_approved`` / ``utter_refund_status_refused`` in
``bot/domain/orders.yml``; ``utter_change_status_*`` in ``bot/domain/subscription.yml``):
what the customer reads about a refund then is what ``action_refund_status`` says later. :func:`decision_text` renders them the way Rasa (and ``actions.phrases``)
does: the variation whose language condition matches, else the one without a condition.
A customer who writes Traditional Chinese gets them in Traditional, as every bot reply
(``bot/nlg.py``): the script is read from the customer's stored messages
(:func:`customer_script`) and the bot's words are converted with
:func:`analytics.core.language.to_traditional`; the founder's note stays as typed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from analytics.core.language import (
    HANS,
    HANT,
    MAX_SCANNED_MESSAGES,
    conversation_script,
    detect_script,
    to_traditional,
)
from analytics.core.vocabulary import LANG_ZH, LANGUAGES
from analytics.store.models import (
    REFUND_APPROVED,
    REFUND_OPEN,
    REFUND_REJECTED,
    ROLE_USER,
    ChangeRequest,
    Conversation,
    Customer,
    Message,
    RefundRequest,
)

logger = logging.getLogger(__name__)

STATUS_FILTERS = (REFUND_OPEN, REFUND_APPROVED, REFUND_REJECTED)
"""The queue's tabs, in order (``rejected`` reads "refused")."""
ROWS_SHOWN = 200
RESPONSE_APPROVED = "utter_refund_status_approved"
RESPONSE_REFUSED = "utter_refund_status_refused"
RESPONSE_CHANGE_APPROVED = "utter_change_status_approved"
RESPONSE_CHANGE_REFUSED = "utter_change_status_refused"
PHRASE_NOTE = "utter_phrase_decision_note"
DATE_FORMAT = "%Y-%m-%d"
NO_ORDER = "-"
_PLACEHOLDER = re.compile(r"{(\w+)}")
VERBATIM_VALUES = frozenset({"note", "decision_note"})
"""Values that are (or hold) the founder's own words: never converted to Traditional, as
``bot.nlg.VERBATIM_VARIABLES`` on the bot's side."""


class DecisionTextError(LookupError):
    """The bot's domain lacks a response the decision needs."""


@dataclass(frozen=True)
class QueueRow:
    """One request in the queue, with what the page shows about it."""

    kind: str  # "refund" or a change kind
    request: RefundRequest | ChangeRequest
    customer: Customer
    conversation_id: int | None
    order_number: str | None


def normalize_status(value: str | None) -> str:
    """The queue tab asked for (``open`` for anything unknown)."""
    return value if value in STATUS_FILTERS else REFUND_OPEN


def _conversation_ids(db: Session, sender_ids: set[str]) -> dict[str, int]:
    if not sender_ids:
        return {}
    rows = db.execute(
        select(Conversation.sender_id, Conversation.id).where(
            Conversation.sender_id.in_(sorted(sender_ids))
        )
    )
    return {str(sender): int(cid) for sender, cid in rows}


def refund_rows(db: Session, status: str, limit: int = ROWS_SHOWN) -> list[QueueRow]:
    """Refund requests in ``status``, oldest open first (decided ones newest first)."""
    order_by = (
        (RefundRequest.created_at, RefundRequest.id)
        if status == REFUND_OPEN
        else (RefundRequest.decided_at.desc(), RefundRequest.id.desc())
    )
    requests = list(
        db.scalars(
            select(RefundRequest)
            .options(joinedload(RefundRequest.customer), joinedload(RefundRequest.order))
            .where(RefundRequest.status == status)
            .order_by(*order_by)
            .limit(limit)
        )
    )
    conversations = _conversation_ids(db, {r.sender_id for r in requests if r.sender_id})
    return [
        QueueRow(
            kind="refund",
            request=r,
            customer=r.customer,
            conversation_id=conversations.get(r.sender_id or ""),
            order_number=r.order.order_number if r.order is not None else None,
        )
        for r in requests
    ]


def change_rows(db: Session, status: str, limit: int = ROWS_SHOWN) -> list[QueueRow]:
    """Changes made or asked for in chat, in ``status``, newest first."""
    rows = list(
        db.execute(
            select(ChangeRequest, Customer)
            .join(Customer, Customer.id == ChangeRequest.customer_id)
            .where(ChangeRequest.status == status)
            .order_by(ChangeRequest.created_at.desc(), ChangeRequest.id.desc())
            .limit(limit)
        )
    )
    conversations = _conversation_ids(db, {c.sender_id for c, _ in rows if c.sender_id})
    return [
        QueueRow(
            kind=change.kind,
            request=change,
            customer=customer,
            conversation_id=conversations.get(change.sender_id or ""),
            order_number=None,
        )
        for change, customer in rows
    ]


def open_count(db: Session) -> int:
    """How many refund and change requests wait for the founder."""
    refunds = db.scalar(
        select(func.count(RefundRequest.id)).where(RefundRequest.status == REFUND_OPEN)
    )
    changes = db.scalar(
        select(func.count(ChangeRequest.id)).where(ChangeRequest.status == REFUND_OPEN)
    )
    return int(refunds or 0) + int(changes or 0)


def change_request(db: Session, change_id: int) -> ChangeRequest | None:
    """One change request, or None."""
    return db.get(ChangeRequest, change_id)


def refund_request(db: Session, request_id: int) -> RefundRequest | None:
    """One refund request (with its order), or None."""
    return db.scalar(
        select(RefundRequest)
        .options(joinedload(RefundRequest.order))
        .where(RefundRequest.id == request_id)
    )


def conversation_language(db: Session, sender_id: str | None) -> str | None:
    """The stored language of the conversation, if known."""
    if not sender_id:
        return None
    language = db.scalar(select(Conversation.language).where(Conversation.sender_id == sender_id))
    return language if language in LANGUAGES else None


def customer_script(db: Session, sender_id: str | None) -> str:
    """The Chinese script the customer of a conversation writes (``hant`` or ``hans``).

    As the bot decides it (``bot.channels.script.reply_script``): the newest of the
    conversation's customer messages (role ``user``, at most
    :data:`~analytics.core.language.MAX_SCANNED_MESSAGES`) whose script is not neutral;
    Simplified when there is none. The stored texts are redacted, which keeps the Chinese
    characters around the ``[PHONE]``-style placeholders. Messages the ingest worker has
    not stored yet do not count.
    """
    if not sender_id:
        return HANS
    texts = db.scalars(
        select(Message.text)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.sender_id == sender_id, Message.role == ROLE_USER)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(MAX_SCANNED_MESSAGES)
    )
    return conversation_script(detect_script(text) for text in texts)


# --- the decision's words, from the bot's domain -------------------------------------------


def _variation_text(variations: Sequence[Mapping[str, Any]], language: str) -> str | None:
    default: str | None = None
    for variation in variations:
        text = variation.get("text")
        if not isinstance(text, str):
            continue
        condition = variation.get("condition")
        if (
            isinstance(condition, list)
            and condition
            and all(
                isinstance(c, Mapping)
                and c.get("type") == "slot"
                and c.get("name") == "language"
                and c.get("value") == language
                for c in condition
            )
        ):
            return text
        if not condition and default is None:
            default = text
    return default


@lru_cache(maxsize=4)
def _responses(stamp: tuple[tuple[str, int], ...]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for name, _ in stamp:
        try:
            data = YAML(typ="safe", pure=True).load(Path(name).read_text(encoding="utf-8")) or {}
        except (OSError, YAMLError):
            logger.warning("Could not read the domain file %s", name)
            continue
        if isinstance(data, dict) and isinstance(data.get("responses"), dict):
            responses.update(data["responses"])
    return responses


def domain_responses(domain_dir: Path) -> dict[str, Any]:
    """The bot's responses (cached until a domain file changes)."""
    paths = sorted(domain_dir.glob("*.yml")) if domain_dir.is_dir() else [domain_dir]
    return _responses(tuple((str(p), p.stat().st_mtime_ns) for p in paths if p.exists()))


def render(
    responses: Mapping[str, Any],
    name: str,
    language: str,
    values: Mapping[str, str],
    script: str = HANS,
) -> str:
    """Renders the domain response ``name`` in ``language`` with ``values``.

    In ``script`` :data:`~analytics.core.language.HANT` the response's text and every value
    except :data:`VERBATIM_VALUES` are converted to Traditional before the placeholders are
    filled (in one pass), as ``bot.nlg.ScriptAwareNLG`` does.

    Raises:
        DecisionTextError: When the response or one of its values is missing.
    """
    text = _variation_text(responses.get(name) or [], language)
    if text is None:
        raise DecisionTextError(f"the bot's domain has no response {name}")
    if script == HANT:
        text = to_traditional(text)
        values = {
            key: value if key in VERBATIM_VALUES else to_traditional(value)
            for key, value in values.items()
        }

    def value_of(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            raise DecisionTextError(f"response {name} needs {{{match.group(1)}}}")
        return values[match.group(1)]

    return _PLACEHOLDER.sub(value_of, text)


def decision_text(
    responses: Mapping[str, Any],
    request: RefundRequest | ChangeRequest,
    language: str | None,
    script: str = HANS,
) -> str:
    """What the customer reads about the founder's decision, in their language.

    Args:
        responses: The bot's domain responses (:func:`domain_responses`).
        request: The decided request.
        language: The customer's language (``zh`` for anything unknown).
        script: The customer's Chinese script (:func:`customer_script`): in ``hant`` the
            bot's words are Traditional; the founder's note is never converted.

    Returns:
        The message.
    """
    lang = language if language in LANGUAGES else LANG_ZH
    note = request.decision_note or ""
    decided: datetime | None = request.decided_at
    values = {
        "request_id": str(request.id),
        "created": request.created_at.strftime(DATE_FORMAT),
        "decided": decided.strftime(DATE_FORMAT) if decided is not None else "",
        # the phrase's words follow the script, the note inside it stays as typed
        "note": render(responses, PHRASE_NOTE, lang, {"note": note}, script) if note else "",
    }
    values["decision_note"] = values["note"]  # utter_refund_status_* name it so (bot/nlg.py)
    approved = request.status == REFUND_APPROVED
    if isinstance(request, ChangeRequest):
        name = RESPONSE_CHANGE_APPROVED if approved else RESPONSE_CHANGE_REFUSED
        return render(responses, name, lang, values, script)
    order = request.order.order_number if request.order is not None else NO_ORDER
    name = RESPONSE_APPROVED if approved else RESPONSE_REFUSED
    return render(responses, name, lang, {"order_number": order, **values}, script)
