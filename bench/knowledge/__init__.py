"""Knowledge-base retrieval benchmark: hand-written bilingual questions over knowledge/ (issue 15)."""
