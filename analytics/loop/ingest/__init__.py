"""The conversation loop's ingest worker: Rasa events into the customer-success store.

* :mod:`analytics.loop.ingest.mapping`: a Rasa event to a message (idempotency key, the customer
  the door verified on it).
* :mod:`analytics.loop.ingest.clean`: what no store takes (NUL, control characters, lone
  surrogates, NaN) cleaned out first.
* :mod:`analytics.loop.ingest.store`: conversations, redacted messages with sentiment, live risk.
* :mod:`analytics.loop.ingest.writer`: one transaction per batch, each event on its own (a failed
  event is dead-lettered, the rest stored).
* :mod:`analytics.loop.ingest.errors`: a poison event versus a store that is down; back-off.
* :mod:`analytics.loop.ingest.dead_letter`: the dead-letter and id-gap tables.
* :mod:`analytics.loop.ingest.sql_source`: the SQL event-broker poller (embedded default; no id
  skipped).
* :mod:`analytics.loop.ingest.rabbitmq`: the RabbitMQ consumer with manual acks (production).
* :mod:`analytics.loop.ingest.checkpoint`: where each source has got to.

Run it with ``python -m analytics.loop.ingest --source sql|rabbitmq`` (see ``docs/loop.md``).
"""
