"""Benchmarks of the privacy code (redaction time on adversarial text)."""
