"""Custom actions of the Leaf & Bean bot (served by ``python -m actions``).

One module per feature; :mod:`actions.base` holds the shared plumbing (verified customer,
language, database session, polite failure).
"""
