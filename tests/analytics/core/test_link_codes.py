"""Link codes (analytics.core.identity.sign_link_code): the shared vectors, format and limits."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from analytics.core.identity import (
    LINK_CODE_MAX_CHARS,
    MAX_TTL_SECONDS,
    link_code,
    sign_link_code,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "fixtures" / "link_vectors.json").read_text()
)
CODE_RE = re.compile(r"[A-Za-z0-9_-]{17,64}")


@pytest.mark.parametrize("case", VECTORS["sign"], ids=lambda c: c["customer_id"])
def test_signing_matches_the_vectors(case: dict) -> None:
    assert sign_link_code(case["customer_id"], case["expires_at"], case["secret"]) == case["code"]


def test_codes_fit_telegram_start_parameters() -> None:
    for case in VECTORS["sign"]:
        assert CODE_RE.fullmatch(case["code"])
    code = sign_link_code("x" * 25, 9_999_999_999, "s")
    assert len(code) <= LINK_CODE_MAX_CHARS and CODE_RE.fullmatch(code)


@pytest.mark.parametrize("customer_id", ["", "a|b", "x" * 26, "王" * 10, "cus_\ud800"], ids=repr)
def test_unsignable_ids_are_refused(customer_id: str) -> None:
    with pytest.raises(ValueError):
        sign_link_code(customer_id, 1_767_226_500, "s")


def test_link_code_helper_uses_the_lifetime() -> None:
    made = link_code("cus_0001", VECTORS["secret"], ttl_seconds=900, now=VECTORS["now"])
    assert made.expires_at == VECTORS["now"] + 900
    assert made.code == VECTORS["sign"][0]["code"]
    for ttl in (0, -1, MAX_TTL_SECONDS + 1):
        with pytest.raises(ValueError):
            link_code("cus_0001", "s", ttl_seconds=ttl)


def test_different_secrets_give_different_codes() -> None:
    now = VECTORS["now"]
    assert link_code("cus_0001", "a", now=now).code != link_code("cus_0001", "b", now=now).code
