"""The catalog port: where asset records live and are queried.

Records are ``model.Asset``; adapters store ``Asset.to_document()`` and give back
``Asset.from_document()``. Cross-instance invariants live here, not in memory (DESIGN §10):
writes are compare-and-set on ``revision``, and the cleanup lease is a catalog record.

Adapters: ``adapters.sqlite.SqliteCatalog`` (embedded default); the MongoDB adapter joins the
same contract suite (``tests/engine/test_catalog_contract.py``).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime

from .model import Asset


@dataclass(frozen=True, slots=True)
class AssetQuery:
    """Which assets to list. ``None`` means "any"."""

    customer_id: str
    type: str | None = None
    folder: str | None = None
    #: include assets in sub-folders of ``folder`` too
    recursive: bool = False
    #: ``False``: live assets only; ``True``: soft-deleted ones only; ``None``: both
    deleted: bool | None = False
    limit: int = 50
    #: opaque, from a previous ``Page.next_cursor``
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Asset]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class FolderInfo:
    path: str
    count: int


class Catalog(abc.ABC):
    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, create or migrate the schema and indexes. Raises ``ConnectionError`` with a
        readable reason when the backend is unreachable."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections. Idempotent."""

    @abc.abstractmethod
    async def insert(self, asset: Asset) -> None:
        """Store a new record. Raises ``KeyError`` if ``asset_id`` already exists."""

    @abc.abstractmethod
    async def get(self, asset_id: str) -> Asset | None:
        """The record, deleted or not, or ``None``. Tenancy is the caller's business."""

    @abc.abstractmethod
    async def replace(self, asset: Asset, expected_revision: int) -> bool:
        """Compare-and-set: store ``asset`` only if the stored revision is still
        ``expected_revision``. Returns ``False`` (and stores nothing) otherwise. The caller
        bumps ``asset.revision``."""

    @abc.abstractmethod
    async def delete(self, asset_id: str) -> None:
        """Remove the record for good. Deleting a missing record is not an error."""

    @abc.abstractmethod
    async def list(self, query: AssetQuery) -> Page:
        """Assets of one customer, newest first (``created_at``, then ``asset_id``), filtered
        by ``query``; the cursor stays valid while new assets arrive. Raises ``ValueError``
        for a cursor this adapter did not issue."""

    @abc.abstractmethod
    async def deleted_before(self, cutoff: datetime, limit: int = 500) -> list[Asset]:
        """Soft-deleted assets whose ``deleted_at`` is at or before ``cutoff``, oldest first,
        across all customers (for the cleanup actor)."""

    @abc.abstractmethod
    async def add_folder(self, customer_id: str, asset_type: str, path: str) -> bool:
        """Record that a folder exists (and its parents). Returns ``True`` if it was new."""

    @abc.abstractmethod
    async def folders(self, customer_id: str, asset_type: str) -> list[FolderInfo]:
        """Every folder of a customer's type with the number of live assets directly in it,
        sorted by path."""

    @abc.abstractmethod
    async def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take or renew the lease ``name`` for ``holder`` for ``ttl`` seconds. Returns
        ``False`` while another holder's lease is unexpired."""

    @abc.abstractmethod
    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease back if ``holder`` holds it."""
