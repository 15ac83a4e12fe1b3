"""How stored content may be shown by a browser: which MIME types are displayed in the page
(``Content-Disposition: inline``) and which are always downloaded (``attachment``), and the
Content-Security-Policy every download carries.

Inline only for types a browser renders without running code: raster images, audio, video,
PDF and plain text. SVG is inline only once the bytes passed the built-in SVG safety check
(which the HTTP layer runs at serve time); everything else — HTML, XHTML, XML, JavaScript,
other ``text/*``, ``application/octet-stream``, office documents, a third-party plugin's types
— is an attachment whatever the client asks for. Used by the download route and for the public
copies a blob store serves itself (``public_visibility``), which only media (raster images,
audio, video) may show inline: that origin sends neither ``nosniff`` nor a CSP, and nothing
checks an SVG.
"""

from __future__ import annotations

from urllib.parse import quote

#: raster images, PDF and plain text: rendered without running anything
INLINE_SAFE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/avif",
        "application/pdf",
        "text/plain",
    }
)
#: whole families rendered by the browser's media player
INLINE_SAFE_FAMILIES = ("audio/", "video/")
#: what a public copy served by the store itself (no nosniff, no CSP there) may show inline
PUBLIC_INLINE_FAMILIES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/avif",
    *INLINE_SAFE_FAMILIES,
)
SVG = "image/svg+xml"
#: the largest SVG checked when served; a bigger one is an attachment
MAX_INLINE_SVG_BYTES = 4 * 1024 * 1024
#: on every content response: nothing loads, scripts and forms never run, an origin of its own
CONTENT_SECURITY_POLICY = "default-src 'none'; sandbox"
#: an inline SVG that passed the check may style itself and embed ``data:`` rasters
SVG_CONTENT_SECURITY_POLICY = f"{CONTENT_SECURITY_POLICY}; style-src 'unsafe-inline'; img-src data:"


def base_type(mime_type: str) -> str:
    """``Text/Plain; charset=utf-8`` → ``text/plain``."""
    return mime_type.split(";", 1)[0].strip().lower()


def inline_safe(mime_type: str) -> bool:
    """Whether content of this type may be shown inline without looking at it (SVG may not:
    it needs the check first)."""
    kind = base_type(mime_type)
    return kind in INLINE_SAFE_TYPES or kind.startswith(INLINE_SAFE_FAMILIES)


def is_svg(mime_type: str) -> bool:
    return base_type(mime_type) == SVG


def content_disposition(filename: str, *, inline: bool) -> str:
    """RFC 6266: an ASCII fallback ``filename`` and the exact name as ``filename*``. Pure
    ASCII, whatever the name holds: no CR, LF, quote, backslash, ``%`` or ``;`` in the
    fallback, everything but unreserved characters percent-encoded in ``filename*``."""
    kind = "inline" if inline else "attachment"
    fallback = "".join(
        ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\%;' else "_" for ch in filename
    )
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
