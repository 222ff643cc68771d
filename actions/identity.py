"""Customer identity: HMAC-SHA256 of the customer id with a shared secret.

The host website, which knows who is signed in, computes
``hex(HMAC-SHA256(IDENTITY_SECRET, customer_id))`` and sends it with every
message as metadata ``customer_hash``. Only a message that carries a valid hash
is treated as coming from that customer.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

logger = logging.getLogger(__name__)

METADATA_CUSTOMER_ID = "customer_id"
METADATA_CUSTOMER_HASH = "customer_hash"
MAX_ID_LENGTH = 128


def customer_hash(customer_id: str, secret: str) -> str:
    """Computes the identity hash a host website sends for a customer.

    Args:
        customer_id: The customer's external id (as in the store).
        secret: The shared ``IDENTITY_SECRET``.

    Returns:
        The lowercase hex HMAC-SHA256 digest.
    """
    return hmac.new(secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()


def verified_customer_id(metadata: dict[str, Any] | None, secret: str | None) -> str | None:
    """Returns the customer id from message metadata if its hash is valid.

    Args:
        metadata: The message metadata (may be None or carry anything).
        secret: The shared secret; without one nobody can be verified.

    Returns:
        The verified customer id, or None for an anonymous or forged message.
    """
    if not metadata or not secret:
        return None
    customer_id = metadata.get(METADATA_CUSTOMER_ID)
    given = metadata.get(METADATA_CUSTOMER_HASH)
    if not isinstance(customer_id, str) or not isinstance(given, str):
        return None
    if not customer_id or len(customer_id) > MAX_ID_LENGTH:
        return None
    expected = customer_hash(customer_id, secret)
    if hmac.compare_digest(expected, given.strip().lower()):
        return customer_id
    logger.warning("Rejected an invalid identity hash for customer id %r", customer_id)
    return None
