"""Database access for the action server: one sessionmaker per process.

The engine is created lazily on first use (never at import time), so importing
the actions is cheap and a wrong database URL shows up as a polite failure on
the first request instead of a crash at start-up.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy.orm import Session, sessionmaker

from actions.settings import get_settings
from analytics.store.db import make_engine, make_sessionmaker

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def get_sessionmaker() -> sessionmaker[Session]:
    """Returns the process-wide sessionmaker, creating the engine on first use."""
    url = get_settings().database_url
    logger.info("Connecting the action server to the store")
    return make_sessionmaker(make_engine(url))


@contextmanager
def session_scope() -> Iterator[Session]:
    """Yields a session that commits on success and rolls back on any error."""
    session = get_sessionmaker()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
