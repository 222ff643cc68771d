"""bot.channels.identity.verify_link_code: the twin of sign_link_code, on the shared vectors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.channels.identity import sign_link_code, verify_link_code

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "fixtures" / "link_vectors.json").read_text()
)
SECRETS = (VECTORS["secret"], VECTORS["demo_secret"])


@pytest.mark.parametrize("case", VECTORS["sign"], ids=lambda c: c["customer_id"])
def test_signing_twin_matches_the_vectors(case: dict) -> None:
    assert sign_link_code(case["customer_id"], case["expires_at"], case["secret"]) == case["code"]


@pytest.mark.parametrize("case", VECTORS["verify"], ids=lambda c: c["name"])
def test_verification_matches_the_vectors(case: dict) -> None:
    assert verify_link_code(case["code"], SECRETS, VECTORS["now"]) == case["expect"]


def test_only_the_listed_secrets_verify() -> None:
    valid = VECTORS["verify"][0]["code"]
    demo = next(c["code"] for c in VECTORS["verify"] if c["name"] == "demo secret")
    now = VECTORS["now"]
    assert verify_link_code(valid, (VECTORS["secret"],), now) == "cus_0001"
    assert verify_link_code(demo, (VECTORS["secret"],), now) is None
    assert verify_link_code(valid, (), now) is None
    assert verify_link_code(valid, ("",), now) is None


@pytest.mark.parametrize(
    "code", [None, 42, b"bytes", ["list"], "\x00" * 20, "A" * 10_000, "\ud800" * 40], ids=repr
)
def test_garbage_never_raises(code: object) -> None:
    assert verify_link_code(code, SECRETS, VECTORS["now"]) is None
