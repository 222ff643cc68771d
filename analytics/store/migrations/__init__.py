"""Alembic migrations of the store (``python -m analytics migrate``)."""
