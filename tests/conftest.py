"""Test layout: ``tests/bot`` runs in the Rasa environment, everything else in the main one."""

from __future__ import annotations

import importlib.util

# The NLU components and the custom channel need Rasa (Python 3.10, .venv-rasa);
# `make test-rasa` runs them there. The main environment has only rasa-sdk.
collect_ignore = [] if importlib.util.find_spec("rasa") else ["bot"]
