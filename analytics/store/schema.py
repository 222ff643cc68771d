"""The complete schema: every table of the store, for Alembic and the schema tests.

All tables live in :mod:`analytics.store.models` (the console's too), so this module has
nothing to gather: it only names the metadata Alembic's environment migrates.
"""

from __future__ import annotations

from analytics.store.models import Base

metadata = Base.metadata
