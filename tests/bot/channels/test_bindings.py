"""Account linking (bot/channels/messaging/bindings.py) on a real SQLite file.

Also: never in a group chat (Feishu, DingTalk), and demo-code bindings count only while
``DEMO_IDENTITY_SECRET`` is set.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from bot.channels.identity import sign_link_code
from bot.channels.messaging.bindings import (
    KIND_GROUP,
    KIND_INVALID,
    KIND_LINKED,
    KIND_UNLINKED,
    KIND_USED,
    REPLY_INVALID,
    REPLY_LINKED,
    REPLY_MISSING_CODE,
    REPLY_NOT_LINKED,
    REPLY_PRIVATE_ONLY,
    REPLY_TOO_MANY,
    REPLY_UNLINKED,
    REPLY_USED,
    Bindings,
    code_hash,
    is_group_chat,
    parse_command,
)
from bot.channels.messaging.store import ChannelStore

T = TypeVar("T")
SECRET = "bindings-secret"
DEMO_SECRET = "bindings-demo-secret"
NOW = 1_767_225_600.0
TG = "telegram"


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    return tmp_path / "tracker.db"


@pytest.fixture()
def bindings(db: Path) -> Bindings:
    return Bindings(ChannelStore(sa.create_engine(f"sqlite:///{db}")), (SECRET,), (DEMO_SECRET,))


def code(customer: str = "cus_0001", *, ttl: int = 900, secret: str = SECRET) -> str:
    return sign_link_code(customer, int(NOW) + ttl, secret)


def rows(db: Path, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as connection:
        try:
            return connection.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608
        except sqlite3.OperationalError:  # not created yet: nothing stored
            return []


def test_the_replies_are_bilingual_and_reveal_nothing() -> None:
    replies = (
        REPLY_LINKED, REPLY_INVALID, REPLY_USED, REPLY_MISSING_CODE, REPLY_UNLINKED,
        REPLY_NOT_LINKED, REPLY_TOO_MANY, REPLY_PRIVATE_ONLY,
    )  # fmt: skip
    for reply in replies:
        zh, en = reply.split(" / ", 1)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh) and en.isascii(), reply


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/start CODE_CODE_CODE_CODE", ("link", "CODE_CODE_CODE_CODE")),
        ("/start@LeafBeanBot CODE_CODE_CODE_CODE", ("link", "CODE_CODE_CODE_CODE")),
        ("/link CODE_CODE_CODE_CODE", ("link", "CODE_CODE_CODE_CODE")),
        ("  LINK CODE_CODE_CODE_CODE ", ("link", "CODE_CODE_CODE_CODE")),
        ("绑定 CODE_CODE_CODE_CODE", ("link", "CODE_CODE_CODE_CODE")),
        ("綁定：CODE_CODE_CODE_CODE", ("link", "CODE_CODE_CODE_CODE")),
        ("绑定\u3000CODE_CODE_CODE_CODE", ("link", "CODE_CODE_CODE_CODE")),
        ("/start <b>x</b>", ("link", "<b>x</b>")),  # refused later as invalid
        ("/link", ("link", None)),
        ("/unlink", ("unlink", None)),
        ("Unlink", ("unlink", None)),
        ("解绑", ("unlink", None)),
        ("解綁！", ("unlink", None)),
        ("/start", None),  # Telegram's hello goes to the bot
        ("link", None),
        ("link my account please", None),
        ("link short", None),
        ("how do I link my account?", None),
        ("绑定账户", None),
        ("unlink everything now", None),
        ("", None),
        ("/start " + "A" * 500, None),  # too long to be a command
        ("\x00\x01", None),
        ("/start \ud800\ud800", ("link", "\ud800\ud800")),
        (None, None),
        (b"/unlink", None),
    ],
)
def test_commands_are_recognised_and_ordinary_messages_are_not(text: Any, expected: Any) -> None:
    assert parse_command(text) == expected


def test_a_code_links_once_and_the_binding_answers(bindings: Bindings, db: Path) -> None:
    assert run(bindings.customer_of(TG, "42")) is None
    first = code()
    outcome = run(bindings.handle_command(TG, "42", f"/start {first}", now=NOW))
    assert outcome is not None
    assert (outcome.kind, outcome.customer_id, outcome.reply) == (
        KIND_LINKED, "cus_0001", REPLY_LINKED,
    )  # fmt: skip
    assert run(bindings.customer_of(TG, "42")) == "cus_0001"
    assert run(bindings.customer_of("slack", "42")) is None  # per channel
    assert run(bindings.customer_of(TG, "43")) is None
    assert rows(db, "channel_link_codes") == [(code_hash(first), NOW)]
    assert first not in str(rows(db, "channel_link_codes"))  # only its hash is kept
    # The same user sending it again: still linked. Another user: refused, nothing changes.
    again = run(bindings.handle_command(TG, "42", f"link {first}", now=NOW + 1))
    assert again is not None and again.kind == KIND_LINKED
    stolen = run(bindings.handle_command(TG, "666", f"link {first}", now=NOW + 2))
    assert stolen is not None
    assert (stolen.kind, stolen.customer_id, stolen.reply) == (KIND_USED, None, REPLY_USED)
    assert run(bindings.customer_of(TG, "666")) is None
    assert len(rows(db, "channel_bindings")) == 1


def test_the_binding_survives_a_new_store_on_the_same_database(
    bindings: Bindings, db: Path
) -> None:
    run(bindings.handle_command(TG, "42", f"/link {code()}", now=NOW))
    other = Bindings(ChannelStore(sa.create_engine(f"sqlite:///{db}")), (SECRET,))
    assert run(other.customer_of(TG, "42")) == "cus_0001"


def test_linking_to_another_customer_replaces_the_binding(bindings: Bindings, db: Path) -> None:
    run(bindings.handle_command(TG, "42", f"/start {code('cus_0001')}", now=NOW))
    outcome = run(bindings.handle_command(TG, "42", f"绑定 {code('cus_0002')}", now=NOW + 5))
    assert outcome is not None and outcome.customer_id == "cus_0002"
    assert run(bindings.customer_of(TG, "42")) == "cus_0002"
    assert [row[:3] for row in rows(db, "channel_bindings")] == [(TG, "42", "cus_0002")]


def test_unlink_removes_the_binding(bindings: Bindings) -> None:
    run(bindings.handle_command(TG, "42", f"/start {code()}", now=NOW))
    outcome = run(bindings.handle_command(TG, "42", "解绑", now=NOW + 1))
    assert outcome is not None
    assert (outcome.kind, outcome.customer_id, outcome.reply) == (
        KIND_UNLINKED, "cus_0001", REPLY_UNLINKED,
    )  # fmt: skip
    assert run(bindings.customer_of(TG, "42")) is None
    again = run(bindings.handle_command(TG, "42", "/unlink", now=NOW + 2))
    assert again is not None and again.reply == REPLY_NOT_LINKED and again.customer_id is None


@pytest.mark.parametrize(
    "text",
    [
        f"/start {code(ttl=0)}",  # expired
        f"/start {code(ttl=-5)}",
        f"/start {code(secret='somebody-else')}",  # forged
        f"/start {code()[:-1]}",  # truncated
        f"/start {code()[:-1]}豆",
        f"/start {code()[:-2]}\ud800",
        "/start ../../etc/passwd",
        "/start ' OR 1=1 --",
        f"/start {code()}{'A' * 30}",
    ],
)
def test_bad_codes_are_refused_politely_and_nothing_is_stored(
    bindings: Bindings, db: Path, text: str
) -> None:
    outcome = run(bindings.handle_command(TG, "42", text, now=NOW))
    assert outcome is not None
    assert (outcome.kind, outcome.customer_id, outcome.reply) == (
        KIND_INVALID, None, REPLY_INVALID,
    )  # fmt: skip
    assert run(bindings.customer_of(TG, "42")) is None
    assert rows(db, "channel_link_codes") == [] and rows(db, "channel_bindings") == []


def test_the_demo_secret_also_links_and_no_secret_links_nothing(db: Path) -> None:
    store = ChannelStore(sa.create_engine(f"sqlite:///{db}"))
    demo = code("cus_0003", secret=DEMO_SECRET)
    assert run(Bindings(store, ()).handle_command(TG, "1", f"/start {demo}", now=NOW)).kind == (  # type: ignore[union-attr]
        KIND_INVALID
    )
    linked = run(
        Bindings(store, (SECRET,), (DEMO_SECRET,)).handle_command(
            TG, "1", f"/start {demo}", now=NOW
        )
    )
    assert linked is not None and linked.customer_id == "cus_0003"


def test_secrets_come_from_the_environment(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_SECRET", SECRET)
    monkeypatch.delenv("DEMO_IDENTITY_SECRET", raising=False)
    live = Bindings(ChannelStore(sa.create_engine(f"sqlite:///{db}")))
    outcome = run(live.handle_command(TG, "7", f"/link {code()}", now=NOW))
    assert outcome is not None and outcome.kind == KIND_LINKED


def test_ordinary_messages_and_odd_ids_touch_nothing(bindings: Bindings, db: Path) -> None:
    assert run(bindings.handle_command(TG, "42", "where is my order?", now=NOW)) is None
    assert run(bindings.handle_command(TG, "42", "/start", now=NOW)) is None
    missing = run(bindings.handle_command(TG, "42", "/link", now=NOW))
    assert missing is not None and missing.reply == REPLY_MISSING_CODE
    for user in ("", "x" * 257):
        refused = run(bindings.handle_command(TG, user, f"/start {code()}", now=NOW))
        assert refused is not None and refused.kind == KIND_INVALID
        assert run(bindings.customer_of(TG, user)) is None
    assert rows(db, "channel_link_codes") == []


def test_two_users_racing_for_one_code_link_only_one(bindings: Bindings, db: Path) -> None:
    shared = code()

    async def race() -> list[Any]:
        return list(
            await asyncio.gather(
                *(
                    bindings.handle_command(TG, f"u{i}", f"/start {shared}", now=NOW)
                    for i in range(8)
                )
            )
        )

    outcomes = run(race())
    assert sorted(o.kind for o in outcomes).count(KIND_LINKED) == 1
    assert len(rows(db, "channel_bindings")) == 1


def test_old_used_codes_are_pruned(bindings: Bindings, db: Path) -> None:
    run(bindings.handle_command(TG, "1", f"/start {code('cus_0001')}", now=NOW))
    later = NOW + 40 * 24 * 3600
    fresh = sign_link_code("cus_0002", int(later) + 900, SECRET)
    run(bindings.handle_command(TG, "2", f"/start {fresh}", now=later))
    assert rows(db, "channel_link_codes") == [(code_hash(fresh), later)]


def test_a_flood_of_link_attempts_is_slowed_down(bindings: Bindings) -> None:
    for i in range(10):
        outcome = run(bindings.handle_command(TG, "9", f"/start forged{i}", now=NOW + i))
        assert outcome is not None and outcome.reply == REPLY_INVALID
    slowed = run(bindings.handle_command(TG, "9", f"/start {code()}", now=NOW + 11))
    assert slowed is not None and slowed.reply == REPLY_TOO_MANY
    assert run(bindings.customer_of(TG, "9")) is None
    other = run(bindings.handle_command(TG, "10", f"/start {code()}", now=NOW + 11))
    assert other is not None and other.kind == KIND_LINKED  # per user
    later = run(bindings.handle_command(TG, "9", f"/start {code('cus_0002')}", now=NOW + 700))
    assert later is not None and later.kind == KIND_LINKED  # the window passed


# -- group chats -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("channel", "user_id", "address", "group"),
    [
        ("dingtalk", "staff1@cidGROUP1", {"conversation_type": "group"}, True),
        ("dingtalk", "staff1@cidGROUP1", None, True),  # the id alone says so
        ("dingtalk", "staff1", {"conversation_type": "single"}, False),
        ("feishu", "ou_abc@oc_chat", {"chat_type": "group"}, True),
        ("feishu", "ou_abc", {"chat_type": "p2p"}, False),
        ("feishu", "ou_abc", {"chat_type": "group"}, True),  # the address alone says so
        ("wecom", "zhang.san@corp", {"to": "zhang.san@corp"}, False),  # WeCom ids may hold @
        ("telegram", "42", {"chat_id": 42}, False),
        ("telegram", "42", {"group": True}, True),
    ],
)
def test_group_chats_are_recognised(
    channel: str, user_id: str, address: dict[str, Any] | None, group: bool
) -> None:
    assert is_group_chat(channel, user_id, address) is group


def test_a_dingtalk_group_delivery_is_a_group_chat() -> None:
    from bot.channels.messaging.dingtalk import DingTalkInput

    class Request:
        headers: dict[str, str] = {}
        body = (
            b'{"msgId": "m1", "msgtype": "text", "text": {"content": "hi"}, "senderStaffId":'
            b' "staff1", "conversationType": "2", "conversationId": "cidGROUP1"}'
        )

    channel = DingTalkInput.from_credentials({"app_key": "k", "app_secret": "s", "robot_code": "r"})
    (group,) = channel.parse(Request())  # type: ignore[attr-defined,arg-type]
    assert is_group_chat("dingtalk", group.user_id, group.address)
    Request.body = Request.body.replace(b'"2"', b'"1"')
    (private,) = channel.parse(Request())  # type: ignore[attr-defined,arg-type]
    assert not is_group_chat("dingtalk", private.user_id, private.address)


@pytest.mark.parametrize(
    ("channel", "user_id", "group"),
    [("dingtalk", "staff1@cidGROUP1", False), ("feishu", "ou_abc@oc_chat", True)],
)
def test_a_link_command_in_a_group_is_refused_and_uses_nothing(
    bindings: Bindings, db: Path, channel: str, user_id: str, group: bool
) -> None:
    private = code()
    for text in (f"绑定 {private}", f"/start {private}", "/link"):
        outcome = run(bindings.handle_command(channel, user_id, text, now=NOW, group=group))
        assert outcome is not None
        assert (outcome.kind, outcome.customer_id, outcome.reply) == (
            KIND_GROUP, None, REPLY_PRIVATE_ONLY,
        )  # fmt: skip
    assert rows(db, "channel_bindings") == [] and rows(db, "channel_link_codes") == []
    assert run(bindings.customer_of(channel, user_id, group=group)) is None
    # The code is still good in the private chat with the bot.
    person = user_id.split("@")[0]
    linked = run(bindings.handle_command(channel, person, f"绑定 {private}", now=NOW))
    assert linked is not None and linked.kind == KIND_LINKED
    assert run(bindings.customer_of(channel, person)) == "cus_0001"
    assert run(bindings.customer_of(channel, user_id, group=group)) is None


def test_a_group_conversation_never_has_a_customer(bindings: Bindings, db: Path) -> None:
    # A binding stored for a group id before groups were refused (or by hand): ignored.
    run(bindings.handle_command("feishu", "ou_x", f"/start {code()}", now=NOW))
    with sqlite3.connect(db) as connection:
        connection.execute(
            "UPDATE channel_bindings SET user_id = 'ou_x@oc_chat' WHERE user_id = 'ou_x'"
        )
    assert run(bindings.customer_of("feishu", "ou_x@oc_chat")) is None
    # A private chat flagged as a group by its channel: no customer either.
    run(bindings.handle_command("slack", "U1", f"/start {code('cus_0002')}", now=NOW))
    assert run(bindings.customer_of("slack", "U1")) == "cus_0002"
    assert run(bindings.customer_of("slack", "U1", group=True)) is None
    # Unlink still works in a group (it only removes).
    outcome = run(bindings.handle_command("feishu", "ou_x@oc_chat", "解绑", now=NOW))
    assert outcome is not None and outcome.kind == KIND_UNLINKED
    assert rows(db, "channel_bindings") == [("slack", "U1", "cus_0002", NOW, 0)]


# -- demo codes ------------------------------------------------------------------------------
def test_demo_bindings_stop_counting_when_the_demo_secret_goes(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IDENTITY_SECRET", SECRET)
    monkeypatch.setenv("DEMO_IDENTITY_SECRET", DEMO_SECRET)
    live = Bindings(ChannelStore(sa.create_engine(f"sqlite:///{db}")))
    demo_code = code("cus_0003", secret=DEMO_SECRET)
    demo = run(live.handle_command(TG, "1", f"/start {demo_code}", now=NOW))
    real = run(live.handle_command(TG, "2", f"/start {code('cus_0004')}", now=NOW))
    assert demo is not None and real is not None
    # The customer is told exactly what any linked customer is told.
    assert (demo.kind, demo.reply) == (real.kind, real.reply) == (KIND_LINKED, REPLY_LINKED)
    assert sorted((r[1], r[2], r[4]) for r in rows(db, "channel_bindings")) == [
        ("1", "cus_0003", 1),
        ("2", "cus_0004", 0),
    ]
    assert run(live.customer_of(TG, "1")) == "cus_0003"
    # The shop leaves demo mode: the demo binding names nobody; the real one still does.
    monkeypatch.delenv("DEMO_IDENTITY_SECRET")
    assert run(live.customer_of(TG, "1")) is None
    assert run(live.customer_of(TG, "2")) == "cus_0004"
    refused = run(live.handle_command(TG, "3", f"/start {code(secret=DEMO_SECRET)}", now=NOW))
    assert refused is not None and refused.kind == KIND_INVALID
    monkeypatch.setenv("DEMO_IDENTITY_SECRET", "")
    assert run(live.customer_of(TG, "1")) is None
    # Demo mode again: it counts again (it was never deleted).
    monkeypatch.setenv("DEMO_IDENTITY_SECRET", DEMO_SECRET)
    assert run(live.customer_of(TG, "1")) == "cus_0003"


def test_fixed_secrets_without_demo_ones_ignore_demo_bindings(bindings: Bindings, db: Path) -> None:
    run(bindings.handle_command(TG, "5", f"/start {code(secret=DEMO_SECRET)}", now=NOW))
    assert run(bindings.customer_of(TG, "5")) == "cus_0001"
    store = ChannelStore(sa.create_engine(f"sqlite:///{db}"))
    assert run(Bindings(store, (SECRET,)).customer_of(TG, "5")) is None
    # The same secret set as both: a live code, an ordinary binding.
    both = Bindings(store, (SECRET,), (SECRET,))
    run(both.handle_command(TG, "6", f"/start {code('cus_0002')}", now=NOW))
    assert run(Bindings(store, (SECRET,)).customer_of(TG, "6")) == "cus_0002"
