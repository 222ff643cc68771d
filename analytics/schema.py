"""The complete schema: imports every module that defines tables on ``Base``.

Alembic's environment and the schema tests use :data:`metadata` from here, so a
new model module only needs one line below to be migrated and checked.
"""

from __future__ import annotations

import web.console.models  # noqa: F401  (console tables live in the same store)
from analytics import live_risk, models, offers, scores  # noqa: F401
from analytics.ingest import checkpoint, dead_letter  # noqa: F401  (conversation loop tables)

metadata = models.Base.metadata
