"""Founder alerts: the rules that raise them, their text, and the dispatcher that sends them.

* :mod:`.rules`: called by the ingest worker (:mod:`analytics.loop.ingest.store`) after
  each batch's live-risk update; files an alert and its deliveries (the outbox) in the
  ingest's transaction when a high-value customer shows cancel intent, asks for a person,
  writes angrily or their live risk rises to high (de-duplicated per conversation,
  rate-limited overall).
* :mod:`.message`: the alert's bilingual plain text.
* :mod:`.notifiers`: one module per channel (Telegram, Slack, WeCom, Feishu, DingTalk,
  e-mail, a signed webhook) behind one interface.
* :mod:`.dispatch`: sends pending deliveries with retries and back-off;
  ``python -m analytics.loop.alerts`` runs it (Procfile ``alerts``).

docs/alerts.md explains it for the founder.
"""
