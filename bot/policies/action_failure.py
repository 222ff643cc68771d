"""A policy that answers politely when a custom action produced nothing.

When the action server is unreachable (or crashes), Rasa logs the error, records
the action as executed with no events and carries on; the rule policy then
predicts ``action_listen`` and the customer is left without any answer. Every
custom action of this bot sends at least one message, so "a custom action
followed by no event at all" means it failed. This policy then predicts
``utter_technical_difficulty`` (a response, served by Rasa itself) with full
confidence and a priority above the rule policy, and ``action_listen`` right
after it. The conversation stays in the tracker store untouched.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.core.policies.policy import Policy, PolicyPrediction, SupportedData
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.core.constants import (
    ACTION_EXTRACT_SLOTS,
    ACTION_LISTEN_NAME,
    ACTION_SESSION_START_NAME,
)
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import METADATA_MODEL_ID

logger = logging.getLogger(__name__)

APOLOGY_RESPONSE = "utter_technical_difficulty"
CUSTOM_ACTION_PREFIX = "action_"
# Above RulePolicy (priority 6) so the apology wins the tie at confidence 1.0.
DEFAULT_PRIORITY = 7


def failed_custom_action(tracker: DialogueStateTracker, domain: Domain) -> str | None:
    """Returns the name of the custom action that just ran without any result.

    Args:
        tracker: The conversation so far.
        domain: The model's domain, which lists the custom actions.

    Returns:
        The action's name if the last event is the execution of a custom action
        (one listed in the domain's ``actions``), else ``None``.
    """
    if not tracker.events:
        return None
    last = tracker.events[-1]
    if not isinstance(last, ActionExecuted) or not last.action_name:
        return None
    if METADATA_MODEL_ID not in (last.metadata or {}):
        return None
    name = last.action_name
    if name.startswith(CUSTOM_ACTION_PREFIX) and name in domain.user_actions:
        return name
    return None


def failed_session_start(tracker: DialogueStateTracker) -> bool:
    """Whether this turn's session start ran on the action server and produced nothing.

    ``action_session_start`` is a custom action here (it carries over only the language).
    When the action server is down Rasa records it with no events, so no ``session_started``
    and no ``action_listen`` follow; the customer's message then comes right after it and the
    dialogue policies, seeing an unknown state, predict ``action_listen``: no answer at all.

    Args:
        tracker: The conversation so far.

    Returns:
        True if the latest user message follows a silent ``action_session_start`` and no
        action but slot extraction has run since.
    """
    events = list(tracker.events)
    last_user = next(
        (i for i in range(len(events) - 1, -1, -1) if isinstance(events[i], UserUttered)), None
    )
    if last_user is None:
        return False
    for event in events[last_user + 1 :]:
        if isinstance(event, ActionExecuted) and event.action_name != ACTION_EXTRACT_SLOTS:
            return False
    for event in reversed(events[:last_user]):
        if isinstance(event, SessionStarted):
            return False
        if isinstance(event, ActionExecuted):
            return event.action_name == ACTION_SESSION_START_NAME
    return False


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class ActionFailurePolicy(Policy):
    """Apologises when a custom action (or the session start) returned no events."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Returns the default configuration (see parent class for full docstring)."""
        return {"priority": DEFAULT_PRIORITY, "response": APOLOGY_RESPONSE}

    @staticmethod
    def supported_data() -> SupportedData:
        """This policy needs no training data of any kind."""
        return SupportedData.ML_AND_RULE_DATA

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        featurizer: Any = None,
    ) -> None:
        """Creates the policy (see parent class for full docstring)."""
        super().__init__(config, model_storage, resource, execution_context, featurizer)
        self.response: str = config.get("response", APOLOGY_RESPONSE)

    def train(
        self,
        training_trackers: list[TrackerWithCachedStates],
        domain: Domain,
        **kwargs: Any,
    ) -> Resource:
        """Nothing to learn; checks the apology response exists."""
        if self.response not in domain.responses:
            raise ValueError(
                f"ActionFailurePolicy needs the response '{self.response}' in the domain."
            )
        return self._resource

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        """Predicts the apology after a silent custom action, else abstains."""
        probabilities = self._default_predictions(domain)
        failed = failed_custom_action(tracker, domain)
        if failed is None and failed_session_start(tracker):
            failed = ACTION_SESSION_START_NAME
        if failed is not None and self.response in domain.action_names_or_texts:
            logger.warning(
                "Custom action '%s' returned nothing (action server down?): apologising.",
                failed,
            )
            probabilities[domain.index_for_action(self.response)] = 1.0
        elif tracker.latest_action_name == self.response:
            probabilities[domain.index_for_action(ACTION_LISTEN_NAME)] = 1.0
        return self._prediction(probabilities)
