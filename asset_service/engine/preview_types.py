"""What a preview is: the values the preview actor, the plugin hook ``previewers`` and the
catalog share, and the ``PreviewStates`` port (the catalog's record of each preview).

A version has at most one preview of each *kind* (``thumbnail``, ``poster``, ``waveform``, a
plugin's own); a kind has one or more *variants* (the four picture sizes; one for a
waveform). The state of a (asset, version, kind) is ``pending`` from before the version is
committed until the preview actor has made it (``ready``) or given up on it (``failed``, with
the reason). States live in a table of their own, not in the asset record: making a preview
must not bump the record's ``revision``, which clients pin with ``If-Match``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .model import format_time, parse_time, utc_now

#: longest side, in pixels, of every picture preview (thumbnails and posters)
PICTURE_SIZES = (128, 256, 512, 1024)
DEFAULT_PICTURE_SIZE = 256
#: the waveform is stored at this many buckets; a request for fewer merges them
STORED_WAVEFORM_BUCKETS = 4000
DEFAULT_WAVEFORM_BUCKETS = 1000
MIN_WAVEFORM_BUCKETS = 100


class PreviewStatus(enum.StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PreviewSettings:
    """The preview actor's configuration (``EngineConfig.previews``)."""

    enabled: bool = True
    #: previews made at once (``ASSET_PREVIEW_CONCURRENCY``); a pool of its own, not the
    #: engine's heavy-inspection limiter, so previews never hold uploads back
    concurrency: int = 2
    #: seconds one rendering may take (``ASSET_PREVIEW_TIMEOUT``)
    timeout: float = 60.0
    #: seconds a queued preview waits for this instance's uploads to finish before it starts
    #: anyway: previews yield the CPU to uploads, yet a steady stream of uploads delays them
    #: by no more than this
    yield_to_uploads: float = 5.0


@dataclass(frozen=True, slots=True)
class PreviewRequest:
    """What a renderer is given: the version's content as a local file (read it, never write
    or move it), a directory of its own to write its output into, and its time budget."""

    source: Path
    out_dir: Path
    mime_type: str
    #: seconds the whole rendering may take; a subprocess must be given at most this
    timeout: float
    #: the version's duration and dimensions, as extracted at upload (may be ``None``)
    duration: float | None = None


@dataclass(frozen=True, slots=True)
class RenderedPreview:
    """One file a renderer wrote under ``out_dir``: a variant of its kind. ``variant`` is the
    size as text for pictures (``"256"``), ``"peaks"`` for a waveform."""

    variant: str
    path: Path
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class Previewer:
    """A kind of preview a plugin makes for a type: the hook ``previewers`` returns these.
    ``render`` is blocking (called in a worker thread) and raises to fail the preview, with a
    message that says why (it is stored as the reason)."""

    kind: str
    #: the MIME type of every variant (``image/webp``, ``application/json``)
    media_type: str
    render: Callable[[PreviewRequest], Sequence[RenderedPreview]]


class NoPreview(Exception):
    """A renderer cannot make this preview here (no ffmpeg, no SVG renderer): the preview is
    ``failed`` with this reason, never retried."""


@dataclass(slots=True)
class PreviewVariant:
    variant: str
    storage_key: str
    size: int
    etag: str
    width: int | None = None
    height: int | None = None

    def to_document(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "storage_key": self.storage_key,
            "size": self.size,
            "etag": self.etag,
            "width": self.width,
            "height": self.height,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> PreviewVariant:
        return cls(
            variant=str(doc["variant"]),
            storage_key=doc["storage_key"],
            size=int(doc["size"]),
            etag=doc["etag"],
            width=doc.get("width"),
            height=doc.get("height"),
        )


@dataclass(slots=True)
class PreviewState:
    asset_id: str
    version: int
    kind: str
    customer_id: str
    media_type: str
    status: PreviewStatus = PreviewStatus.PENDING
    reason: str | None = None
    variants: list[PreviewVariant] = field(default_factory=list)
    updated_at: datetime = field(default_factory=utc_now)

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.asset_id, self.version, self.kind)

    def variant(self, name: str) -> PreviewVariant | None:
        return next((v for v in self.variants if v.variant == name), None)

    def to_document(self) -> dict[str, Any]:
        return {
            "asset_id": self.asset_id,
            "version": self.version,
            "kind": self.kind,
            "customer_id": self.customer_id,
            "media_type": self.media_type,
            "status": self.status.value,
            "reason": self.reason,
            "variants": [v.to_document() for v in self.variants],
            "updated_at": format_time(self.updated_at),
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> PreviewState:
        return cls(
            asset_id=doc["asset_id"],
            version=int(doc["version"]),
            kind=doc["kind"],
            customer_id=doc["customer_id"],
            media_type=doc["media_type"],
            status=PreviewStatus(doc["status"]),
            reason=doc.get("reason"),
            variants=[PreviewVariant.from_document(v) for v in doc.get("variants") or []],
            updated_at=parse_time(doc.get("updated_at")) or utc_now(),
        )


@runtime_checkable
class PreviewStates(Protocol):
    """The catalog's record of previews (every catalog adapter implements it; contract suite
    ``tests/engine/test_preview_states_contract.py``)."""

    async def expect_previews(self, states: Sequence[PreviewState]) -> None:
        """Store each state unless one with its (asset, version, kind) exists already."""
        ...

    async def save_preview(self, state: PreviewState) -> None:
        """Store ``state``, replacing the one of its (asset, version, kind)."""
        ...

    async def previews_of(self, asset_id: str, version: int | None = None) -> list[PreviewState]:
        """The states of an asset (of one version), by version then kind."""
        ...

    async def pending_previews(
        self, after: tuple[str, int] | None = None, limit: int = 200
    ) -> list[tuple[str, int]]:
        """Distinct (asset, version) pairs with a pending preview, in order, after ``after``."""
        ...

    async def delete_previews(self, asset_id: str, version: int | None = None) -> None:
        """Forget the states of an asset (of one version)."""
        ...

    async def asset_ids(self, after: str | None = None, limit: int = 500) -> list[str]:
        """Every asset id in order, after ``after`` (for ``asset-service previews
        --missing``), deleted or not."""
        ...


def merge_peaks(peaks: list[list[float]], buckets: int) -> list[list[float]]:
    """``peaks`` merged into ``buckets`` (each the min and max of the peaks it covers); as
    they are when there are not more than ``buckets``."""
    count = len(peaks)
    if count <= buckets:
        return peaks
    merged = []
    for index in range(buckets):
        start, end = index * count // buckets, (index + 1) * count // buckets
        group = peaks[start : max(end, start + 1)]
        merged.append([min(p[0] for p in group), max(p[1] for p in group)])
    return merged
