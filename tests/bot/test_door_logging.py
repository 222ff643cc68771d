"""The doors log a refused client at most once a minute, and say how many lines they left out."""

from __future__ import annotations

import logging

import pytest

from bot.channels.limits import DoorGuard, DoorLimits
from bot.channels.log_throttle import LogThrottle

LIMITS_LOGGER = "bot.channels.limits"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LIMITS_LOGGER]


def test_a_flooding_address_is_logged_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    guard = DoorGuard(DoorLimits(ip_per_minute=2), clock=clock)
    with caplog.at_level(logging.WARNING, logger=LIMITS_LOGGER):
        refusals = [guard.check_address("203.0.113.9") for _ in range(1000)]
        assert sum(r is not None for r in refusals) == 998
        assert lines(caplog) == ["Rate limit: client 203.0.113.9 is over 2/min"]
        guard.check_address("198.51.100.7")
        guard.check_address("198.51.100.7")
        assert len(lines(caplog)) == 1  # within its limit: nothing to log
        guard.check_address("198.51.100.7")
        assert lines(caplog)[-1] == "Rate limit: client 198.51.100.7 is over 2/min"
        clock.now += 61  # the next minute: one line, with the count of those left out
        for _ in range(10):
            guard.check_address("203.0.113.9")
        guard.check_address("203.0.113.9")
    assert lines(caplog)[2:] == [
        "Rate limit: client 203.0.113.9 is over 2/min"
        " (997 more like this since the last one, not logged)"
    ]


def test_a_flooding_sender_is_logged_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    guard = DoorGuard(DoorLimits(sender_per_minute=3, sender_in_flight=100), clock=clock)
    with caplog.at_level(logging.WARNING, logger=LIMITS_LOGGER):
        for _ in range(500):
            guard.admit_sender("flood")
        clock.now += 30
        for _ in range(500):
            guard.admit_sender("flood")
    assert lines(caplog) == ["Rate limit: sender flood is over 3/min"]


def test_the_throttle_memory_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    throttle = LogThrottle(logging.getLogger(LIMITS_LOGGER), max_keys=100, clock=FakeClock())
    with caplog.at_level(logging.WARNING, logger=LIMITS_LOGGER):
        logged = [throttle.warning(f"k{i}", "refused %s", i) for i in range(1000)]
    assert all(logged) and len(throttle) == 100 and len(lines(caplog)) == 1000
