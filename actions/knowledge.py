"""``action_answer_knowledge``: answers a question from the founder's FAQ, or says it can't.

The question (the latest message's text) is matched against the knowledge base
(:mod:`analytics.loop.knowledge`: ``knowledge/*.md``, re-read within
``KNOWLEDGE_RELOAD_SECONDS`` of an edit, no retraining). Then:

- the best passage is good enough (the retriever's :meth:`answerable
  <analytics.brain.retrieval.PassageRetriever.answerable>`; for a message the NLU could not
  place, ``nlu_fallback``, or took for off-topic, ``out_of_scope``, also a confidence above a
  stricter bar, :func:`required_confidence`: a topic the founder added after the model was
  trained is then still answered, without retraining):
  the bot answers with the passage's text in the reply language (the ``language`` slot)
  and names its title as the source. A passage written only in the other language is quoted
  as it is, after a note saying so (``utter_knowledge_answer_quoted``);
- else, for a question (``ask_faq``, ``shipping_info``), the bot says it does not know and
  offers the founder (``utter_knowledge_unknown``, the ``/human_handoff`` button); for
  ``nlu_fallback`` and ``out_of_scope``, the usual fallback (``utter_fallback``), which
  offers the founder too.

It never invents: every sentence is either a domain response or the founder's passage.
The answer is sent as the domain response with the passage's text and titles as its values
(``answer``, ``title``, ``topic``); Rasa's generator (``bot.nlg.ScriptAwareNLG``) fills them
in one pass, so a passage's braces and brackets are never read as a template, and converts
the whole reply to Traditional Chinese for a customer who writes it. Every answer and refusal is recorded in ``knowledge_answers`` (question
redacted); if the store is down the answer is still given and the record is skipped (logged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions.base import UTTER_TECHNICAL_DIFFICULTY, reply_language, verified_customer
from actions.store import session_scope
from analytics.core.vocabulary import LANG_EN, LANG_ZH
from analytics.loop.knowledge import KnowledgeSnapshot, get_knowledge_base, record_answer
from analytics.store.knowledge import Passage, clean_text
from analytics.store.models.knowledge import MODE_DIRECT, MODE_QUOTED, MODE_REFUSED

logger = logging.getLogger(__name__)

ACTION_NAME = "action_answer_knowledge"
INTENT_NLU_FALLBACK = "nlu_fallback"
INTENT_OUT_OF_SCOPE = "out_of_scope"
UTTER_ANSWER = "utter_knowledge_answer"
UTTER_ANSWER_QUOTED = "utter_knowledge_answer_quoted"
UTTER_UNKNOWN = "utter_knowledge_unknown"
UTTER_FALLBACK = "utter_fallback"
#: intent -> how much stricter than the retriever's threshold its bar is, as a share of the
#: way from the threshold to 1.0 (:func:`required_confidence`); these intents get
#: ``utter_fallback`` when refused. Chosen on the retrieval development set
#: (tests/analytics/brain/knowledge_dev.jsonl) and the NLU's out_of_scope *training*
#: examples (never the held-out sets), see docs/knowledge.md.
STRICTER_INTENTS: dict[str, float] = {INTENT_NLU_FALLBACK: 0.5, INTENT_OUT_OF_SCOPE: 0.9}
#: the question given to the retriever is cut to this many characters.
MAX_QUESTION_CHARS = 1000
#: a longer passage is cut (at a line or sentence end when one is near) and marked "…".
MAX_ANSWER_CHARS = 1500
ELLIPSIS = "…"
_CUT_MARKS = ("\n", "。", "！", "？", ". ", "! ", "? ")


@dataclass(frozen=True)
class Outcome:
    """What the action decided for one question.

    Attributes:
        mode: ``direct``, ``quoted`` or ``refused``.
        passage: The passage answered from, or None.
        score: The best passage's confidence (0.0 when nothing matched).
    """

    mode: str
    passage: Passage | None
    score: float


def question_of(tracker: Tracker) -> str:
    """The latest message's text, cleaned and cut to :data:`MAX_QUESTION_CHARS`."""
    text = (tracker.latest_message or {}).get("text")
    return (
        clean_text(text[: MAX_QUESTION_CHARS * 2])[:MAX_QUESTION_CHARS]
        if isinstance(text, str)
        else ""
    )


def intent_of(tracker: Tracker) -> str | None:
    """The latest message's intent name, or None."""
    intent = (tracker.latest_message or {}).get("intent") or {}
    name = intent.get("name") if isinstance(intent, dict) else None
    return name if isinstance(name, str) else None


def required_confidence(intent: str | None, threshold: float) -> float:
    """The least confidence of the best passage for answering a message of ``intent``.

    Args:
        intent: The message's intent.
        threshold: The retriever's own bar (what ``answerable`` checks).

    Returns:
        ``threshold``, raised for the intents of :data:`STRICTER_INTENTS` by their share of
        the distance to 1.0.
    """
    return threshold + (1.0 - threshold) * STRICTER_INTENTS.get(intent or "", 0.0)


def decide(snapshot: KnowledgeSnapshot, question: str, intent: str | None) -> Outcome:
    """Chooses the passage to answer from, or none.

    Args:
        snapshot: The knowledge base's current version.
        question: The customer's question (cleaned).
        intent: The question's intent (``nlu_fallback`` and ``out_of_scope`` ask for a
            stricter bar).

    Returns:
        The outcome (mode ``refused`` when no passage is good enough).
    """
    retriever = snapshot.retriever
    if retriever is None or not question.strip():
        return Outcome(MODE_REFUSED, None, 0.0)
    hits = retriever.retrieve(question, k=1)
    if not hits:
        return Outcome(MODE_REFUSED, None, 0.0)
    top = hits[0]
    good = retriever.answerable(question)
    good = good and top.confidence >= required_confidence(intent, float(retriever.threshold))
    passage = snapshot.passage(top.passage_id)
    if not good or passage is None:
        return Outcome(MODE_REFUSED, None, top.confidence)
    return Outcome(MODE_DIRECT, passage, top.confidence)


def shorten(text: str, limit: int = MAX_ANSWER_CHARS) -> str:
    """Cuts a long passage at a line or sentence end near ``limit``, marked with "…"."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    cut = max(head.rfind(mark) + len(mark.rstrip()) for mark in _CUT_MARKS)
    if cut < limit // 2:
        cut = limit
    return head[:cut].rstrip() + ELLIPSIS


def answer_message(passage: Passage, language: str) -> tuple[str, dict[str, str], str]:
    """The response for a passage in the reply language, its values and the mode.

    The passage's text in ``language`` if it has one (``utter_knowledge_answer``, mode
    ``direct``), else the other language's text after a note that it is quoted
    (``utter_knowledge_answer_quoted``, mode ``quoted``). The source is the passage's title
    and its topic's title in the reply language.

    Returns:
        ``(response name, values, mode)``.
    """
    english = language == LANG_EN
    own = passage.text_en if english else passage.text_zh
    other = passage.text_zh if english else passage.text_en
    values = {
        "title": passage.title_en if english else passage.title_zh,
        "topic": passage.topic_title_en if english else passage.topic_title_zh,
    }
    if own:
        return UTTER_ANSWER, {"answer": shorten(own), **values}, MODE_DIRECT
    return UTTER_ANSWER_QUOTED, {"answer": shorten(other or ""), **values}, MODE_QUOTED


class ActionAnswerKnowledge(Action):
    """Answers from the knowledge base, or says it does not know and offers the founder."""

    def name(self) -> str:
        """The action's name in the domain."""
        return ACTION_NAME

    def run(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[EventType]:
        """Answers the latest message; records the answer; apologises if anything fails."""
        said_before = len(dispatcher.messages)
        language = reply_language(tracker)
        question, intent = question_of(tracker), intent_of(tracker)
        try:
            outcome = decide(get_knowledge_base().current(), question, intent)
            if outcome.passage is None:
                fallback = intent in STRICTER_INTENTS
                dispatcher.utter_message(response=UTTER_FALLBACK if fallback else UTTER_UNKNOWN)
            else:
                response, values, mode = answer_message(outcome.passage, language)
                outcome = Outcome(mode, outcome.passage, outcome.score)
                dispatcher.utter_message(response=response, **values)
        except Exception:  # noqa: BLE001 - one bad turn must not take the answer away
            logger.exception("Answering from the knowledge base failed")
            del dispatcher.messages[said_before:]
            dispatcher.utter_message(response=UTTER_TECHNICAL_DIFFICULTY)
            return []
        self.record(tracker, question, intent, language, outcome)
        return []

    @staticmethod
    def record(
        tracker: Tracker, question: str, intent: str | None, language: str, outcome: Outcome
    ) -> None:
        """Writes the ``knowledge_answers`` row; a store failure is logged, not shown."""
        try:
            with session_scope() as session:
                customer = verified_customer(session, tracker)
                record_answer(
                    session,
                    sender_id=str(tracker.sender_id),
                    customer_id=customer.id if customer is not None else None,
                    question=question,
                    passage_id=outcome.passage.id if outcome.passage is not None else None,
                    score=outcome.score,
                    language=language if language in (LANG_ZH, LANG_EN) else LANG_ZH,
                    mode=outcome.mode,
                    intent=intent,
                )
        except SQLAlchemyError:
            logger.exception("Could not record the knowledge answer (store unavailable)")
        except Exception:  # noqa: BLE001 - the customer already has the answer
            logger.exception("Could not record the knowledge answer")
