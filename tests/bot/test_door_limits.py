"""The doors' limits (``bot/channels/limits.py``, ``bot/channels/door.py``), without a server.

Every hostile input the issue lists, the sliding windows with a fake clock, bounded memory
under a flood of distinct senders, and client addresses behind trusted proxies.
"""

from __future__ import annotations

import json
import tracemalloc

from bot.channels.door import (
    Prepared,
    is_valid_sender,
    parse_json_body,
    prepare_message,
    reserved_sender,
)
from bot.channels.hygiene import clean_metadata, clean_text
from bot.channels.identity import VERIFIED_KEY, sign_token
from bot.channels.limits import (
    DoorGuard,
    DoorLimits,
    InFlight,
    RateWindow,
    Refusal,
    client_address,
    parse_networks,
    parse_origins,
    rate_key,
    too_long_message,
)
from bot.channels.names import MESSAGING_CHANNELS

LIMITS = DoorLimits()
SECRET = "door-secret"
NOW = 1_767_225_600


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def prepare(text: object, metadata: object = None) -> Prepared | Refusal:
    return prepare_message(text, metadata, LIMITS, secrets=[SECRET], accept_legacy=False, now=NOW)


# -- text and metadata ------------------------------------------------------------------------
def test_control_characters_and_lone_surrogates_are_removed() -> None:
    assert clean_text("a\x00b\x07c\x1b[31md\x7f\x85e\x9f") == "abc[31mde"
    assert clean_text("line 1\r\nline 2\rline 3\tend") == "line 1\nline 2\nline 3\tend"
    assert clean_text("\ud800hi\udfff") == "hi"
    assert clean_text("e\u0301") == "\u00e9"  # NFC
    assert clean_text("我的订单 😀") == "我的订单 😀"
    cleaned = clean_text("x\ud83d\x00y")
    assert cleaned == "xy" and cleaned.encode("utf-8")


def test_metadata_strings_are_cleaned_and_depth_is_bounded() -> None:
    assert clean_metadata({"a\x00": ["\ud800x", {"k": "v\x01"}], "n": 1.5, "b": None}) == {
        "a": ["x", {"k": "v"}],
        "n": 1.5,
        "b": None,
    }
    deep: object = "x"
    for _ in range(20):
        deep = [deep]
    assert isinstance(prepare("hi", {"deep": deep}), Refusal)
    assert isinstance(prepare("hi", {"nan": float("nan")}), Refusal)


def test_hostile_texts() -> None:
    for empty in ("", "   ", "\x00\x01", "\ud800", None):
        refusal = prepare(empty)
        assert isinstance(refusal, Refusal) and (refusal.status, refusal.error) == (400, "empty")
    for not_text in (42, ["hi"], {"$gt": ""}, True):
        refusal = prepare(not_text)
        assert isinstance(refusal, Refusal)
        assert (refusal.status, refusal.error) == (400, "bad_message")
    emoji = prepare("😀🙏🏽👨‍👩‍👧")
    assert isinstance(emoji, Prepared) and emoji.text == "😀🙏🏽👨‍👩‍👧"
    for text in ("x" * 2001, "x" * 100_000, "字" * 2001):
        refusal = prepare(text)
        assert isinstance(refusal, Refusal)
        assert (refusal.status, refusal.error, refusal.limit) == (413, "too_long", 2000)
        assert refusal.message == too_long_message(2000)
        assert "最多 2000 字" in refusal.message and "2,000 characters" in refusal.message
    assert isinstance(prepare("x" * 2000), Prepared)
    # Control characters do not count against the limit; they are gone.
    padded = prepare("x" * 2000 + "\x00" * 10)
    assert isinstance(padded, Prepared) and padded.text == "x" * 2000
    html = prepare("<script>alert(1)</script>'; DROP TABLE messages;--")
    assert isinstance(html, Prepared) and html.text.startswith("<script>")


def test_hostile_metadata() -> None:
    big = prepare("hi", {"blob": "x" * 2_000_000})
    assert isinstance(big, Refusal) and (big.status, big.error) == (413, "too_large")
    over = prepare("hi", {"blob": "x" * 4100})
    assert isinstance(over, Refusal) and over.error == "too_large"
    assert isinstance(prepare("hi", {"blob": "x" * 4000}), Prepared)
    for bad in (["a"], "not json", "[1]", 7):
        refusal = prepare("hi", bad)
        assert isinstance(refusal, Refusal) and refusal.error in ("bad_metadata", "too_large")
    as_string = prepare("hi", json.dumps({"display_text": "转人工"}))
    assert isinstance(as_string, Prepared) and as_string.metadata == {"display_text": "转人工"}


def test_identity_is_verified_and_every_claim_key_is_removed() -> None:
    expires = NOW + 3600
    token = sign_token("cus_0001", expires, SECRET)
    good = prepare(
        "hi", {"customer_id": "cus_0001", "expires_at": expires, "customer_token": token}
    )
    assert isinstance(good, Prepared) and good.metadata == {VERIFIED_KEY: "cus_0001"}
    assert good.customer_id == "cus_0001"
    forged = prepare(
        "hi", {"customer_id": "cus_0002", "expires_at": expires, "customer_token": token}
    )
    assert isinstance(forged, Prepared) and forged.metadata == {}
    expired_token = sign_token("cus_0001", NOW - 1, SECRET)
    expired = prepare(
        "hi", {"customer_id": "cus_0001", "expires_at": NOW - 1, "customer_token": expired_token}
    )
    assert isinstance(expired, Prepared) and expired.metadata == {}
    claimed = prepare("hi", {VERIFIED_KEY: "cus_0001", "customer_hash": "é", "x": 1})
    assert isinstance(claimed, Prepared) and claimed.metadata == {"x": 1}


def test_bodies() -> None:
    assert parse_json_body(b'{"sender": "s", "message": "hi"}', LIMITS) == {
        "sender": "s",
        "message": "hi",
    }
    cases = {
        b"\xff\xfe{}": (400, "bad_encoding"),
        b'{"message": "\xc3\x28"}': (400, "bad_encoding"),
        b"not json": (400, "bad_json"),
        b"[1, 2]": (400, "bad_json"),
        b"[" * 5000 + b"]" * 5000: (400, "bad_json"),
        b"{" + b" " * 20_000 + b"}": (413, "too_large"),
        bytes(range(256)): (400, "bad_encoding"),
    }
    for body, expected in cases.items():
        refusal = parse_json_body(body, LIMITS)
        assert isinstance(refusal, Refusal) and (refusal.status, refusal.error) == expected
    surrogate = parse_json_body(b'{"message": "\\ud800hi"}', LIMITS)
    assert isinstance(surrogate, dict)
    prepared = prepare(surrogate["message"])
    assert isinstance(prepared, Prepared) and prepared.text == "hi"


def test_sender_ids() -> None:
    for good in ("e2e-sender", "cus_0001:web", "会话 1", "a" * 128):
        assert is_valid_sender(good)
    for bad in (None, "", " x", "x ", "a" * 129, "a\x00b", "\ud800", 5, ["s"]):
        assert not is_valid_sender(bad)


def test_rest_senders_shaped_like_widget_sessions_are_reserved() -> None:
    widget = "0123456789abcdef0123456789abcdef"
    refusal = reserved_sender(widget)
    assert refusal is not None and (refusal.status, refusal.error) == (400, "reserved_sender")
    assert " / " in refusal.message
    for allowed in (widget.upper(), widget[:31], widget + "0", f"rest-{widget}", "e2e-sender"):
        assert reserved_sender(allowed) is None


def test_rest_senders_shaped_like_messaging_conversations_are_reserved() -> None:
    # Platform user ids are not secret: "telegram:<id>" over REST would write into (and
    # fetch the founder's replies of) that Telegram customer's conversation.
    for channel in MESSAGING_CHANNELS:
        for sender in (f"{channel}:12345", f"{channel.upper()}:x", f" {channel}:1"[1:]):
            refusal = reserved_sender(sender)
            assert refusal is not None and refusal.error == "reserved_sender", sender
    for allowed in ("telegram-12345", "cus_0001:web", "my telegram:1", "wechatpay:1"):
        assert reserved_sender(allowed) is None, allowed


def test_a_client_cannot_set_a_messaging_reply_address() -> None:
    prepared = prepare_message(
        "hi",
        {"channel_address": {"chat_id": 1}, "lang": "en"},
        DoorLimits.from_env({}),
        secrets=(),
        accept_legacy=False,
    )
    assert isinstance(prepared, Prepared)
    assert prepared.metadata == {"lang": "en"}


def test_refusals_read_as_json() -> None:
    refusal = Refusal(429, "rate_limited", "慢一点 / slow down", retry_after=3)
    assert refusal.body() == {
        "error": "rate_limited",
        "message": "慢一点 / slow down",
        "retry_after": 3,
    }


# -- rates --------------------------------------------------------------------------------------
def test_the_sliding_window_allows_the_limit_then_refuses_with_a_wait() -> None:
    clock = FakeClock()
    window = RateWindow(120, 60.0, clock=clock)
    assert all(window.hit("s") == 0 for _ in range(120))
    wait = window.hit("s")
    assert 1 <= wait <= 61  # the burst weighs on the next bucket until its first slot frees
    assert window.hit("other") == 0  # another sender is not affected
    clock.now += 30  # half a window later the burst still counts fully (same bucket)
    assert window.hit("s") > 0
    clock.now += 31  # 1 s into the next bucket the burst weighs 59/60: two slots are free
    assert [window.hit("s") == 0 for _ in range(3)] == [True, True, False]
    clock.now += 120  # two windows later: nothing left
    assert all(window.hit("s") == 0 for _ in range(120))


def test_the_wait_is_honest() -> None:
    clock = FakeClock()
    window = RateWindow(10, 60.0, clock=clock)
    for _ in range(10):
        window.hit("s")
    wait = window.hit("s")
    clock.now += wait - 1
    assert window.hit("s") > 0
    clock.now += 1
    assert window.hit("s") == 0


def test_a_flood_of_distinct_senders_keeps_memory_bounded() -> None:
    clock = FakeClock()
    window = RateWindow(120, 60.0, clock=clock, max_keys=1000)
    tracemalloc.start()
    for i in range(20_000):
        window.hit(f"sender-{i}")
    first, _ = tracemalloc.get_traced_memory()
    for i in range(20_000, 200_000):
        window.hit(f"sender-{i}")
    second, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(window) == 1000
    assert second - first < 200_000  # no growth with the number of senders
    clock.now += 121  # idle keys are evicted at the next hit
    window.hit("late")
    assert len(window) == 1


def test_in_flight_is_bounded_per_sender_and_overall() -> None:
    slots = InFlight(3, max_keys=2)
    assert [slots.acquire("a") for _ in range(4)] == [True, True, True, False]
    slots.release("a")
    assert slots.acquire("a")
    assert slots.acquire("b")
    assert not slots.acquire("c")  # table full: refused rather than grown
    for _ in range(3):
        slots.release("a")
    slots.release("b")
    assert len(slots) == 0
    slots.release("never")  # harmless
    assert len(slots) == 0


def test_the_guard_limits_a_flooding_sender_not_the_others() -> None:
    clock = FakeClock()
    guard = DoorGuard(DoorLimits(sender_in_flight=3, sender_per_minute=120), clock=clock)
    admitted = [guard.admit("flood", "203.0.113.9") for _ in range(10)]
    assert admitted[:3] == [None, None, None]
    refused = [r for r in admitted[3:] if r is not None]
    assert len(refused) == 7
    assert all(r.status == 429 and r.retry_after == 1 for r in refused)
    assert "稍等" in refused[0].message and "too fast" in refused[0].message
    assert guard.admit("customer", "198.51.100.7") is None
    guard.done("flood")
    assert guard.admit("flood", "203.0.113.9") is None


def test_the_address_limit_exempts_loopback_by_default() -> None:
    clock = FakeClock()
    guard = DoorGuard(DoorLimits(ip_per_minute=5), clock=clock)
    assert all(guard.check_address("127.0.0.1") is None for _ in range(50))
    assert all(guard.check_address("::1") is None for _ in range(50))
    assert all(guard.check_address("203.0.113.9") is None for _ in range(5))
    refusal = guard.check_address("203.0.113.9")
    assert refusal is not None and refusal.status == 429 and refusal.retry_after
    strict = DoorGuard(DoorLimits(ip_per_minute=5, exempt_loopback=False), clock=clock)
    assert [strict.check_address("127.0.0.1") is None for _ in range(6)][-1] is False


def test_ipv6_clients_are_counted_per_64() -> None:
    assert rate_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert rate_key("[2001:db8:1:2::ffff]") == "2001:db8:1:2::/64"
    assert rate_key("::ffff:203.0.113.9") == rate_key("203.0.113.9") == "203.0.113.9"
    assert rate_key("unknown") == "unknown"
    guard = DoorGuard(DoorLimits(ip_per_minute=5), clock=FakeClock())
    # One line hopping through the addresses of its /64 shares one limit ...
    answers = [guard.check_address(f"2001:db8:1:2::{i:x}") for i in range(1, 7)]
    assert answers[:5] == [None] * 5 and answers[5] is not None and answers[5].status == 429
    # ... while the next /64 and the other IPv4 addresses are not affected.
    assert guard.check_address("2001:db8:1:3::1") is None
    assert guard.check_address("203.0.113.10") is None
    assert all(guard.check_address("::1") is None for _ in range(10))  # loopback still exempt


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    proxies = parse_networks("127.0.0.1, 10.0.0.0/8, not-an-ip")
    assert len(proxies) == 2
    # No trusted proxy: the peer, whatever the header says.
    assert client_address("203.0.113.9", "1.2.3.4", ()) == "203.0.113.9"
    # An untrusted peer cannot choose its address with the header.
    assert client_address("203.0.113.9", "1.2.3.4", proxies) == "203.0.113.9"
    # Through a trusted proxy the client is the last untrusted hop (a forged left part is ignored).
    assert client_address("127.0.0.1", "6.6.6.6, 198.51.100.7", proxies) == "198.51.100.7"
    assert client_address("127.0.0.1", "198.51.100.7, 10.1.2.3", proxies) == "198.51.100.7"
    assert client_address("127.0.0.1", "garbage", proxies) == "127.0.0.1"
    assert client_address("127.0.0.1", None, proxies) == "127.0.0.1"
    assert client_address("", None, proxies) == "unknown"


def test_limits_come_from_the_environment() -> None:
    default = DoorLimits.from_env({})
    assert (default.max_message_chars, default.max_metadata_bytes, default.max_body_bytes) == (
        2000,
        4096,
        16384,
    )
    assert (default.sender_in_flight, default.sender_per_minute, default.ip_per_minute) == (
        3,
        120,
        600,
    )
    assert default.exempt_loopback and default.trusted_proxies == ()
    assert default.site_origins == ("http://localhost:8000", "http://127.0.0.1:8000")
    custom = DoorLimits.from_env(
        {
            "CHAT_MAX_MESSAGE_CHARS": "50",
            "CHAT_SENDER_PER_MINUTE": "not a number",
            "CHAT_IP_PER_MINUTE": "0",
            "CHAT_RATE_EXEMPT_LOOPBACK": "false",
            "CHAT_TRUSTED_PROXIES": "10.0.0.1",
            "SITE_ORIGINS": "https://shop.example.com/, *, javascript:x",
        }
    )
    assert custom.max_message_chars == 50
    assert custom.sender_per_minute == 120 and custom.ip_per_minute == 600
    assert not custom.exempt_loopback and len(custom.trusted_proxies) == 1
    assert custom.site_origins == ("https://shop.example.com",)
    assert custom.origin_allowed("https://SHOP.example.com")
    assert not custom.origin_allowed("https://evil.example.com")
    assert parse_origins("*") == ()
