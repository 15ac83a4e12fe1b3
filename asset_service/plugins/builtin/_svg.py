"""SVG: parsed with defusedxml, refused when it could run code or fetch anything.

Refused: ``<script>`` (and the other elements that run or embed code), event-handler attributes
(``onload=``…), ``javascript:``/``vbscript:``/``data:text/html`` URLs anywhere, entities (so
no billion laughs and no external entities), and references to anything outside the file
(``href`` other than ``#fragment`` or an embedded raster image, CSS ``url(…)`` and
``@import``, ``<?xml-stylesheet?>``). A DOCTYPE alone is allowed: many editors write one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from asset_service.engine.errors import UnprocessableContent
from asset_service.engine.model import Dimensions

from ._common import clean_text

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
#: elements that run code or embed other documents
_FORBIDDEN_ELEMENTS = {
    "script": "a <script> element",
    "handler": "a <handler> element (script)",
    "foreignobject": "a <foreignObject> element (it can embed HTML)",
    "iframe": "an <iframe> element",
    "embed": "an <embed> element",
    "object": "an <object> element",
}
_DANGEROUS_URL = re.compile(r"(?:java|vb)script:|data:text/html|data:image/svg", re.I)
_SAFE_DATA_IMAGE = re.compile(r"data:image/(?:png|jpeg|jpg|gif|webp);base64,", re.I)
_CSS_URL = re.compile(r"url\(\s*(['\"]?)\s*(?P<target>[^'\")\s]*)", re.I)
_UNITS = {"": 1.0, "px": 1.0, "pt": 4 / 3, "pc": 16.0, "in": 96.0, "cm": 96 / 2.54, "mm": 96 / 25.4}
_LENGTH = re.compile(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z%]*)\s*$", re.I)


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1].lower()


def _squeezed(value: str) -> str:
    """A URL as a browser reads it: whitespace and control characters inside are ignored."""
    return re.sub(r"[\x00-\x20]+", "", value)


def _check_reference(target: str, where: str) -> None:
    target = _squeezed(target)
    if not target or target.startswith("#") or _SAFE_DATA_IMAGE.match(target):
        return
    raise UnprocessableContent(
        f"the SVG holds an external reference ({where}={target[:80]!r}); "
        "only #fragments and embedded PNG/JPEG/GIF/WEBP images are allowed"
    )


def _check_css(css: str, where: str) -> None:
    if "@import" in css.lower():
        raise UnprocessableContent(f"the SVG's CSS imports another stylesheet ({where})")
    for match in _CSS_URL.finditer(css):
        _check_reference(match.group("target"), f"{where} url()")


def parse(path: Path, max_bytes: int) -> Any:
    """The SVG's root element, once it passed every check; raises ``UnprocessableContent``."""
    size = path.stat().st_size
    if size > max_bytes:
        raise UnprocessableContent(f"the SVG is {size} bytes; at most {max_bytes} are accepted")
    return check(path.read_bytes())


def check(data: bytes) -> Any:
    """``parse`` of bytes in memory (the download route checks stored SVGs again before
    showing one inline). Blocking: call it in a worker thread."""
    if re.search(rb"<\?xml-stylesheet", data, re.I):
        raise UnprocessableContent("the SVG loads an external stylesheet (<?xml-stylesheet?>)")
    try:
        root = SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as error:
        name = getattr(error, "name", None) or "?"
        if getattr(error, "system_id", None) or "xternal" in type(error).__name__:
            what = f"an external entity or reference ({name!s:.40})"
        else:
            what = f"an entity ({name!s:.40})"
        raise UnprocessableContent(
            f"the SVG declares {what}; entities are not allowed in SVG uploads"
        ) from None
    except SafeET.ParseError as error:
        raise UnprocessableContent(f"the SVG is not well-formed XML: {error}") from None
    if _local(root.tag) != "svg":
        raise UnprocessableContent(f"the root element is <{_local(root.tag)}>, not <svg>")
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        name = _local(element.tag)
        if name in _FORBIDDEN_ELEMENTS:
            raise UnprocessableContent(f"the SVG holds {_FORBIDDEN_ELEMENTS[name]}")
        if name == "style" and element.text:
            _check_css(element.text, "<style>")
        for raw_attribute, value in element.attrib.items():
            attribute = _local(raw_attribute)
            if attribute.startswith("on"):
                raise UnprocessableContent(
                    f"the SVG holds an event-handler attribute ({attribute}= on <{name}>)"
                )
            if _DANGEROUS_URL.search(_squeezed(value)):
                raise UnprocessableContent(f"the SVG holds a script URL ({attribute}= on <{name}>)")
            if attribute == "attributename" and value.strip().lower().startswith("on"):
                raise UnprocessableContent(f"the SVG animates an event handler (<{name}>)")
            if attribute in ("href", "src"):
                _check_reference(value, attribute)
            elif attribute == "style":
                _check_css(value, "style")
            elif "url(" in value:
                _check_css(value, attribute)
    return root


def _length(value: str | None) -> float | None:
    if not value:
        return None
    match = _LENGTH.match(value)
    if not match or match.group(2).lower() not in _UNITS:
        return None  # %, em…: relative to a context the file does not have
    return float(match.group(1)) * _UNITS[match.group(2).lower()]


def describe(root: Any) -> tuple[Dimensions | None, dict[str, Any]]:
    width = _length(root.get("width"))
    height = _length(root.get("height"))
    view_box = clean_text(root.get("viewBox"), 100)
    if (width is None or height is None) and view_box:
        parts = re.split(r"[\s,]+", view_box.strip())
        try:
            box_width, box_height = float(parts[2]), float(parts[3])
        except (IndexError, ValueError):
            box_width = box_height = None
        if box_width and box_height:
            if width is None and height is None:
                width, height = box_width, box_height
            elif width is None:
                width = height * box_width / box_height  # type: ignore[operator]
            else:
                height = width * box_height / box_width
    dimensions = None
    if width and height and width > 0 and height > 0:
        dimensions = Dimensions(max(1, round(width)), max(1, round(height)))
    extracted: dict[str, Any] = {
        "width": clean_text(root.get("width"), 50),
        "height": clean_text(root.get("height"), 50),
        "view_box": view_box,
    }
    title = root.find(f"{{{SVG_NAMESPACE}}}title")
    if title is not None and title.text:
        extracted["title"] = clean_text(title.text)
    return dimensions, extracted
