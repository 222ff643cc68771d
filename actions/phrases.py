"""Pieces of replies that live in the domain, rendered by the actions.

Every sentence the customer reads is a response of the Rasa domain (``bot/domain/*.yml``),
with a Chinese default and an English variation chosen by the ``language`` slot. Most
replies are whole responses the actions name (``turn.say("utter_...", **values)``) and Rasa
renders. A few replies hold a piece that depends on the data: the carrier's name, a
subscription's status, the note for the customer's segment, why a product is recommended.
Those pieces are responses too, named ``utter_phrase_*`` and never sent alone; an action
renders one here, from the domain Rasa sends with every action call, and passes the text as
a variable of the whole response.

Rendering follows Rasa's rules for these responses: the variation whose conditions all
match the reply language, else the variation without a condition; ``{name}`` is replaced by
the value passed under that name. A missing response or value raises :class:`PhraseError`
(the action then apologises, see :class:`actions.base.ShopAction`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from analytics.core.vocabulary import LANG_ZH

__all__ = ["PLACEHOLDER", "PhraseError", "Phrasebook", "render_response"]

SLOT_LANGUAGE = "language"
CONDITION_SLOT = "slot"
DOMAIN_RESPONSES = "responses"
PLACEHOLDER = re.compile(r"{(\w+)}")
"""A variable in a response's text, as Rasa fills it."""

Variations = Sequence[Mapping[str, Any]]


class PhraseError(LookupError):
    """A response the action needs is missing from the domain, or lacks a value."""


def _matches(condition: Any, language: str) -> bool:
    """Whether every condition of a variation holds for the reply language."""
    if not isinstance(condition, list) or not condition:
        return False
    return all(
        isinstance(c, Mapping)
        and c.get("type") == CONDITION_SLOT
        and c.get("name") == SLOT_LANGUAGE
        and c.get("value") == language
        for c in condition
    )


def variation_text(name: str, variations: Variations, language: str) -> str:
    """The text of the variation Rasa would choose for ``language``.

    Args:
        name: The response's name (for the error message).
        variations: The response's variations, as in the domain.
        language: The reply language.

    Returns:
        The first variation whose conditions match, else the first without a condition.

    Raises:
        PhraseError: When no variation fits.
    """
    default: str | None = None
    for variation in variations:
        text = variation.get("text")
        if not isinstance(text, str):
            continue
        condition = variation.get("condition")
        if _matches(condition, language):
            return text
        if not condition and default is None:
            default = text
    if default is None:
        raise PhraseError(f"response {name} has no text for language {language!r}")
    return default


def fill(name: str, text: str, values: Mapping[str, Any]) -> str:
    """Replaces each ``{variable}`` of ``text`` by its value.

    Raises:
        PhraseError: When a variable has no value.
    """

    def value_of(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise PhraseError(f"response {name} needs a value for {{{key}}}")
        return str(values[key])

    return PLACEHOLDER.sub(value_of, text)


def render_response(
    responses: Mapping[str, Variations], name: str, language: str, /, **values: Any
) -> str:
    """Renders the domain response ``name`` in ``language`` with ``values``.

    Args:
        responses: The domain's responses (name -> variations).
        name: The response to render.
        language: The reply language (``zh`` or ``en``).
        **values: Its variables (any names: the other arguments are positional only).

    Returns:
        The text the customer would read.

    Raises:
        PhraseError: When the response is missing, or a variable has no value.
    """
    variations = responses.get(name)
    if not variations:
        raise PhraseError(
            f"the domain has no response {name} (does Rasa send the domain to the action "
            "server? enable_selective_domain must stay off)"
        )
    return fill(name, variation_text(name, variations, language), values)


@dataclass(frozen=True)
class Phrasebook:
    """The domain's responses in one reply language.

    Attributes:
        responses: The domain's responses (name -> variations).
        language: The reply language.
    """

    responses: Mapping[str, Variations] = field(default_factory=dict)
    language: str = LANG_ZH

    @classmethod
    def from_domain(cls, domain: Mapping[str, Any] | None, language: str) -> Phrasebook:
        """The phrasebook of the domain Rasa sent with the action call."""
        responses = (domain or {}).get(DOMAIN_RESPONSES) or {}
        return cls(responses if isinstance(responses, Mapping) else {}, language)

    def text(self, name: str, /, **values: Any) -> str:
        """Renders the response ``name`` in this language (see :func:`render_response`)."""
        return render_response(self.responses, name, self.language, **values)
