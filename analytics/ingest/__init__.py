"""The conversation loop's ingest worker: Rasa events into the customer-success store.

* :mod:`analytics.ingest.mapping`: a Rasa event to a message (idempotency key, the customer
  the door verified on it).
* :mod:`analytics.ingest.clean`: what no store takes (NUL, control characters, lone
  surrogates, NaN) cleaned out first.
* :mod:`analytics.ingest.store`: conversations, redacted messages with sentiment, live risk.
* :mod:`analytics.ingest.writer`: one transaction per batch, each event on its own (a failed
  event is dead-lettered, the rest stored).
* :mod:`analytics.ingest.errors`: a poison event versus a store that is down; back-off.
* :mod:`analytics.ingest.dead_letter`: the dead-letter and id-gap tables.
* :mod:`analytics.ingest.sql_source`: the SQL event-broker poller (embedded default; no id
  skipped).
* :mod:`analytics.ingest.rabbitmq`: the RabbitMQ consumer with manual acks (production).
* :mod:`analytics.ingest.checkpoint`: where each source has got to.

Run it with ``python -m analytics.ingest --source sql|rabbitmq`` (see ``docs/loop.md``).
"""
