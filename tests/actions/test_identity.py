"""Identity: only a valid HMAC of the id makes a customer known."""

from __future__ import annotations

import hashlib
import hmac

from actions.identity import customer_hash, verified_customer_id


def test_hash_is_the_hex_hmac_sha256_of_the_id() -> None:
    expected = hmac.new(b"k3y", b"cus_0001", hashlib.sha256).hexdigest()
    assert customer_hash("cus_0001", "k3y") == expected
    # a published HMAC-SHA256 test vector (RFC 4231 case 2)
    assert (
        customer_hash("what do ya want for nothing?", "Jefe")
        == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_valid_hash_verifies_and_is_case_insensitive() -> None:
    good = customer_hash("cus_0001", "s")
    assert (
        verified_customer_id({"customer_id": "cus_0001", "customer_hash": good}, "s") == "cus_0001"
    )
    assert (
        verified_customer_id({"customer_id": "cus_0001", "customer_hash": good.upper()}, "s")
        == "cus_0001"
    )


def test_anything_else_is_anonymous() -> None:
    good = customer_hash("cus_0001", "s")
    assert verified_customer_id(None, "s") is None
    assert verified_customer_id({}, "s") is None
    assert verified_customer_id({"customer_id": "cus_0001"}, "s") is None
    assert verified_customer_id({"customer_id": "cus_0002", "customer_hash": good}, "s") is None
    assert verified_customer_id({"customer_id": "cus_0001", "customer_hash": good}, "other") is None
    assert verified_customer_id({"customer_id": "cus_0001", "customer_hash": good}, None) is None
    assert verified_customer_id({"customer_id": 1, "customer_hash": good}, "s") is None
    assert verified_customer_id({"customer_id": "x" * 500, "customer_hash": good}, "s") is None
