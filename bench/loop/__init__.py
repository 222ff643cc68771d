"""Benchmarks of the conversation loop (ingest throughput and lag, churn uplift)."""
