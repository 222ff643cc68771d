"""Alembic environment of the customer-success store.

The URL comes from the Alembic config (set by :func:`analytics.store.db.alembic_config`) or,
when run through the ``alembic`` command line without one, from ``SHOP_DATABASE_URL``.
A caller may also pass an open connection as ``config.attributes["connection"]``.
"""

from __future__ import annotations

import logging

from alembic import context
from sqlalchemy.engine import Connection

from analytics.core.settings import get_settings
from analytics.store.db import make_engine
from analytics.store.schema import metadata

logger = logging.getLogger(__name__)

config = context.config
target_metadata = metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    return url or get_settings().database_url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of executing it."""
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=_url().startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on a live connection."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
