"""How stored content may be shown by a browser: which MIME types are displayed in the page
(``Content-Disposition: inline``) and which are always downloaded (``attachment``), and the
Content-Security-Policy every download carries.

Inline only for types a browser renders without running code: raster images, audio, video,
PDF and plain text. SVG is inline only once its stored bytes passed the inspector's check
(``ContentInspector.safe_inline``, asked at serve time through ``InlineChecks``, which holds
the verdicts and bounds the work); everything else — HTML, XHTML, XML, JavaScript,
other ``text/*``, ``application/octet-stream``, office documents, a third-party plugin's types
— is an attachment whatever the client asks for. Used by the download route and for the public
copies a blob store serves itself (``public_visibility``), which only media (raster images,
audio, video) may show inline: that origin sends neither ``nosniff`` nor a CSP, and nothing
checks an SVG.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

import trio

from .inspection import ContentInspector
from .model import Asset, Version

logger = logging.getLogger(__name__)

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


def needs_inspection(mime_type: str) -> bool:
    """Whether the type alone does not settle it: the bytes must be looked at (SVG)."""
    return is_svg(mime_type)


def content_disposition(filename: str, *, inline: bool) -> str:
    """RFC 6266: an ASCII fallback ``filename`` and the exact name as ``filename*``. Pure
    ASCII, whatever the name holds: no CR, LF, quote, backslash, ``%`` or ``;`` in the
    fallback, everything but unreserved characters percent-encoded in ``filename*``."""
    kind = "inline" if inline else "attachment"
    fallback = "".join(
        ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\%;' else "_" for ch in filename
    )
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


#: reads of content to check, each up to ``MAX_INLINE_SVG_BYTES`` in memory, at once
CHECKS_AT_ONCE = 2
#: verdicts remembered, by (asset, version, checksum): a version's bytes never change
VERDICTS_KEPT = 1024

Reader = Callable[[Asset, Version, int, int], AsyncIterator[bytes]]


class InlineChecks:
    """Whether a stored version may be shown inline, asked at serve time: by its type, or for
    a type that needs a look (SVG) by the inspector's verdict on the stored bytes — which may
    have come by a path that did not check them (a third-party plugin claiming the type, an
    import, the store itself). Only up to ``MAX_INLINE_SVG_BYTES``; the bytes checked are the
    ones served. Reading and checking share one limiter, so that many requests at once can't
    hold many files in memory; verdicts are remembered, so that repeated requests don't parse
    again."""

    def __init__(self, inspector: ContentInspector) -> None:
        self._inspector = inspector
        self._limiter = trio.CapacityLimiter(CHECKS_AT_ONCE)
        self._verdicts: OrderedDict[tuple[str, int, str], bool] = OrderedDict()

    async def allows(self, asset: Asset, version: Version, read: Reader) -> bool:
        """``read`` streams the version's stored bytes (``AssetEngine.read``)."""
        if not needs_inspection(version.mime_type):
            return inline_safe(version.mime_type)
        if version.size > MAX_INLINE_SVG_BYTES:
            return False
        key = (asset.asset_id, version.version, version.checksum)
        verdict = self._verdicts.get(key)
        if verdict is not None:
            self._verdicts.move_to_end(key)
            return verdict
        async with self._limiter:
            verdict = await self._inspect(asset, version, read)
        self._verdicts[key] = verdict
        while len(self._verdicts) > VERDICTS_KEPT:
            self._verdicts.popitem(last=False)
        return verdict

    async def _inspect(self, asset: Asset, version: Version, read: Reader) -> bool:
        try:
            chunks = [chunk async for chunk in read(asset, version, 0, version.size)]
            verdict = await trio.to_thread.run_sync(
                self._inspector.safe_inline, base_type(version.mime_type), b"".join(chunks)
            )
        except Exception as error:
            logger.warning(
                "asset %s v%d: stored content not shown inline: %s",
                asset.asset_id,
                version.version,
                getattr(error, "reason", None) or type(error).__name__,
            )
            return False
        if not verdict:
            logger.warning(
                "asset %s v%d: stored %s failed the inline check: shown as an attachment",
                asset.asset_id,
                version.version,
                version.mime_type,
            )
        return bool(verdict)
