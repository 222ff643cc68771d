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
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted
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


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True
)
class ActionFailurePolicy(Policy):
    """Apologises when a custom action returned no events (action server down)."""

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
        if failed is not None and self.response in domain.action_names_or_texts:
            logger.warning(
                "Custom action '%s' returned nothing (action server down?): apologising.",
                failed,
            )
            probabilities[domain.index_for_action(self.response)] = 1.0
        elif tracker.latest_action_name == self.response:
            probabilities[domain.index_for_action(ACTION_LISTEN_NAME)] = 1.0
        return self._prediction(probabilities)
