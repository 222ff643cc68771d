"""Link codes (analytics.core.identity.sign_link_code): the shared vectors, format and limits."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analytics.core.identity import (
    LINK_CODE_MAX_CHARS,
    MAX_TTL_SECONDS,
    link_code,
    sign_link_code,
    telegram_bot_username,
    telegram_deep_link,
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


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    repo = Path(__file__).resolve().parents[3]
    environ = {**os.environ, "PYTHONPATH": str(repo), **env}
    environ.setdefault("TELEGRAM_BOT_USERNAME", "")
    return subprocess.run(
        [sys.executable, "-m", "analytics", "link-code", *args],
        cwd=repo, env=environ, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_cli_prints_a_code_the_bot_accepts_its_expiry_and_the_telegram_link() -> None:
    from bot.channels.identity import verify_link_code  # stdlib only: the bot's twin

    before = time.time()
    done = _cli(
        "cus_0001", IDENTITY_SECRET="cli-secret", TELEGRAM_BOT_USERNAME="@leafbean_bot",
        LINK_CODE_TTL_S="600",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    code = lines[0]
    assert CODE_RE.fullmatch(code)
    assert verify_link_code(code, ("cli-secret",)) == "cus_0001"
    assert verify_link_code(code, ("other",)) is None
    assert verify_link_code(code, ("cli-secret",), before + 601) is None  # LINK_CODE_TTL_S
    assert verify_link_code(code, ("cli-secret",), before + 590) == "cus_0001"
    assert any(line.startswith("expires: ") for line in lines)
    assert f"telegram: https://t.me/leafbean_bot?start={code}" in lines
    assert "cli-secret" not in done.stdout


def test_cli_without_telegram_or_secret() -> None:
    done = _cli("cus_0001", IDENTITY_SECRET="cli-secret", TELEGRAM_BOT_USERNAME="")
    assert done.returncode == 0 and "t.me" not in done.stdout
    bad = _cli("x" * 40, IDENTITY_SECRET="cli-secret")
    assert bad.returncode == 2 and "error:" in bad.stderr


@pytest.mark.parametrize(
    ("value", "expected"),
    [("leafbean_bot", "leafbean_bot"), ("@LeafBeanBot", "LeafBeanBot"), ("", None),
     ("bad name", None), ("a/../b", None), ("x" * 40, None), ("1abcdef", None)],
)  # fmt: skip
def test_only_valid_telegram_user_names_make_a_link(value: str, expected: str | None) -> None:
    assert telegram_bot_username(value) == expected
    if expected:
        assert telegram_deep_link(expected, "abc") == f"https://t.me/{expected}?start=abc"
