"""Identity tokens: the shared test vectors, expiry, and malformed claims never raise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analytics.core.identity import (
    CLAIM_KEYS,
    IDENTITY_KEYS,
    MAX_TTL_SECONDS,
    VERIFIED_KEY,
    identity_metadata,
    legacy_hash,
    secrets_equal,
    sign_token,
    verified_customer_id,
    verify_claim,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "fixtures" / "identity_vectors.json").read_text()
)


def test_signing_matches_the_vectors() -> None:
    secret = VECTORS["secret"]
    for case in VECTORS["sign"]:
        assert sign_token(case["customer_id"], case["expires_at"], secret) == case["token"]
        assert legacy_hash(case["customer_id"], secret) == case["legacy_hash"]


@pytest.mark.parametrize("case", VECTORS["verify"], ids=lambda c: c["name"])
def test_verification_matches_the_vectors(case: dict) -> None:
    got = verify_claim(
        case["metadata"], VECTORS["secret"], now=VECTORS["now"], accept_legacy=case["accept_legacy"]
    )
    assert got == case["expect"]


def test_legacy_hash_is_rfc_4231_hmac_sha256() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    assert (
        legacy_hash("what do ya want for nothing?", "Jefe")
        == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_metadata_round_trip_and_expiry() -> None:
    metadata = identity_metadata("cus_0001", "s", ttl_seconds=60, now=1000.0)
    assert metadata["expires_at"] == 1060
    assert verify_claim(metadata, "s", now=1059) == "cus_0001"
    assert verify_claim(metadata, "s", now=1060) is None
    assert verify_claim(metadata, "other secret", now=1000) is None
    assert verify_claim(metadata, None, now=1000) is None


def test_bad_lifetimes_and_ids_are_refused_when_signing() -> None:
    with pytest.raises(ValueError):
        identity_metadata("", "s")
    with pytest.raises(ValueError):
        identity_metadata("cus_0001", "s", ttl_seconds=MAX_TTL_SECONDS + 1)
    with pytest.raises(ValueError):
        identity_metadata("cus_0001", "s", ttl_seconds=0)


def test_only_the_doors_verdict_counts_downstream() -> None:
    assert verified_customer_id({"verified_customer_id": "cus_0001"}) == "cus_0001"
    assert verified_customer_id({"customer_id": "cus_0001", "customer_hash": "x"}) is None
    assert verified_customer_id({"verified_customer_id": 7}) is None
    assert verified_customer_id(None) is None


def test_identity_cli_prints_one_line_of_verifiable_json() -> None:
    repo = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(repo), "IDENTITY_SECRET": "cli-secret"}
    result = subprocess.run(
        [sys.executable, "-m", "analytics", "identity", "cus_0001"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    metadata = json.loads(lines[0])
    assert set(metadata) == {"customer_id", "expires_at", "customer_token"}
    assert verify_claim(metadata, "cli-secret") == "cus_0001"
    assert verify_claim(metadata, "other-secret") is None
    bad = subprocess.run(
        [sys.executable, "-m", "analytics", "identity", "x" * 200],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "error:" in bad.stderr


def test_secrets_are_compared_over_bytes() -> None:
    # The action server's token check (moved from tests/actions/test_server.py).
    assert secrets_equal("s3cret", "s3cret")
    assert not secrets_equal("s3cre", "s3cret")
    assert not secrets_equal(None, "s3cret")
    assert not secrets_equal(["s3cret"], "s3cret")
    assert not secrets_equal("\ud800", "s3cret")  # a lone surrogate never raises
    assert not secrets_equal("é", "s3cret")


@pytest.mark.parametrize("expected", ["", None])
def test_an_unset_secret_matches_nothing(expected: str | None) -> None:
    for given in ("", None, "x", b"", 0):
        assert not secrets_equal(given, expected)


@pytest.mark.parametrize(
    "secret", ["é-clé", "茶叶", "\ud800tail", "\udcff", "a\x00b", "x" * 10_000]
)
def test_any_text_matches_itself_and_only_itself(secret: str) -> None:
    assert secrets_equal(secret, secret)
    assert secrets_equal(str(secret), secret), "equal text, not the same object"
    for other in (secret[:-1], secret + "\ud800", secret.upper() + "Z", "", b"x"):
        assert not secrets_equal(other, secret)
    assert not secrets_equal(secret.encode("utf-8", "surrogatepass"), secret), "bytes are no str"


def test_surrogates_do_not_collide_with_other_text() -> None:
    # With "replace" or "ignore" these would all encode alike; over surrogatepass they differ.
    assert not secrets_equal("\ud800", "\udc00")
    assert not secrets_equal("\ud800", "?")
    assert not secrets_equal("a\ud800", "a")
    assert secrets_equal("\ud83c\udf75", "\ud83c\udf75")
    assert not secrets_equal("\ud83c\udf75", "\U0001f375"), "a surrogate pair is not the char"


def test_digests_match_in_any_case_only_when_well_formed() -> None:
    token = sign_token("cus_0001", 1_900_000_000, "k")
    meta = {"customer_id": "cus_0001", "expires_at": 1_900_000_000}
    now = 1_900_000_000 - 60
    assert verify_claim({**meta, "customer_token": f" {token.upper()} "}, "k", now=now)
    assert verify_claim({**meta, "customer_token": token + "\ud800"}, "k", now=now) is None
    assert verify_claim({**meta, "customer_token": token * 3}, "k", now=now) is None


def test_identity_keys_are_the_claim_and_the_verdict() -> None:
    assert CLAIM_KEYS == {"customer_id", "expires_at", "customer_token", "customer_hash"}
    assert IDENTITY_KEYS == CLAIM_KEYS | {VERIFIED_KEY}
    assert VERIFIED_KEY not in CLAIM_KEYS
    assert isinstance(IDENTITY_KEYS, frozenset)
    metadata = identity_metadata("cus_0001", "k", now=0)
    assert set(metadata) <= CLAIM_KEYS
