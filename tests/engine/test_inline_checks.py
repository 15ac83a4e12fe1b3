"""``content_safety.InlineChecks``: the engine's serve-time answer to "may a browser show this
version inline" — by type, or for SVG by the inspector's verdict on the stored bytes, read
within a bound and remembered."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

from asset_service.engine.content_safety import MAX_INLINE_SVG_BYTES, InlineChecks
from asset_service.engine.model import Asset, Version

from .catalog_samples import make_asset
from .inspectors import TinyInspector


class JudgingInspector(TinyInspector):
    """Says yes to SVGs without ``<script``; counts what it was asked."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[str, bytes]] = []

    def safe_inline(self, mime_type: str, content: bytes) -> bool:
        self.asked.append((mime_type, content))
        if b"CRASH" in content:
            raise RuntimeError("a plugin bug")
        return b"<script" not in content


def stored(content: bytes, mime_type: str = "image/svg+xml") -> tuple[Asset, Version, bytes]:
    asset = make_asset()
    version = dataclasses.replace(asset.versions[0], mime_type=mime_type, size=len(content))
    return asset, version, content


def reader(blobs: dict[str, bytes]):
    def read(asset: Asset, version: Version, offset: int, length: int) -> AsyncIterator[bytes]:
        async def chunks() -> AsyncIterator[bytes]:
            data = blobs[asset.asset_id][offset : offset + length]
            for start in range(0, len(data), 7):
                yield data[start : start + 7]

        return chunks()

    return read


async def test_svg_verdicts_come_from_the_inspector_once_per_version() -> None:
    inspector = JudgingInspector()
    checks = InlineChecks(inspector)
    safe = stored(b"<svg><rect/></svg>")
    unsafe = stored(b"<svg><script>alert(1)</script></svg>")
    read = reader({safe[0].asset_id: safe[2], unsafe[0].asset_id: unsafe[2]})
    for _ in range(3):
        assert await checks.allows(safe[0], safe[1], read) is True
        assert await checks.allows(unsafe[0], unsafe[1], read) is False
    assert inspector.asked == [("image/svg+xml", safe[2]), ("image/svg+xml", unsafe[2])]


async def test_other_types_are_settled_by_type_without_reading() -> None:
    inspector = JudgingInspector()
    checks = InlineChecks(inspector)
    read = reader({})  # any read would fail: nothing is stored
    png = stored(b"\x89PNG", "image/png")
    html = stored(b"<p>", "text/html")
    assert await checks.allows(png[0], png[1], read) is True
    assert await checks.allows(html[0], html[1], read) is False
    assert inspector.asked == []


async def test_a_large_svg_or_a_failing_check_is_not_inline() -> None:
    inspector = JudgingInspector()
    checks = InlineChecks(inspector)
    large = stored(b"<svg/>")
    large = (large[0], dataclasses.replace(large[1], size=MAX_INLINE_SVG_BYTES + 1), large[2])
    crash = stored(b"<svg>CRASH</svg>")
    missing = stored(b"<svg/>")
    read = reader({crash[0].asset_id: crash[2]})
    assert await checks.allows(large[0], large[1], read) is False
    assert await checks.allows(crash[0], crash[1], read) is False
    assert await checks.allows(missing[0], missing[1], read) is False  # KeyError reading
    assert [content for _, content in inspector.asked] == [crash[2]]
