"""Customer-success store and analytics for the Leaf & Bean support bot.

Packages, each importing only the ones listed before it (``lint-imports`` checks):
    core: settings, identity tokens, shared vocabulary, language detection, supervisor.
    store: the database (SQLAlchemy models, Alembic migrations, catalogue, CSV import).
    brain: features, segments, churn, CLV, health, recommendations, sentiment, offers.
    loop: conversation ingest, privacy, live risk, NLU export, retention, the scheduler.
    demo: the deterministic demo-shop generator.

``analytics.cli`` is the ``leafbean`` command (also ``python -m analytics``).
"""
