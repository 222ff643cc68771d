"""Widget session tokens and the founder JWT check, without a server."""

from __future__ import annotations

import time

import jwt

from bot.channels.widget_routes import founder_denial
from bot.channels.widget_session import (
    RecentIds,
    SessionTokens,
    is_session_id,
    new_session_id,
    session_key,
)

JWT_SECRET = "jwt-secret-for-the-widget-session-tests"


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_767_225_600.0

    def __call__(self) -> float:
        return self.now


def tokens(clock: Clock, **kwargs: int) -> SessionTokens:
    return SessionTokens(session_key({"RASA_JWT_SECRET": JWT_SECRET}), clock=clock, **kwargs)


def test_session_ids_are_server_issued_hex() -> None:
    session = new_session_id()
    assert is_session_id(session) and len(session) == 32
    assert new_session_id() != session
    for bad in (None, "", "abc", "e2e-sender", "A" * 32, session + "0", "../" + session[3:]):
        assert not is_session_id(bad)


def test_a_token_opens_only_its_own_session() -> None:
    clock = Clock()
    issuer = tokens(clock)
    session, other = new_session_id(), new_session_id()
    token = issuer.issue(session, "sidA")
    assert token.startswith("v1.") and "sidA" in token
    assert issuer.verify(session, token)
    assert not issuer.verify(other, token)
    flipped = token[:-1] + ("1" if token[-1] == "0" else "0")  # always another last digit
    for forged in (None, "", flipped, token.replace("sidA", "sidB"), token + "x", 42):
        assert not issuer.verify(session, forged)
    bumped = token.split(".")
    bumped[1] = str(int(bumped[1]) + 1)
    assert not issuer.verify(session, ".".join(bumped))


def test_any_server_with_the_same_secret_verifies_and_another_secret_does_not() -> None:
    clock = Clock()
    session = new_session_id()
    token = tokens(clock).issue(session, "sidA")
    assert tokens(clock).verify(session, token)  # a second Rasa server (fresh memory)
    stranger = SessionTokens(session_key({"RASA_JWT_SECRET": "other"}), clock=clock)
    assert not stranger.verify(session, token)
    random_key = SessionTokens(session_key({}), clock=clock)
    assert not random_key.verify(session, token)


def test_tokens_rotate_and_an_old_one_lives_only_for_the_grace_period() -> None:
    clock = Clock()
    issuer = tokens(clock, grace_s=60)
    session = new_session_id()
    first = issuer.issue(session, "sid1")
    clock.now += 5
    assert issuer.verify(session, first)  # the reconnect presents it ...
    second = issuer.issue(session, "sid2")  # ... and gets a new one
    assert second != first
    clock.now += 30
    assert issuer.verify(session, first)  # a tab reconnecting at the same time
    clock.now += 31
    assert not issuer.verify(session, first)  # stolen and replayed later: refused
    assert issuer.verify(session, second)


def test_tokens_expire() -> None:
    clock = Clock()
    issuer = tokens(clock, ttl_s=3600)
    session = new_session_id()
    token = issuer.issue(session, "sid1")
    clock.now += 3599
    assert issuer.verify(session, token)
    clock.now += 2
    assert not issuer.verify(session, token)
    future = tokens(Clock())
    clock.now = Clock().now - 3600  # issued "in the future" for this server's clock
    assert not tokens(clock).verify(session, future.issue(session, "sid9"))


def test_the_rotation_memory_is_bounded() -> None:
    clock = Clock()
    issuer = tokens(clock, max_sessions=100)
    for _ in range(1000):
        issuer.issue(new_session_id(), "sid")
    assert len(issuer._recent) == 100


def test_a_restart_does_not_revive_a_superseded_token() -> None:
    clock = Clock()
    issuer = tokens(clock, grace_s=60, resume_s=300)
    session = new_session_id()
    stolen = issuer.issue(session, "sid1")
    clock.now += 600
    assert issuer.verify(session, stolen)  # the owner comes back after 10 minutes ...
    current = issuer.issue(session, "sid2")  # ... and gets a new token
    clock.now += 120
    assert not issuer.verify(session, stolen)
    restarted = tokens(clock, grace_s=60, resume_s=300)  # the same secret, no memory
    assert not restarted.verify(session, stolen)  # 12 minutes old: not trusted any more
    assert restarted.verify(session, current)  # 2 minutes old: the widget resumes
    assert not restarted.verify(session, stolen)  # and now it is remembered again


def test_without_memory_only_recent_tokens_are_trusted() -> None:
    clock = Clock()
    session = new_session_id()
    token = tokens(clock).issue(session, "sid1")
    clock.now += 300
    assert tokens(clock).verify(session, token)
    clock.now += 1
    assert not tokens(clock).verify(session, token)
    assert tokens(clock, resume_s=3600).verify(session, token)


def test_evicting_a_session_does_not_revive_its_old_tokens() -> None:
    clock = Clock()
    issuer = tokens(clock, max_sessions=10)
    session = new_session_id()
    stolen = issuer.issue(session, "sid1")
    clock.now += 400
    issuer.issue(session, "sid2")
    for _ in range(10):  # a flood of new sessions evicts it
        issuer.issue(new_session_id(), "sidX")
    assert not issuer.verify(session, stolen)


def test_tabs_reconnecting_together_share_the_grace_of_one_token() -> None:
    clock = Clock()
    issuer = tokens(clock, grace_s=60)
    session = new_session_id()
    stored = issuer.issue(session, "sid0")
    clock.now += 3600  # the browser restores three tabs an hour later
    for tab in ("sidA", "sidB", "sidC"):
        assert issuer.verify(session, stored)
        latest = issuer.issue(session, tab)
        clock.now += 1
    clock.now += 60
    assert not issuer.verify(session, stored)
    assert issuer.verify(session, latest)


def test_a_token_must_match_the_remembered_one_in_time_and_socket() -> None:
    clock = Clock()
    here, other = tokens(clock, grace_s=60), tokens(clock, grace_s=60)
    session = new_session_id()
    ours = here.issue(session, "sidA")
    theirs = other.issue(session, "sidB")  # same millisecond, another server
    assert ours.split(".")[1] == theirs.split(".")[1]
    clock.now += 61
    assert here.verify(session, ours)
    assert not here.verify(session, theirs)


def test_tokens_live_one_day_by_default() -> None:
    clock = Clock()
    issuer = SessionTokens.from_env({"RASA_JWT_SECRET": JWT_SECRET})
    assert issuer.ttl_ms == 24 * 3600 * 1000
    assert (issuer.grace_ms, issuer.resume_ms, issuer.refresh_s) == (60_000, 300_000, 100.0)
    issuer = tokens(clock)
    session = new_session_id()
    token = issuer.issue(session, "sid1")
    clock.now += 24 * 3600
    assert issuer.verify(session, token)
    clock.now += 1
    assert not issuer.verify(session, token)


def test_recent_ids_are_bounded() -> None:
    ids = RecentIds(max_sessions=2, max_per_session=2)
    ids.add("s1", "a", 1.0)
    ids.add("s1", "b", 2.0)
    ids.add("s1", "c", 3.0)
    assert ids.seen("s1", "a") is None and ids.seen("s1", "c") == 3.0
    ids.add("s2", "a", 4.0)
    ids.add("s3", "a", 5.0)
    assert ids.seen("s1", "c") is None  # least recently used session dropped
    assert ids.seen("s3", "a") == 5.0


def founder_jwt(role: str = "admin", exp_in: int = 300, secret: str = JWT_SECRET) -> str:
    """A token as the console makes it."""
    claims = {"user": {"username": "founder", "role": role}, "exp": int(time.time()) + exp_in}
    return jwt.encode(claims, secret, algorithm="HS256")


def test_founder_tokens() -> None:
    assert founder_denial(founder_jwt(), JWT_SECRET) is None
    assert founder_denial(founder_jwt(), None) == (
        503,
        "founder endpoints are disabled: RASA_JWT_SECRET is not set",
    )
    assert founder_denial("", JWT_SECRET)[0] == 401  # type: ignore[index]
    assert founder_denial("not.a.jwt", JWT_SECRET)[0] == 401  # type: ignore[index]
    forged = founder_jwt(secret="another-secret-of-at-least-32-bytes")
    assert founder_denial(forged, JWT_SECRET)[0] == 401  # type: ignore[index]
    assert founder_denial(founder_jwt(exp_in=-10), JWT_SECRET)[0] == 401  # type: ignore[index]
    assert founder_denial(founder_jwt(role="user"), JWT_SECRET)[0] == 403  # type: ignore[index]
    no_exp = jwt.encode({"user": {"role": "admin"}}, JWT_SECRET, algorithm="HS256")
    assert founder_denial(no_exp, JWT_SECRET)[0] == 401  # type: ignore[index]
    none_alg = jwt.encode({"user": {"role": "admin"}, "exp": 2**40}, None, algorithm="none")
    assert founder_denial(none_alg, JWT_SECRET)[0] == 401  # type: ignore[index]
