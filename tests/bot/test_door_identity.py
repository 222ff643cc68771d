"""The doors' identity check (``bot/channels/identity.py``) in the Rasa environment.

Held to the same test vectors as ``analytics/core/identity.py``; the doors strip every identity
key and keep only their own verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.channels.identity import (
    IDENTITY_KEYS,
    MAX_TTL_SECONDS,
    VERIFIED_KEY,
    accept_legacy_from_env,
    legacy_hash,
    sanitize_metadata,
    secrets_from_env,
    sign_token,
    verify_claim,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "identity_vectors.json").read_text()
)
SECRET = VECTORS["secret"]
NOW = VECTORS["now"]


def signed(customer_id: str, secret: str = SECRET, ttl: int = 3600) -> dict[str, Any]:
    """The metadata a host website sends for ``customer_id``."""
    expires_at = NOW + ttl
    return {
        "customer_id": customer_id,
        "expires_at": expires_at,
        "customer_token": sign_token(customer_id, expires_at, secret),
    }


def test_signing_matches_the_vectors() -> None:
    for case in VECTORS["sign"]:
        assert sign_token(case["customer_id"], case["expires_at"], SECRET) == case["token"]
        assert legacy_hash(case["customer_id"], SECRET) == case["legacy_hash"]


@pytest.mark.parametrize("case", VECTORS["verify"], ids=lambda c: c["name"])
def test_verification_matches_the_vectors(case: dict) -> None:
    got = verify_claim(case["metadata"], SECRET, now=NOW, accept_legacy=case["accept_legacy"])
    assert got == case["expect"]


@pytest.mark.parametrize("case", VECTORS["verify"], ids=lambda c: c["name"])
def test_sanitizing_matches_the_vectors_and_strips_every_identity_key(case: dict) -> None:
    raw = case["metadata"]
    clean = sanitize_metadata(raw, secrets=[SECRET], accept_legacy=case["accept_legacy"], now=NOW)
    assert clean.get(VERIFIED_KEY) == case["expect"]
    assert not (set(clean) & (IDENTITY_KEYS - {VERIFIED_KEY}))
    if case["expect"] is None:
        assert VERIFIED_KEY not in clean


def test_malformed_claims_never_raise() -> None:
    hostile: list[Any] = [
        {"customer_id": "\udc80", "expires_at": NOW + 60, "customer_token": "a" * 64},
        {"customer_id": "\udc80", "customer_hash": "a" * 64},
        {"customer_id": "cus_0001", "expires_at": 10**400, "customer_token": "a" * 64},
        {"customer_id": "cus_0001", "expires_at": -1, "customer_token": "é" * 64},
        {"customer_id": ["cus_0001"], "customer_token": {"x": 1}},
        "customer_id=cus_0001",
        42,
        None,
    ]
    for raw in hostile:
        assert verify_claim(raw, SECRET, now=NOW, accept_legacy=True) is None
        assert VERIFIED_KEY not in sanitize_metadata(
            raw, secrets=[SECRET], accept_legacy=True, now=NOW
        )


def test_other_metadata_is_kept_and_a_forged_verdict_is_removed() -> None:
    raw = {**signed("cus_0002"), "display_text": "转人工", "client_id": "m1"}
    assert sanitize_metadata(raw, secrets=[SECRET], accept_legacy=False, now=NOW) == {
        "display_text": "转人工",
        "client_id": "m1",
        VERIFIED_KEY: "cus_0002",
    }
    forged = {VERIFIED_KEY: "cus_0001", "customer_id": "cus_0001", "note": "x"}
    assert sanitize_metadata(forged, secrets=[SECRET], accept_legacy=True, now=NOW) == {"note": "x"}
    # A valid claim of one customer cannot carry another's forged verdict.
    mixed = {**signed("cus_0002"), VERIFIED_KEY: "cus_0001"}
    assert sanitize_metadata(mixed, secrets=[SECRET], accept_legacy=False, now=NOW) == {
        VERIFIED_KEY: "cus_0002"
    }


def test_expired_and_overlong_tokens_are_refused() -> None:
    expired = signed("cus_0001", ttl=-1)
    assert verify_claim(expired, SECRET, now=NOW) is None
    too_long = signed("cus_0001", ttl=MAX_TTL_SECONDS + 1)
    assert verify_claim(too_long, SECRET, now=NOW) is None
    assert verify_claim(signed("cus_0001", ttl=MAX_TTL_SECONDS), SECRET, now=NOW) == "cus_0001"


def test_the_demo_secret_verifies_too_but_only_when_set() -> None:
    demo = signed("cus_0003", secret="demo-secret")
    both = secrets_from_env({"IDENTITY_SECRET": SECRET, "DEMO_IDENTITY_SECRET": "demo-secret"})
    assert both == (SECRET, "demo-secret")
    clean = sanitize_metadata(demo, secrets=both, accept_legacy=False, now=NOW)
    assert clean == {VERIFIED_KEY: "cus_0003"}
    only = secrets_from_env({"IDENTITY_SECRET": SECRET, "DEMO_IDENTITY_SECRET": ""})
    assert only == (SECRET,)
    assert sanitize_metadata(demo, secrets=only, accept_legacy=False, now=NOW) == {}
    assert secrets_from_env({}) == ()
    assert sanitize_metadata(signed("cus_0001"), secrets=(), accept_legacy=True, now=NOW) == {}


def test_the_legacy_hash_needs_the_setting() -> None:
    raw = {"customer_id": "cus_0001", "customer_hash": legacy_hash("cus_0001", SECRET)}
    assert sanitize_metadata(raw, secrets=[SECRET], accept_legacy=False, now=NOW) == {}
    assert sanitize_metadata(raw, secrets=[SECRET], accept_legacy=True, now=NOW) == {
        VERIFIED_KEY: "cus_0001"
    }
    assert not accept_legacy_from_env({})
    assert not accept_legacy_from_env({"IDENTITY_ACCEPT_LEGACY_HASH": "off"})
    assert accept_legacy_from_env({"IDENTITY_ACCEPT_LEGACY_HASH": "on"})
    assert accept_legacy_from_env({"IDENTITY_ACCEPT_LEGACY_HASH": "True"})
