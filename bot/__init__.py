"""Leaf & Bean bot: Rasa-side code (custom NLU components in bot.nlu)."""
