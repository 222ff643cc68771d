"""Benchmarks of the customer-success brain (``python -m bench.brain.<name>``)."""
