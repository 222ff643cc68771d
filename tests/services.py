"""The machine's real services that tests use, and stored-row helpers shared by several suites.

A missing service fails the test with how to start it: CI runs on a machine that has
PostgreSQL, RabbitMQ and Redis, so a skip there would hide a broken production path.
"""

from __future__ import annotations

import pika
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from analytics.store.models import Conversation, Message

RABBITMQ_START = "rabbitmq-server -detached"
POSTGRES_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def require_rabbitmq(host: str = "127.0.0.1") -> None:
    """Fails the current test unless RabbitMQ answers on ``host``:5672."""
    try:
        pika.BlockingConnection(pika.ConnectionParameters(host, connection_attempts=1)).close()
    except Exception as error:  # noqa: BLE001 - any failure means: not reachable
        pytest.fail(
            f"RabbitMQ is not reachable on {host}:5672 ({error!r}); start it: {RABBITMQ_START}"
        )


def fail_without_postgres(error: object) -> None:
    """Fails the current test: the local PostgreSQL server is needed."""
    pytest.fail(
        f"PostgreSQL is not reachable on 127.0.0.1:5432 ({error}); start it: {POSTGRES_START}"
    )


def stored_messages(engine: Engine, sender: str) -> list[Message]:
    """The stored messages of one Rasa sender id, oldest first."""
    with Session(engine) as session:
        return list(
            session.scalars(
                select(Message)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Conversation.sender_id == sender)
                .order_by(Message.created_at)
            )
        )
