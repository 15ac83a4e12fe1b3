"""What the engine needs from content inspection, as a port of its own.

The engine never imports ``asset_service.plugins``: it is handed an object with this shape by
the composition root (``wiring.py``). The plugin package implements it on pluggy;
tests can hand the engine a tiny inspector of their own.

The methods are synchronous because most of the work is blocking (Pillow, mutagen, ffprobe):
the engine always calls ``validate``, ``describe`` and ``safe_inline`` through
``trio.to_thread.run_sync`` (on a limiter of a few threads for ``Detected.heavy`` content), and
``sniff`` only on the first few KiB already in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .events import Event
from .model import AssetType, Dimensions

#: how many leading bytes the engine keeps in memory for ``sniff``
SNIFF_BYTES = 8192


@dataclass(frozen=True, slots=True)
class Detected:
    """What the bytes are: an asset type, a MIME type and a short format name (``mp3``).
    ``heavy``: inspecting them takes much memory or CPU (decoding an image, probing a video),
    so ``validate`` and ``describe`` run on the engine's heavy-inspection limiter, a few at a
    time (``ASSET_HEAVY_INSPECTIONS``), and the memory they freed is returned afterwards."""

    type: str
    mime_type: str
    format: str
    heavy: bool = False


@dataclass(slots=True)
class Description:
    """What a type plugin found in a file."""

    duration: float | None = None
    dimensions: Dimensions | None = None
    extracted: dict[str, Any] = field(default_factory=dict)


class ContentInspector(Protocol):
    def asset_types(self) -> dict[str, AssetType]:
        """Every asset type that can be stored, by name."""
        ...

    def sniff(self, head: bytes, filename: str) -> Detected | None:
        """Recognise content from its first ``SNIFF_BYTES`` bytes; ``None`` if unknown (or
        raise ``UnsupportedContent`` with a reason that names what the bytes look like)."""
        ...

    def validate(self, path: Path, detected: Detected) -> None:
        """Raise ``UnprocessableContent`` (or ``UnsupportedContent``) for broken or dangerous
        content. Blocking: called in a worker thread."""
        ...

    def describe(self, path: Path, detected: Detected) -> Description:
        """Extract the type's metadata. Blocking: called in a worker thread."""
        ...

    def safe_inline(self, mime_type: str, content: bytes) -> bool:
        """Whether a browser may show ``content`` inline: nothing in it runs or loads anything.
        Asked at serve time, only for types whose bytes need a look
        (``content_safety.needs_inspection``: SVG), with at most ``MAX_INLINE_SVG_BYTES``; the
        engine remembers the verdict. ``False`` for a type it can't judge. Blocking: called
        in a worker thread."""
        ...

    def notify(self, event: Event) -> None:
        """Be told of an engine event. Must not block for long; errors are logged, not
        raised."""
        ...
