"""End-to-end answering benchmark: the bot's NLU routing plus the knowledge action's decision."""
