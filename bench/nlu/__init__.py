"""NLU benchmarks: pipelines, datasets, metrics and the bot's own data (run in the Rasa env)."""
