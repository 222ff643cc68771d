"""Custom Rasa input channels (Rasa environment): ``bot.channels.widget.WidgetInput``."""
