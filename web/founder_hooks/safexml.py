"""A small, safe parser for the flat XML WeCom (企业微信) posts to a callback.

Built on :mod:`xml.parsers.expat` with every door a hostile body could use shut: a document
type declaration (hence any entity: XXE, "billion laughs") is refused when expat meets it,
entity and notation declarations and external entity references are refused too, an
undefined entity reference is an expat error, and the size, element count, depth and text
length are bounded. Refusals and malformed documents raise :class:`XMLError`.

Linear time whatever the body: expat buffers character data (``buffer_text``), and each
element's text length is a running count, never re-summed (a body of 32 000 one-character
lines used to cost seconds).
"""

from __future__ import annotations

from typing import Any
from xml.parsers import expat

MAX_XML_BYTES = 64 * 1024
MAX_ELEMENTS = 64
MAX_DEPTH = 3
MAX_TEXT_CHARS = 16 * 1024
ROOT_TAG = "xml"


class XMLError(ValueError):
    """The body is not a small, plain ``<xml>`` document (or declares a DTD or entities)."""


def _refuse(*_: Any) -> None:  # noqa: ANN401 - expat handler signature varies
    raise XMLError("DTDs and entities are refused")


def parse_flat_xml(body: bytes) -> dict[str, str]:
    """Parses ``<xml><A>text</A><B><![CDATA[text]]></B>...</xml>`` into ``{"A": ..., ...}``.

    Only the root's leaf children are kept (nested elements count against the limits but are
    dropped); the last of repeated tags wins.

    Args:
        body: The raw request body.

    Returns:
        The root's children as strings.

    Raises:
        XMLError: If the body is too big, malformed, not rooted at ``<xml>``, or declares a
            DTD or entities.
    """
    if not body or len(body) > MAX_XML_BYTES:
        raise XMLError("empty or too big")
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.NotationDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse  # type: ignore[assignment]
    stack: list[str] = []
    texts: list[list[str]] = []
    lengths: list[int] = []
    result: dict[str, str] = {}
    count = 0
    root: list[str] = []

    def start(tag: str, _attributes: dict[str, str]) -> None:
        nonlocal count
        count += 1
        if count > MAX_ELEMENTS or len(stack) >= MAX_DEPTH:
            raise XMLError("too many or too deeply nested elements")
        if not stack:
            root.append(tag)
        stack.append(tag)
        texts.append([])
        lengths.append(0)

    def data(text: str) -> None:
        if texts:
            lengths[-1] += len(text)
            if lengths[-1] > MAX_TEXT_CHARS:
                raise XMLError("element text too long")
            texts[-1].append(text)

    def end(tag: str) -> None:
        stack.pop()
        lengths.pop()
        parts = texts.pop()
        if len(stack) == 1:
            result[tag] = "".join(parts)

    parser.StartElementHandler = start
    parser.CharacterDataHandler = data
    parser.EndElementHandler = end
    try:
        parser.Parse(body, True)
    except expat.ExpatError as error:
        raise XMLError(f"malformed XML: {expat.errors.messages.get(error.code, '?')}") from None
    if root != [ROOT_TAG]:
        raise XMLError("the root is not <xml>")
    return result
