"""WXBizMsgCrypt (bot/channels/messaging/wxcrypto.py) and the safe XML parser (wxxml.py).

Held to WeCom's documented worked examples and to vectors computed from the documented
algorithm (tests/fixtures/channel_vectors.json; cross-checked against wechatpy in the main
environment by tests/channels/test_wecom.py and test_wechat.py).
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest

from bot.channels.messaging.wxcrypto import (
    ReceiveIdError,
    SignatureError,
    WXBizMsgCrypt,
    WXCryptoError,
    aes_key,
    sha1_signature,
    signature_matches,
)
from bot.channels.messaging.wxxml import (
    MAX_XML_BYTES,
    UnsafeXMLError,
    XMLFormatError,
    parse_xml,
    render_xml,
)

VECTORS = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "channel_vectors.json").read_text("utf-8")
)


def crypt_of(vector: dict[str, Any]) -> WXBizMsgCrypt:
    return WXBizMsgCrypt(vector["token"], vector["encoding_aes_key"], vector["receive_id"])


def test_wecom_documented_url_verification() -> None:
    v = VECTORS["wecom"]["url_verification"]
    crypt = crypt_of(v)
    assert crypt.signature(v["timestamp"], v["nonce"], v["echostr"]) == v["msg_signature"]
    plain = crypt.decrypt_signed(v["msg_signature"], v["timestamp"], v["nonce"], v["echostr"])
    assert plain.decode() == v["plaintext"]


def test_wecom_documented_message() -> None:
    v = VECTORS["wecom"]["message"]
    crypt = crypt_of(v)
    plain = crypt.decrypt_signed(v["msg_signature"], v["timestamp"], v["nonce"], v["encrypted"])
    assert plain.decode() == v["plaintext"]
    fields = parse_xml(plain)
    assert fields["Content"] == "hello"
    assert fields["MsgId"] == "4561255354251345929"
    assert fields["FromUserName"] == "mycreate"


@pytest.mark.parametrize("vector", VECTORS["wecom"]["computed"] + VECTORS["wechat"]["computed"])
def test_computed_vectors_encrypt_and_decrypt(vector: dict[str, Any]) -> None:
    crypt = crypt_of(vector)
    encrypted = crypt.encrypt(vector["message"], bytes.fromhex(vector["random16_hex"]))
    assert encrypted == vector["encrypted"]
    assert (
        crypt.signature(vector["timestamp"], vector["nonce"], encrypted) == vector["msg_signature"]
    )
    assert crypt.decrypt(encrypted).decode() == vector["message"]
    # PKCS#7 to 32-byte blocks: the ciphertext is a whole number of 32-byte blocks.
    assert len(base64.b64decode(encrypted)) % 32 == 0


def test_wechat_plain_signature() -> None:
    v = VECTORS["wechat"]["plain_signature"]
    assert sha1_signature(v["token"], v["timestamp"], v["nonce"]) == v["signature"]


def test_random_prefix_makes_every_encryption_different() -> None:
    crypt = crypt_of(VECTORS["wecom"]["message"])
    first, second = crypt.encrypt("同一句话"), crypt.encrypt("同一句话")
    assert first != second
    assert crypt.decrypt(first) == crypt.decrypt(second) == "同一句话".encode()


def test_other_receive_id_is_refused() -> None:
    v = VECTORS["wecom"]["message"]
    other = WXBizMsgCrypt(v["token"], v["encoding_aes_key"], "wwsomeoneelse")
    with pytest.raises(ReceiveIdError):
        other.decrypt(v["encrypted"])


@pytest.mark.parametrize(
    "signature",
    [None, "", "0" * 40, "5C45FF5E21C57E6AD56BAC8758B79B1D9AC89FD", "ｆ" * 40, "\x00" * 40],
)
def test_bad_signatures_are_refused(signature: str | None) -> None:
    v = VECTORS["wecom"]["url_verification"]
    with pytest.raises(SignatureError):
        crypt_of(v).decrypt_signed(signature, v["timestamp"], v["nonce"], v["echostr"])


def test_signature_is_case_insensitive_and_bound_to_every_part() -> None:
    v = VECTORS["wecom"]["url_verification"]
    crypt = crypt_of(v)
    crypt.check(v["msg_signature"].upper(), v["timestamp"], v["nonce"], v["echostr"])
    with pytest.raises(SignatureError):
        crypt.check(v["msg_signature"], str(int(v["timestamp"]) + 1), v["nonce"], v["echostr"])
    with pytest.raises(SignatureError):
        crypt.check(v["msg_signature"], v["timestamp"], v["nonce"] + "0", v["echostr"])
    assert not signature_matches("abc", "abd")


@pytest.mark.parametrize(
    "encrypted",
    [
        "",
        "not base64!!",
        "AAAA",  # 3 bytes: not whole blocks
        base64.b64encode(b"\x00" * 32).decode(),  # garbage padding/length
        base64.b64encode(b"\xff" * 64).decode(),
        "A" * 200_000,  # huge
        "P9nAzCzy\u00e9",
    ],
)
def test_garbage_ciphertexts_are_refused(encrypted: str) -> None:
    crypt = crypt_of(VECTORS["wecom"]["message"])
    with pytest.raises(WXCryptoError):
        crypt.decrypt(encrypted)


def test_encrypt_reply_fields_verify() -> None:
    crypt = crypt_of(VECTORS["wecom"]["message"])
    ts = str(int(time.time()))
    fields = crypt.encrypt_reply("<xml><Content>hi</Content></xml>", ts, "99")
    assert set(fields) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    plain = crypt.decrypt_signed(fields["MsgSignature"], ts, "99", fields["Encrypt"])
    assert plain == b"<xml><Content>hi</Content></xml>"


@pytest.mark.parametrize("key", ["", "short", "A" * 44, "=" * 43, "é" * 43])
def test_bad_aes_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError):
        aes_key(key)


# -- safe XML ----------------------------------------------------------------------------------

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    "<xml><Content>&lol3;</Content></xml>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<xml><Content>&xxe;</Content></xml>"
)
PARAMETER_ENTITY = (
    '<!DOCTYPE xml [<!ENTITY % remote SYSTEM "http://127.0.0.1:1/evil.dtd">%remote;]>'
    "<xml><Content>x</Content></xml>"
)


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE, PARAMETER_ENTITY, "<!DOCTYPE xml><xml/>"])
def test_dtds_and_entities_are_refused(body: str) -> None:
    with pytest.raises(UnsafeXMLError):
        parse_xml(body)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<xml>",
        b"<xml><Content>&undefined;</Content></xml>",
        b"\xff\xfe<xml/>",
        b"<other><a>1</a></other>",
        b"<xml><a>\x00</a></xml>",
        b"not xml at all",
        "<xml><a>\ud800</a></xml>",
    ],
)
def test_malformed_xml_is_refused(body: bytes | str) -> None:
    with pytest.raises(XMLFormatError):
        parse_xml(body)


def test_size_depth_and_count_limits() -> None:
    with pytest.raises(UnsafeXMLError):
        parse_xml(b"<xml><a>" + b"x" * MAX_XML_BYTES + b"</a></xml>")
    with pytest.raises(UnsafeXMLError):
        parse_xml("<xml>" + "<a>" * 20 + "</a>" * 20 + "</xml>")
    with pytest.raises(UnsafeXMLError):
        parse_xml("<xml>" + "<a>1</a>" * 1000 + "</xml>")


def test_parses_cdata_nesting_and_round_trips_render() -> None:
    fields = parse_xml(
        "<?xml version='1.0' encoding='utf-8'?><xml><Content><![CDATA[a <b> & c]]></Content>"
        "<Count>3</Count><Info><Scan>yes</Scan></Info></xml>"
    )
    assert fields == {"Content": "a <b> & c", "Count": "3", "Info": {"Scan": "yes"}}
    rendered = render_xml({"Content": "x ]]> y 你好", "CreateTime": 12})
    assert parse_xml(rendered) == {"Content": "x ]]> y 你好", "CreateTime": "12"}
