"""Adapter fixtures for the engine ports.

Each adapter has its own async fixture that opens it on a fresh location and closes it after;
``blob_store`` and ``catalog`` are parametrized over those fixtures by name, so every contract
test runs once per adapter. Adapter-specific tests take the adapter's own fixture.

A new adapter (MinIO, MongoDB) joins by adding its fixture here and its name to
``BLOB_STORES`` / ``CATALOGS``, as a ``pytest.param(..., marks=...)`` that skips when the server
is not available.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asset_service.engine.adapters.filesystem import FilesystemBlobStore
from asset_service.engine.adapters.sqlite import SqliteCatalog
from asset_service.engine.blobstore import BlobStore
from asset_service.engine.catalog import Catalog

BLOB_STORES = [
    "filesystem_blob_store",
    # pytest.param("minio_blob_store", marks=pytest.mark.skipif(not MINIO_URL, reason=...)),
]
CATALOGS = [
    "sqlite_catalog",
    # pytest.param("mongo_catalog", marks=pytest.mark.skipif(not MONGO_URL, reason=...)),
]


@pytest.fixture
async def filesystem_blob_store(tmp_path: Path) -> AsyncIterator[FilesystemBlobStore]:
    store = FilesystemBlobStore(tmp_path / "blobs")
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def sqlite_catalog(tmp_path: Path) -> AsyncIterator[SqliteCatalog]:
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite3")
    await catalog.open()
    try:
        yield catalog
    finally:
        await catalog.close()


# MinIO / MongoDB adapter fixtures go here: same shape, on a unique bucket prefix or database
# name per test so runs never see each other's data, dropped again in the finally.


# Plain fixtures handing out async ones: pytest-trio resolves the adapter fixture (and runs its
# teardown) before the test sees the value.
@pytest.fixture(params=BLOB_STORES)
def blob_store(request: pytest.FixtureRequest) -> BlobStore:
    return request.getfixturevalue(request.param)


@pytest.fixture(params=CATALOGS)
def catalog(request: pytest.FixtureRequest) -> Catalog:
    return request.getfixturevalue(request.param)


# --- engines over the parametrized adapters ------------------------------------------------

from collections.abc import Callable  # noqa: E402
from contextlib import AbstractAsyncContextManager  # noqa: E402

from asset_service.engine import AssetEngine, EngineConfig, open_engine  # noqa: E402
from asset_service.engine.model import Principal, Role  # noqa: E402

from .inspectors import TinyInspector  # noqa: E402

EDITOR = Principal("alice", "acme", frozenset({Role.EDITOR}))
ADMIN = Principal("root", "acme", frozenset({Role.ADMIN}))
VIEWER = Principal("victor", "acme", frozenset({Role.VIEWER}))
OUTSIDER = Principal("mallory", "other", frozenset({Role.ADMIN}))


@pytest.fixture
def inspector() -> TinyInspector:
    return TinyInspector()


@pytest.fixture
def open_test_engine(
    blob_store: BlobStore, catalog: Catalog, inspector: TinyInspector
) -> Callable[..., AbstractAsyncContextManager[AssetEngine]]:
    """``async with open_test_engine(max_versions=3) as engine`` on the adapters under test.
    The adapters are already open; ``open_engine`` opening them again is idempotent."""

    def open_with(**config: object) -> AbstractAsyncContextManager[AssetEngine]:
        defaults: dict[str, object] = {"cleanup_interval": 3600.0, "max_upload_bytes": 1 << 20}
        return open_engine(blob_store, catalog, inspector, EngineConfig(**{**defaults, **config}))

    return open_with
