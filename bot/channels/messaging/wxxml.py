"""A small, safe parser for the XML that WeCom (企业微信) and WeChat (微信公众号) post.

Their messages are one ``<xml>`` element whose children hold text (often in CDATA), a few
of them nested one level (event details). The parser is built on :mod:`xml.parsers.expat`
with every door a hostile body could use shut:

* a document type declaration (``<!DOCTYPE``), hence any internal or external entity
  (XXE, "billion laughs" / quadratic blow-up), is refused at the first byte of it;
* entity declarations, external entity references, notations and unparsed entities are
  refused as well (defence in depth: they can only occur inside a DTD);
* an undefined entity reference (``&foo;``) is an expat error;
* the body, the number of elements and the depth are bounded.

Refusals raise :class:`UnsafeXMLError`, malformed documents :class:`XMLFormatError`; both
are :class:`ValueError`. Standard library only (the Rasa environment).
"""

from __future__ import annotations

from typing import Any
from xml.parsers import expat

#: Largest body accepted, in bytes (a WeChat/WeCom message is well under 8 KB).
MAX_XML_BYTES = 64 * 1024
#: Most elements one document may hold.
MAX_ELEMENTS = 256
#: Deepest nesting below the root.
MAX_DEPTH = 4
#: Longest text of one element, in characters.
MAX_TEXT_CHARS = 32 * 1024


class XMLFormatError(ValueError):
    """The body is not a well-formed WeChat-style XML document."""


class UnsafeXMLError(XMLFormatError):
    """The body declares a DTD or entities, or is too big: refused without expanding it."""


def _refuse(*_: Any) -> None:
    raise UnsafeXMLError("DTDs and entities are refused")


class _Builder:
    """Builds nested dicts from expat events (children by tag, last value wins)."""

    def __init__(self) -> None:
        self.stack: list[tuple[str, dict[str, Any], list[str]]] = []
        self.root: tuple[str, dict[str, Any] | str] | None = None
        self.elements = 0

    def start(self, tag: str, _attributes: dict[str, str]) -> None:
        self.elements += 1
        if self.elements > MAX_ELEMENTS:
            raise UnsafeXMLError("too many elements")
        if len(self.stack) > MAX_DEPTH:
            raise UnsafeXMLError("nested too deep")
        self.stack.append((tag, {}, []))

    def data(self, text: str) -> None:
        if self.stack:
            parts = self.stack[-1][2]
            parts.append(text)
            if sum(len(part) for part in parts) > MAX_TEXT_CHARS:
                raise UnsafeXMLError("element text too long")

    def end(self, _tag: str) -> None:
        tag, children, parts = self.stack.pop()
        value: dict[str, Any] | str = children if children else "".join(parts)
        if self.stack:
            self.stack[-1][1][tag] = value
        else:
            self.root = (tag, value)


def parse_xml(body: bytes | str, *, root: str = "xml") -> dict[str, Any]:
    """Parses a WeChat-style XML document into a dict of its root's children.

    Leaf elements become strings (CDATA or text, whitespace kept), elements with children
    become dicts; attributes are ignored; a repeated tag keeps its last value.

    Args:
        body: The raw body (UTF-8 bytes or text).
        root: The expected name of the root element.

    Returns:
        The root's children, by tag.

    Raises:
        UnsafeXMLError: DTD, entity declaration or reference, or a size limit exceeded.
        XMLFormatError: Not well-formed, not UTF-8, or another root element.
    """
    data = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    if len(data) > MAX_XML_BYTES:
        raise UnsafeXMLError("XML body too large")
    builder = _Builder()
    parser = expat.ParserCreate("UTF-8")
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.NotationDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
    except expat.ExpatError as error:
        raise XMLFormatError(f"malformed XML: {expat.ErrorString(error.code)}") from None
    if builder.root is None or builder.root[0] != root:
        raise XMLFormatError(f"the root element is not <{root}>")
    value = builder.root[1]
    return value if isinstance(value, dict) else {}


def _cdata(text: str) -> str:
    # "]]>" cannot appear inside one CDATA section: split it across two.
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_xml(fields: dict[str, str | int]) -> str:
    """Renders a flat ``<xml>`` document: strings in CDATA, integers as plain text.

    Args:
        fields: Tag to value, in order; tags must be plain names (they are not escaped).

    Returns:
        The XML text.
    """
    parts = ["<xml>"]
    for tag, value in fields.items():
        inner = str(value) if isinstance(value, int) else _cdata(value)
        parts.append(f"<{tag}>{inner}</{tag}>")
    parts.append("</xml>")
    return "".join(parts)
