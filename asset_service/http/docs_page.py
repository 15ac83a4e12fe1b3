"""The page at ``/docs``: renders ``/openapi.json`` in the browser. Self-contained — inline CSS
and script, no fonts, images or scripts from anywhere else — so it works with no internet access.
The page is package data (``static/docs.html``); its script and style are pinned by hash in the
page's Content-Security-Policy, computed here from the file as shipped."""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files


def _only(tag: str, page: str) -> str:
    """The text of the page's one ``<tag>`` element (hashed exactly as the browser does)."""
    found = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
    if len(found) != 1:
        raise RuntimeError(f"static/docs.html must have exactly one <{tag}> element")
    return found[0]


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


PAGE = files("asset_service.http").joinpath("static", "docs.html").read_text(encoding="utf-8")
STYLE = _only("style", PAGE)
SCRIPT = _only("script", PAGE)

#: nothing but this page's own style and script, and requests to this origin
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        f"script-src {_csp_hash(SCRIPT)}",
        f"style-src {_csp_hash(STYLE)}",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
