"""The web app: demo shop page with the chat widget, and the founder's console."""
