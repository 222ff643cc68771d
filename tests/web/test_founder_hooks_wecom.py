"""The founder answers an alert from the WeCom alert app: ``GET/POST /founder/hooks/wecom``.

Callbacks are encrypted and signed by ``wechatpy`` in the fake (an implementation
independent of the hook's own signature check); acknowledgements go through the fake's
``gettoken`` + ``message/send``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from analytics.store.db import make_engine, make_sessionmaker
from analytics.store.models.alerts import AlertDelivery, FounderAlert
from tests.channels.fakes.founder_apps import FOUNDER_WECOM_USER, new_msg_id
from tests.channels.fakes.wecom import AGENT_ID, CORP_ID, message_xml
from tests.web.founder_hooks_support import Hooks, assert_founder_jwt, founder_apps, hooks

__all__ = ["founder_apps", "hooks"]  # fixtures

pytestmark = pytest.mark.channels  # make test-channels runs the founder-alert tests too


def said(hooks: Hooks, text: str, msg_id: str | None = None, user: str = FOUNDER_WECOM_USER):
    """The founder (or ``user``) writes ``text`` in the alert app."""
    return hooks.post_wecom(message_xml(user, text, msg_id or new_msg_id()))


def age_alert(hooks: Hooks, ref: str, minutes: int) -> None:
    """Moves an alert's WeCom delivery ``minutes`` into the past."""
    engine = make_engine(hooks.store_url)
    try:
        with make_sessionmaker(engine)() as db:
            alert_id = db.query(FounderAlert.id).filter(FounderAlert.ref == ref).scalar()
            db.execute(
                update(AlertDelivery)
                .where(AlertDelivery.alert_id == alert_id)
                .values(sent_at=datetime.now(UTC) - timedelta(minutes=minutes))
            )
            db.commit()
    finally:
        engine.dispose()


def test_url_verification(hooks: Hooks) -> None:
    encrypted = hooks.wecom.encrypt("1616140317555161061")
    params = hooks.wecom.signed_params(encrypted)
    ok = hooks.client.get("/founder/hooks/wecom", params={**params, "echostr": encrypted})
    assert ok.status_code == 200 and ok.text == "1616140317555161061"
    bad = {**params, "echostr": encrypted, "msg_signature": "0" * 40}
    assert hooks.client.get("/founder/hooks/wecom", params=bad).status_code == 403
    assert hooks.client.get("/founder/hooks/wecom").status_code == 401
    huge = hooks.wecom.signed_params("A" * 5000)
    too_long = hooks.client.get("/founder/hooks/wecom", params={**huge, "echostr": "A" * 5000})
    assert too_long.status_code == 400
    old = hooks.wecom.signed_params(encrypted, timestamp=str(int(time.time()) - 3600))
    expired = hooks.client.get("/founder/hooks/wecom", params={**old, "echostr": encrypted})
    assert expired.status_code == 403


def test_a_ref_reply_reaches_the_conversation(hooks: Hooks) -> None:
    response = said(hooks, f"#{hooks.second.ref} 您好，我是店主。")
    assert response.status_code == 200 and response.text == ""
    pause, message = hooks.founder_calls()
    assert hooks.second.sender_id in message.path and message.body == {"text": "您好，我是店主。"}
    assert_founder_jwt(pause)
    assert_founder_jwt(message)
    (ack,) = hooks.wecom.sent(FOUNDER_WECOM_USER)
    assert ack["agentid"] == int(AGENT_ID) and ack["msgtype"] == "text"
    assert (
        "已发送给客户" in ack["text"]["content"]
        and "Sent to the customer" in ack["text"]["content"]
    )
    assert [m.text for m in hooks.founder_messages()] == ["您好，我是店主。"]
    assert hooks.active_takeover(hooks.second.conversation_id) is not None


def test_without_a_ref_only_a_single_recent_alert_is_answered(hooks: Hooks) -> None:
    before = hooks.counts()
    said(hooks, "Which one?")
    (ambiguous,) = hooks.wecom.founder_texts()
    assert hooks.first.ref in ambiguous and hooks.second.ref in ambiguous
    assert hooks.rasa.received == [] and hooks.counts() == before
    age_alert(hooks, hooks.first.ref, minutes=120)  # out of the quiet window
    said(hooks, "Hello from the founder")
    (message,) = hooks.founder_calls("message")
    assert hooks.second.sender_id in message.path
    age_alert(hooks, hooks.second.ref, minutes=120)
    said(hooks, "And now?")
    assert "Reply to an alert" in hooks.wecom.founder_texts()[-1]
    assert len(hooks.founder_calls("message")) == 1


def test_a_redelivered_callback_is_sent_once(hooks: Hooks) -> None:
    msg_id = new_msg_id()
    for _ in range(3):
        assert said(hooks, f"#{hooks.first.ref} once", msg_id).status_code == 200
    assert len(hooks.founder_calls("message")) == 1
    assert len(hooks.wecom.founder_texts()) == 1


def test_other_users_and_events_are_dropped(hooks: Hooks) -> None:
    before = hooks.counts()
    assert said(hooks, f"#{hooks.first.ref} refund me", user="intruder").status_code == 200
    event = message_xml(FOUNDER_WECOM_USER, "", new_msg_id(), msg_type="event",
                        extra="<Event><![CDATA[enter_agent]]></Event>")  # fmt: skip
    assert hooks.post_wecom(event).status_code == 200
    other_app = message_xml(FOUNDER_WECOM_USER, f"#{hooks.first.ref} hi", new_msg_id(),
                            agent_id="999")  # fmt: skip
    assert hooks.post_wecom(other_app).status_code == 200
    hooks.nothing_happened(before)


def test_forged_expired_and_unsigned_callbacks_are_refused(hooks: Hooks) -> None:
    before = hooks.counts()
    text = message_xml(FOUNDER_WECOM_USER, f"#{hooks.first.ref} forged", new_msg_id())
    assert hooks.post_wecom(text, params={"msg_signature": "f" * 40}).status_code == 403
    assert hooks.post_wecom(text, params={"nonce": "123"}).status_code == 403  # not what was signed
    old = str(int(time.time()) - 3600)
    encrypted = hooks.wecom.encrypt(text)
    signed_old = hooks.wecom.signed_params(encrypted, timestamp=old)
    replay = hooks.client.post(
        "/founder/hooks/wecom", content=hooks.wecom.envelope(encrypted), params=signed_old
    )
    assert replay.status_code == 403
    unsigned = hooks.client.post("/founder/hooks/wecom", content=hooks.wecom.envelope(encrypted))
    assert unsigned.status_code == 401
    hooks.nothing_happened(before)


def test_a_signed_payload_for_another_corp_or_with_a_dtd_is_refused(hooks: Hooks) -> None:
    before = hooks.counts()
    other_corp = message_xml(FOUNDER_WECOM_USER, "hi", new_msg_id())
    import base64

    from wechatpy.enterprise.crypto import PrpCrypto

    from tests.channels.fakes.wecom import AES_KEY

    encrypted = PrpCrypto(base64.b64decode(AES_KEY + "=")).encrypt(other_corp, "wwother").decode()
    params = hooks.wecom.signed_params(encrypted)
    response = hooks.client.post(
        "/founder/hooks/wecom", content=hooks.wecom.envelope(encrypted), params=params
    )
    assert response.status_code == 400
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        f"<xml><ToUserName>{CORP_ID}</ToUserName><FromUserName>{FOUNDER_WECOM_USER}</FromUserName>"
        f"<MsgType>text</MsgType><Content>&b;</Content><MsgId>1</MsgId></xml>"
    )
    assert hooks.post_wecom(laughs).status_code == 400  # signed, encrypted, still refused
    hooks.nothing_happened(before)


def test_rasa_down_is_told_to_the_founder(hooks: Hooks, monkeypatch) -> None:
    from tests.web.founder_hooks_support import reset_caches
    from tests.web.servers import free_port

    monkeypatch.setenv("RASA_URL", f"http://127.0.0.1:{free_port()}")
    reset_caches()
    said(hooks, f"#{hooks.first.ref} hello")
    (answer,) = hooks.wecom.founder_texts()
    assert "未能发送给客户" in answer and "Not sent" in answer
    assert hooks.founder_messages() == []


def test_an_expired_access_token_is_renewed(hooks: Hooks) -> None:
    said(hooks, f"#{hooks.first.ref} one")
    hooks.wecom.expire_tokens()
    said(hooks, f"#{hooks.first.ref} two")
    texts = [t for t in hooks.wecom.founder_texts()]
    assert len(texts) == 3  # the second ack: refused (42001), then sent with a new token
    assert len(hooks.wecom.calls_to(r"/cgi-bin/gettoken$")) == 2
