"""Text from its leading bytes: which encoding, and whether it is plain text or markup.

Shared by the ``document`` plugin (TXT is plain text only), the ``image`` plugin (an SVG is
markup whose first element is ``<svg>``) and the message that names content of no known type.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

#: control characters allowed in plain text
_TEXT_CONTROLS = frozenset("\t\n\r\f\v\x1b")
#: share of other control characters above which "text" is binary data
MAX_CONTROL_SHARE = 0.01

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig", "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16le"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16be"),
)


@dataclass(frozen=True, slots=True)
class TextHead:
    #: Python codec to decode the whole file with (after skipping ``bom`` bytes)
    codec: str
    #: the encoding's name as reported (``utf-8``, ``utf-16le``, ``windows-1252``)
    label: str
    bom: int
    text: str


def is_control(ch: str) -> bool:
    code = ord(ch)
    return (code < 32 or 0x7F <= code < 0xA0) and ch not in _TEXT_CONTROLS


def decode_head(head: bytes) -> TextHead | None:
    """The first bytes decoded as text, or ``None`` when they are not text."""
    for bom, codec, label in _BOMS:
        if head.startswith(bom):
            body = head[len(bom) :]
            if codec.startswith("utf-16"):
                body = body[: len(body) // 2 * 2]
            return _checked(body, codec.removesuffix("-sig"), label, len(bom))
    if b"\x00" in head:
        return None
    return _checked(head, "utf-8", "utf-8", 0) or _checked(head, "cp1252", "windows-1252", 0)


def _checked(body: bytes, codec: str, label: str, bom: int) -> TextHead | None:
    decoder = codecs.getincrementaldecoder(codec)("strict")
    try:
        # Not final: the head may end inside a multi-byte character.
        text = decoder.decode(body, final=False)
    except UnicodeDecodeError:
        return None
    if not text.strip():
        return None
    controls = sum(1 for ch in text if is_control(ch))
    if controls > len(text) * MAX_CONTROL_SHARE:
        return None
    return TextHead(codec, label, bom, text)


# --- markup ------------------------------------------------------------------------------

_PROLOG = re.compile(
    r"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE\s+(?P<doctype>[\w.:-]+)[^\[>]*(?:\[.*?\])?\s*>)",
    re.S | re.I,
)
_OPEN_DOCTYPE = re.compile(r"\s*<!DOCTYPE\s+(?P<doctype>[\w.:-]+)", re.I)
_FIRST_ELEMENT = re.compile(r"\s*<(?:[A-Za-z_][\w.-]*:)?(?P<name>[A-Za-z_][\w.-]*)")
#: markup that makes a browser run something, wherever it stands in the first bytes
_ACTIVE = re.compile(r"<(?:script|iframe|object|embed|html|body|svg|frameset)\b", re.I)
_HTML_ELEMENTS = frozenset(
    [
        "html",
        "head",
        "body",
        "div",
        "span",
        "p",
        "a",
        "script",
        "style",
        "iframe",
        "table",
        "meta",
        "link",
        "title",
        "img",
        "form",
        "input",
        "frameset",
        "frame",
        "object",
        "embed",
        "br",
        "hr",
        "h1",
        "h2",
        "h3",
        "ul",
        "ol",
        "li",
        "button",
        "noscript",
        "template",
        "base",
    ]
)


def _root_and_doctype(text: str) -> tuple[str | None, str | None]:
    """The name of the first element and of the DOCTYPE, skipping the prolog."""
    position, doctype = 0, None
    while match := _PROLOG.match(text, position):
        doctype = match.group("doctype") or doctype
        position = match.end()
    if opening := _OPEN_DOCTYPE.match(text, position):
        # A DOCTYPE whose internal subset runs past the head (entity bombs do).
        return None, opening.group("doctype").split(":")[-1].lower()
    element = _FIRST_ELEMENT.match(text, position)
    name = element.group("name").lower() if element else None
    return name, doctype.split(":")[-1].lower() if doctype else None


def markup_kind(text: str) -> str | None:
    """``None`` for plain text; else ``svg``, ``html``, ``xml``, ``script`` or ``php``."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("#!"):
        return "script"
    if "<?php" in text.lower():
        return "php"
    if re.match(r"<[A-Za-z!?]", stripped):
        root, doctype = _root_and_doctype(stripped)
        if root == "svg" or (root is None and doctype == "svg"):
            return "svg"
        if root in _HTML_ELEMENTS or doctype == "html":
            return "html"
        return "xml"
    if _ACTIVE.search(text):
        return "html"
    return None
