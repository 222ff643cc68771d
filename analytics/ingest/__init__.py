"""The conversation loop's ingest worker: Rasa events into the customer-success store.

* :mod:`analytics.ingest.mapping`: a Rasa event to a message (idempotency key, identity).
* :mod:`analytics.ingest.writer`: redaction, sentiment, batch writes, live risk.
* :mod:`analytics.ingest.sql_source`: the SQL event-broker poller (embedded default).
* :mod:`analytics.ingest.rabbitmq`: the RabbitMQ consumer with manual acks (production).
* :mod:`analytics.ingest.checkpoint`: where each source has got to.

Run it with ``python -m analytics.ingest --source sql|rabbitmq`` (see ``docs/loop.md``).
"""
