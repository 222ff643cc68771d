"""Fake messaging platforms (their HTTP APIs on loopback) for the channel tests.

Each platform module ``<platform>.py`` defines ``make_fake() -> FakePlatform``
(:mod:`tests.channels.fakes.base`); ``tests/channels/conftest.py`` starts every one it finds.
"""
