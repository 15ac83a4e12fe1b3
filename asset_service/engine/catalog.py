"""The catalog ports: where asset records, folders, leases and upload sessions live.

Five narrow protocols, one per concern, so that each caller names what it uses:
``AssetRecords`` (a record by id, compare-and-set), ``AssetSearch`` (listing, facets, stats),
``Folders``, ``Leases`` (cross-instance exclusive jobs) and ``UploadSessions`` (resumable tus
uploads any instance can continue). ``Catalog`` combines them with ``open``/``close``; the
composition root builds one adapter that implements all five.

Records are ``model.Asset``; adapters store ``Asset.to_document()`` and give back
``Asset.from_document()``. Cross-instance invariants live here, not in memory: writes are
compare-and-set on ``revision``, leases and upload sessions are catalog records.

Adapters: ``adapters.sqlite.SqliteCatalog`` (embedded default) and
``adapters.mongo.MongoCatalog``; one contract suite per protocol runs on both
(``tests/engine/test_*_contract.py``, see docs/architecture.md).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .model import Asset, UploadSession
from .search import NEWEST_FIRST, SortOrder


@dataclass(frozen=True, slots=True)
class AssetQuery:
    """Which assets to list or search, in which order. ``None`` (or empty) means "any"; every
    filter given must hold. Semantics are in ``engine.search`` and the contract suite."""

    customer_id: str
    type: str | None = None
    folder: str | None = None
    #: include assets in sub-folders of ``folder`` too
    recursive: bool = False
    #: ``False``: live assets only; ``True``: soft-deleted ones only; ``None``: both
    deleted: bool | None = False
    limit: int = 50
    #: opaque, from a previous ``Page.next_cursor`` of the same ``sort``
    cursor: str | None = None
    #: words, each the prefix of a token of name, title, description, tags or file name
    text: str | None = None
    tags: tuple[str, ...] = ()
    #: ``all``: every tag in ``tags``; ``any``: at least one
    tag_mode: str = "all"
    category: str | None = None
    #: an exact MIME type, or ``audio/*`` for a whole family
    mime_type: str | None = None
    checksum: str | None = None
    min_size: int | None = None
    max_size: int | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    #: hide other users' ``private`` assets from this user (``None``: hide nothing — admins)
    viewer_user_id: str | None = None
    #: by ``created_at``, ``updated_at``, ``name``, ``size`` or ``duration``, either way
    sort: SortOrder = NEWEST_FIRST


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Asset]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class FolderInfo:
    path: str
    count: int


@dataclass(frozen=True, slots=True)
class Facet:
    """A tag or category in use, with how many matching assets carry it."""

    name: str
    count: int


@dataclass(frozen=True, slots=True)
class Totals:
    count: int = 0
    size: int = 0
    duration: float = 0.0


@dataclass(frozen=True, slots=True)
class Stats:
    total: Totals
    #: by ``extracted.format`` (``mp3``, ``png``…); assets without one under ``unknown``
    by_format: dict[str, Totals]
    by_folder: dict[str, Totals]


def folder_and_parents(path: str) -> list[str]:
    """``"/a/b"`` -> ``["/a", "/a/b"]``; the root is implicit and not listed."""
    if not path.startswith("/"):
        raise ValueError(f"folder must start with '/': {path!r}")
    segments = path.strip("/").split("/") if path != "/" else []
    if any(not segment for segment in segments):
        raise ValueError(f"folder has an empty segment: {path!r}")
    return ["/" + "/".join(segments[: i + 1]) for i in range(len(segments))]


class AssetRecords(Protocol):
    """Asset records by id. Tenancy is the caller's business."""

    @abc.abstractmethod
    async def insert(self, asset: Asset) -> None:
        """Store a new record. Raises ``KeyError`` if ``asset_id`` already exists."""

    @abc.abstractmethod
    async def get(self, asset_id: str) -> Asset | None:
        """The record, deleted or not, or ``None``."""

    @abc.abstractmethod
    async def replace(self, asset: Asset, expected_revision: int) -> bool:
        """Compare-and-set: store ``asset`` only if the stored revision is still
        ``expected_revision``. Returns ``False`` (and stores nothing) otherwise. The caller
        bumps ``asset.revision``."""

    @abc.abstractmethod
    async def delete(self, asset_id: str) -> None:
        """Remove the record for good. Deleting a missing record is not an error."""

    @abc.abstractmethod
    async def deleted_before(self, cutoff: datetime, limit: int = 500) -> list[Asset]:
        """Soft-deleted assets whose ``deleted_at`` is at or before ``cutoff``, oldest first,
        across all customers (for the cleanup actor)."""


class AssetSearch(Protocol):
    """One customer's assets matching an ``AssetQuery``, with the semantics of
    ``engine.search`` on every adapter."""

    @abc.abstractmethod
    async def list(self, query: AssetQuery) -> Page:
        """Assets of one customer matching ``query``, in ``query.sort`` order with ties broken
        by ``asset_id`` in the same direction; the cursor stays valid while new assets arrive.
        Raises ``ValueError`` for a cursor not issued for this sort."""

    @abc.abstractmethod
    async def facets(self, query: AssetQuery, field: str) -> list[Facet]:
        """The values of ``field`` (``tags`` or ``category``) among the assets matching
        ``query`` (its sort, limit and cursor ignored), with counts; most used first, then by
        name."""

    @abc.abstractmethod
    async def stats(self, query: AssetQuery) -> Stats:
        """Count, total size and total duration (missing durations count as 0) of the assets
        matching ``query``, overall, by format and by folder."""


class Folders(Protocol):
    """Folders per customer and asset type: created explicitly, or implied by an asset in
    them."""

    @abc.abstractmethod
    async def add_folder(self, customer_id: str, asset_type: str, path: str) -> bool:
        """Record that a folder exists (and its parents, ``folder_and_parents``). Returns
        ``True`` if it was new."""

    @abc.abstractmethod
    async def folders(self, customer_id: str, asset_type: str) -> list[FolderInfo]:
        """Every folder of a customer's type — the root, those added, those holding a live
        asset, and their parents — with the number of live assets directly in it, sorted by
        path."""


class Leases(Protocol):
    """Named, expiring leases: what makes a job exclusive across instances (the cleanup, a
    version number being reserved)."""

    @abc.abstractmethod
    async def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take or renew the lease ``name`` for ``holder`` for ``ttl`` seconds. Returns
        ``False`` while another holder's lease is unexpired."""

    @abc.abstractmethod
    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease back if ``holder`` holds it."""


class UploadSessions(Protocol):
    """Resumable (tus) upload sessions, stored so that any instance can continue one."""

    @abc.abstractmethod
    async def insert_upload(self, session: UploadSession) -> None:
        """Store a new upload session. Raises ``KeyError`` if ``upload_id`` already exists."""

    @abc.abstractmethod
    async def get_upload(self, upload_id: str) -> UploadSession | None:
        """The session, or ``None``. Tenancy is the caller's business."""

    @abc.abstractmethod
    async def replace_upload(self, session: UploadSession, expected_revision: int) -> bool:
        """Compare-and-set: store ``session`` only if the stored one is still at
        ``expected_revision`` (so of two instances appending at the same offset, one wins).
        Returns ``False`` and stores nothing otherwise, or if there is no such session. The
        caller bumps ``session.revision``."""

    @abc.abstractmethod
    async def delete_upload(self, upload_id: str, expected_revision: int | None = None) -> bool:
        """Remove a session for good — only if still at ``expected_revision`` when one is
        given. Returns whether a session was removed."""

    @abc.abstractmethod
    async def count_open_uploads(self, customer_id: str, now: datetime) -> int:
        """How many of the customer's sessions are open — receiving or committing, and not
        expired at ``now`` (the cap on open sessions per customer)."""

    @abc.abstractmethod
    async def expired_uploads(self, cutoff: datetime, limit: int = 200) -> list[UploadSession]:
        """Sessions whose ``expires_at`` is at or before ``cutoff``, soonest first, across all
        customers (for the cleanup actor)."""

    @abc.abstractmethod
    async def committing_uploads(
        self, started_before: datetime, limit: int = 50
    ) -> list[UploadSession]:
        """Sessions in state ``committing`` whose commit took them (``committing_since``) at
        or before ``started_before`` — or that carry no such time — oldest first, across all
        customers: commits whose instance may have died, for the takeover pass."""


class Catalog(AssetRecords, AssetSearch, Folders, Leases, UploadSessions, Protocol):
    """Every catalog protocol, and the adapter's lifecycle: what the composition root builds
    and the engine opens. Adapters subclass it (so a missing method fails at construction);
    callers that need one concern type their argument with that protocol."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, create or migrate the schema and indexes. Raises ``ConnectionError`` with a
        readable reason when the backend is unreachable. Opening an open catalog is harmless."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections. Idempotent."""


#: the protocols ``Catalog`` combines, each with its contract suite
CATALOG_PROTOCOLS: tuple[type, ...] = (AssetRecords, AssetSearch, Folders, Leases, UploadSessions)
