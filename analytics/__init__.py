"""Customer-success store and analytics for the Leaf & Bean support bot.

Modules:
    settings: configuration from environment variables and ``.env``.
    db: engine/session factories and Alembic migration helpers.
    models: the SQLAlchemy models of the store (see ``docs/architecture.md``).
    repo: data functions called by the action server.
    generator: the deterministic demo-shop generator.
    demo: constants for the four demo customers.
    nlu_export: generation of the NLU lookup table and the jieba user dictionary.
"""
