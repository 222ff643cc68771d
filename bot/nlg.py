"""The bot's response generator: the domain's responses, in Traditional Chinese if need be.

Configured in ``bot/endpoints.yml`` (and every other endpoints file) as::

    nlg:
      type: bot.nlg.ScriptAwareNLG
      variant: s2tw      # optional: s2tw (default), s2t or s2hk

It is Rasa's :class:`TemplatedNaturalLanguageGenerator` (same choice of variation by slot
condition and channel, same ``{placeholder}`` filling) plus one step: when the
conversation's reply script is Traditional (:func:`bot.channels.script.reply_script`: the
newest customer message in the tracker that is not script-neutral is Traditional), the
chosen variation's text, button and quick-reply titles and the string values filled into it are
converted with OpenCC before the placeholders are filled (in one pass: a value is never
read as a template, see :func:`fill`), so the tracker, the widget's
history and the console show what the customer saw. Button payloads, images and custom
payloads are never changed. Values in :data:`VERBATIM_VARIABLES` (text the founder typed)
stay as written. The founder's takeover messages do not pass through here at all.

Text that an action sends without a domain response (``utter_message(text=...)``) does not
pass through the generator either and is not converted.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.channels.script import (
    DEFAULT_VARIANT,
    HANT,
    VARIANTS,
    reply_script,
    to_traditional,
    warm_up,
)

logger = logging.getLogger(__name__)

#: Response variables whose values are the founder's own words: never converted.
VERBATIM_VARIABLES = frozenset({"founder_note", "decision_note", "founder_text"})
#: Keys of a response whose placeholders are filled (as in Rasa's generator).
_FILLED_KEYS = ("text", "image", "custom", "buttons", "attachment", "quick_replies")
_PLACEHOLDER = re.compile(r"{([^\n{}]+?)}")
#: Keys of a response whose list items' ``title`` is shown to the customer.
_TITLED_LISTS = ("buttons", "quick_replies")


def convert_response(response: dict[str, Any], variant: str) -> dict[str, Any]:
    """The customer-visible parts of one response variation, converted (a copy).

    Args:
        response: A response variation of the domain (``text``, ``buttons``, ...).
        variant: The OpenCC configuration (``s2tw``, ``s2t``, ``s2hk``).

    Returns:
        A deep copy with ``text`` and the ``title`` of every button and quick reply
        converted; everything else (payloads, images, custom JSON, conditions) unchanged.
    """
    converted = copy.deepcopy(response)
    if isinstance(converted.get("text"), str):
        converted["text"] = to_traditional(converted["text"], variant)
    for key in _TITLED_LISTS:
        items = converted.get(key)
        if not isinstance(items, list):
            continue
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("title"), str):
                item["title"] = to_traditional(item["title"], variant)
    return converted


def convert_values(values: dict[str, Any], variant: str) -> dict[str, Any]:
    """Response variables with their string values converted, except the verbatim ones."""
    return {
        key: to_traditional(value, variant)
        if isinstance(value, str) and key not in VERBATIM_VARIABLES
        else value
        for key, value in values.items()
    }


def fill(template: Any, values: dict[str, Any]) -> Any:
    """Fills ``{name}`` placeholders in one pass (strings inside lists and dicts too).

    Unlike Rasa's interpolator, a value is never read as a template and never makes the
    whole response come out unfilled: Rasa gives back the raw template when a filled text
    contains ``0[`` (its internal ``{0[name]}`` marker), so a passage or product text with
    ``10[`` in it would show ``{answer}``. A placeholder without a value stays as it is.

    Args:
        template: A response part (text, or a list/dict holding texts).
        values: The slot values and the action's values.

    Returns:
        The filled part (dicts are filled in place, as Rasa does).
    """
    if isinstance(template, str):
        return _PLACEHOLDER.sub(
            lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template
        )
    if isinstance(template, list):
        return [fill(item, values) for item in template]
    if isinstance(template, dict):
        for key, value in template.items():
            template[key] = fill(value, values)
    return template


class ScriptAwareNLG(TemplatedNaturalLanguageGenerator):
    """Rasa's templated generator that answers Traditional Chinese writers in Traditional."""

    def __init__(
        self,
        endpoint_config: EndpointConfig | None = None,
        domain: Domain | None = None,
        responses: dict[str, list[dict[str, Any]]] | None = None,
        variant: str | None = None,
    ) -> None:
        """Creates the generator (Rasa passes ``endpoint_config`` and ``domain``).

        Args:
            endpoint_config: The ``nlg`` section of the endpoints file; its optional
                ``variant`` is the OpenCC configuration (``s2tw``, ``s2t``, ``s2hk``).
            domain: The model's domain (its responses; Rasa replaces them on a model load).
            responses: Responses to use instead of the domain's (tests).
            variant: The OpenCC configuration (default: the endpoint's, else ``s2tw``).

        Raises:
            ValueError: For a variant that is not one of ``s2tw``, ``s2t``, ``s2hk``.
        """
        if responses is None:
            responses = domain.responses if domain is not None else {}
        super().__init__(responses)
        if variant is None and endpoint_config is not None:
            variant = endpoint_config.kwargs.get("variant")
        self.variant = variant or DEFAULT_VARIANT
        if self.variant not in VARIANTS:
            raise ValueError(f"nlg variant must be one of {', '.join(VARIANTS)}: {self.variant!r}")
        warm_up()

    def _fill_response(
        self,
        response: dict[str, Any],
        filled_slots: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Fills the response's placeholders with :func:`fill` (Rasa's keys, in place)."""
        values = self._response_variables(filled_slots or {}, kwargs)
        if values:
            for key in _FILLED_KEYS:
                if key in response:
                    response[key] = fill(response[key], values)
        return response

    async def generate(
        self,
        utter_action: str,
        tracker: DialogueStateTracker,
        output_channel: str,
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        """The response of ``utter_action``, in the conversation's script.

        Args:
            utter_action: The response name.
            tracker: The conversation (its slots choose the variation; its customer
                messages the script).
            output_channel: The channel's name (channel-specific variations).
            **kwargs: Values for the response's placeholders (from an action).

        Returns:
            The filled response, or None if the domain has none for ``utter_action``.
        """
        filled_slots = tracker.current_slot_values()
        if reply_script(tracker.events) != HANT:
            return self.generate_from_slots(utter_action, filled_slots, output_channel, **kwargs)
        response = self._random_response_for(utter_action, output_channel, filled_slots)
        if response is None:
            return None
        return self._fill_response(
            convert_response(response, self.variant),
            convert_values(filled_slots, self.variant),
            **convert_values(kwargs, self.variant),
        )
