"""A WeCom callback cannot make the web app slow: the safe XML parser is linear whatever the
body (64 KB of one-character lines used to cost seconds), a malformed or stale signature is
refused before the body is read, and parsing runs off the event loop (the console answers
while bodies are parsed)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from tests.web.founder_hooks_support import Hooks, founder_apps, hooks
from web.founder_hooks.door import MAX_BODY_BYTES
from web.founder_hooks.safexml import XMLError, parse_flat_xml

__all__ = ["founder_apps", "hooks"]  # fixtures

pytestmark = pytest.mark.channels

#: How much slower than a plain body of the same size a pathological one may be.
MAX_RATIO = 20
FILLERS = (b"\n", b"a\n", b"&amp;", b"&#10;", b"<![CDATA[x]]>")


def body_of(filler: bytes, size: int = MAX_BODY_BYTES) -> bytes:
    """``<xml><Encrypt>filler...</Encrypt></xml>`` of about ``size`` bytes."""
    head, tail = b"<xml><Encrypt>", b"</Encrypt></xml>"
    return head + filler * ((size - len(head) - len(tail)) // len(filler)) + tail


def fastest(run: Callable[[], object], times: int = 3) -> float:
    """The best of ``times`` timings of ``run`` (errors included)."""
    best = float("inf")
    for _ in range(times):
        start = time.perf_counter()
        try:
            run()
        except XMLError:
            pass
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("filler", FILLERS, ids=["nl", "a-nl", "amp", "charref", "cdata"])
def test_the_parser_is_linear_on_pathological_text(filler: bytes) -> None:
    plain = body_of(b"a")
    hostile = body_of(filler)
    assert len(hostile) <= MAX_BODY_BYTES
    baseline = fastest(lambda: parse_flat_xml(plain))
    took = fastest(lambda: parse_flat_xml(hostile))
    assert took < MAX_RATIO * baseline + 0.005, (filler, took, baseline)


def test_text_over_the_limit_is_still_refused() -> None:
    with pytest.raises(XMLError):
        parse_flat_xml(body_of(b"a\n"))  # 32 000 lines: over MAX_TEXT_CHARS
    assert parse_flat_xml(b"<xml><A>a\nb</A></xml>") == {"A": "a\nb"}


def test_a_malformed_signature_is_refused_before_the_body_is_read(hooks: Hooks) -> None:
    before = hooks.counts()
    hostile = body_of(b"a\n")
    for query in (
        "msg_signature=x&timestamp=1&nonce=1",
        f"msg_signature={'f' * 40}&timestamp=1&nonce=1",  # stale
        f"msg_signature={'g' * 40}&timestamp={int(time.time())}&nonce=1",  # not hex
    ):
        response = hooks.client.post(f"/founder/hooks/wecom?{query}", content=hostile)
        assert response.status_code == 403, query
    hooks.nothing_happened(before)


def test_a_pathological_body_costs_no_more_than_a_plain_one(hooks: Hooks) -> None:
    before = hooks.counts()
    params = hooks.wecom.signed_params("whatever")  # well-formed, fresh, wrong signature

    def post(body: bytes) -> Callable[[], object]:
        return lambda: hooks.client.post("/founder/hooks/wecom", params=params, content=body)

    baseline = fastest(post(b"<xml><Encrypt>abc</Encrypt></xml>"))
    for filler in FILLERS:
        took = fastest(post(body_of(filler)))
        assert took < MAX_RATIO * baseline + 0.02, (filler, took, baseline)
    hooks.nothing_happened(before)


def test_the_console_answers_while_bodies_are_parsed(hooks: Hooks) -> None:
    params = hooks.wecom.signed_params("whatever")
    hostile = body_of(b"a\n")

    def login() -> float:
        start = time.perf_counter()
        assert hooks.client.get("/console/login").status_code == 200
        return time.perf_counter() - start

    baseline = min(login() for _ in range(5))
    stop = threading.Event()

    def flood() -> None:
        while not stop.is_set():
            hooks.client.post("/founder/hooks/wecom", params=params, content=hostile)

    workers = [threading.Thread(target=flood, daemon=True) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        during = sorted(login() for _ in range(10))
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=10)
    assert during[len(during) // 2] < MAX_RATIO * baseline + 0.05, (during, baseline)
