"""Adapter fixtures for the engine ports.

Each adapter has its own async fixture that opens it on a fresh location and closes it after;
``blob_store`` and ``catalog`` are parametrized over those fixtures by name, so every contract
test runs once per adapter. Adapter-specific tests take the adapter's own fixture.

- ``filesystem_blob_store``, ``sqlite_catalog``: the embedded adapters, in ``tmp_path``;
- ``moto_blob_store``: the S3 store against the session's moto_server, on a bucket prefix of
  its own;
- ``mongomock_catalog``: the MongoDB catalog on a fresh in-memory mongomock client;
- ``nx_catalog``: the MongoDB catalog over the wire, on the session's nx-27017 (a database of
  its own per test). It runs every catalog contract suite but search (a module says
  ``RUNS_ON_NX = False``): nx-27017's aggregations and range queries over arrays are not
  MongoDB's, and every search contract test fails there;
- ``minio_blob_store``, ``mongo_catalog``: the same adapters against real servers named by
  ``ASSET_TEST_S3_URL`` / ``ASSET_TEST_MONGO_URL`` (skipped when unset), on a bucket prefix or a
  database of their own, dropped afterwards.

A test of one port runs on each of its adapters; a test of the engine (both ports) on each pair
of ``ENGINE_PAIRS``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import mongomock
import pymongo
import pytest
import trio

from asset_service.engine.adapters.filesystem import FilesystemBlobStore
from asset_service.engine.adapters.mongo import MongoCatalog
from asset_service.engine.adapters.s3 import MinioBlobStore
from asset_service.engine.adapters.sqlite import SqliteCatalog
from asset_service.engine.blobstore import BlobStore
from asset_service.engine.catalog import Catalog
from tests.backends import (
    MONGO_URL_VAR,
    REAL_MONGO_URL,
    REAL_S3_URL,
    S3_URL_VAR,
    BucketJanitor,
    moto_s3_url,
    new_bucket_prefix,
    with_bucket_prefix,
)

needs_real_s3 = pytest.mark.skipif(
    not REAL_S3_URL, reason=f"no real S3 server: set {S3_URL_VAR}=s3://KEY:SECRET@HOST:PORT"
)
needs_real_mongo = pytest.mark.skipif(
    not REAL_MONGO_URL, reason=f"no real MongoDB: set {MONGO_URL_VAR}=mongodb://HOST:PORT"
)

BLOB_STORES = [
    "filesystem_blob_store",
    "moto_blob_store",
    pytest.param("minio_blob_store", marks=needs_real_s3),
]
CATALOGS = [
    "sqlite_catalog",
    "mongomock_catalog",
    "nx_catalog",
    pytest.param("mongo_catalog", marks=needs_real_mongo),
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


@pytest.fixture
def moto_s3(moto_url: str) -> str:
    """An ``s3://`` URL for the session's moto_server with a bucket prefix of this test's own."""
    return moto_s3_url(moto_url, new_bucket_prefix())


async def _open_s3_store(url: str, janitor: BucketJanitor) -> AsyncIterator[MinioBlobStore]:
    store = MinioBlobStore.from_url(url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
        janitor.drop(url)


@pytest.fixture
async def moto_blob_store(
    moto_s3: str, bucket_janitor: BucketJanitor
) -> AsyncIterator[MinioBlobStore]:
    async for store in _open_s3_store(moto_s3, bucket_janitor):
        yield store


@pytest.fixture
async def minio_blob_store(bucket_janitor: BucketJanitor) -> AsyncIterator[MinioBlobStore]:
    url = with_bucket_prefix(REAL_S3_URL, new_bucket_prefix())
    async for store in _open_s3_store(url, bucket_janitor):
        yield store


#: stores as they hand out presigned URLs where they can (``presign=true`` on S3)
PRESIGNING_BLOB_STORES = [
    "filesystem_blob_store",
    "moto_presigning_blob_store",
    pytest.param("minio_presigning_blob_store", marks=needs_real_s3),
]


@pytest.fixture
async def moto_presigning_blob_store(
    moto_s3: str, bucket_janitor: BucketJanitor
) -> AsyncIterator[MinioBlobStore]:
    async for store in _open_s3_store(f"{moto_s3}&presign=true", bucket_janitor):
        yield store


@pytest.fixture
async def minio_presigning_blob_store(
    bucket_janitor: BucketJanitor,
) -> AsyncIterator[MinioBlobStore]:
    url = with_bucket_prefix(REAL_S3_URL, new_bucket_prefix())
    async for store in _open_s3_store(f"{url}&presign=true", bucket_janitor):
        yield store


def mongomock_catalog_on(
    client: mongomock.MongoClient, limiter: trio.CapacityLimiter, database: str = "assets"
) -> MongoCatalog:
    """A MongoCatalog on an existing mongomock client. Catalogs sharing a client must share
    the limiter: mongomock's updates are not atomic across threads (real MongoDB's are)."""
    return MongoCatalog(
        f"mongodb://mongomock/{database}", client_factory=lambda: client, limiter=limiter
    )


@pytest.fixture
async def mongomock_catalog() -> AsyncIterator[MongoCatalog]:
    catalog = mongomock_catalog_on(mongomock.MongoClient(), trio.CapacityLimiter(1))
    await catalog.open()
    try:
        yield catalog
    finally:
        await catalog.close()


@pytest.fixture
async def nx_catalog(nx_url: str) -> AsyncIterator[MongoCatalog]:
    database = f"asset_test_{uuid.uuid4().hex[:12]}"
    catalog = MongoCatalog(f"{nx_url}/{database}?serverSelectionTimeoutMS=5000")
    await catalog.open()
    try:
        yield catalog
    finally:
        await catalog.close()
        await trio.to_thread.run_sync(drop_database, nx_url, database)


def drop_database(url: str, database: str) -> None:
    with pymongo.MongoClient(url, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(database)


@pytest.fixture
async def mongo_catalog() -> AsyncIterator[MongoCatalog]:
    database = f"asset_test_{uuid.uuid4().hex[:12]}"
    catalog = MongoCatalog(REAL_MONGO_URL, database=database)
    await catalog.open()
    try:
        yield catalog
    finally:
        await catalog.close()
        await trio.to_thread.run_sync(drop_database, REAL_MONGO_URL, database)


#: what a test using both ports (an engine) runs on: the embedded pair and the production pair,
#: so every adapter runs under the engine without the cross product's cost
ENGINE_PAIRS = [
    pytest.param("filesystem_blob_store", "sqlite_catalog", id="filesystem-sqlite"),
    pytest.param("moto_blob_store", "mongomock_catalog", id="moto-mongomock"),
    pytest.param(
        "minio_blob_store",
        "mongo_catalog",
        id="minio-mongo",
        marks=[needs_real_s3, needs_real_mongo],
    ),
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``blob_store`` over ``BLOB_STORES``, ``catalog`` over ``CATALOGS`` (without nx-27017 for
    a module that says ``RUNS_ON_NX = False``), both at once over ``ENGINE_PAIRS`` — unless
    the test parametrizes them itself."""
    marked = {
        name.strip()
        for mark in metafunc.definition.iter_markers("parametrize")
        for name in (mark.args[0].split(",") if isinstance(mark.args[0], str) else mark.args[0])
    }
    wanted = [name for name in ("blob_store", "catalog") if name in metafunc.fixturenames]
    wanted = [name for name in wanted if name not in marked]
    if wanted == ["blob_store", "catalog"]:
        metafunc.parametrize(("blob_store", "catalog"), ENGINE_PAIRS, indirect=True)
    elif wanted == ["blob_store"]:
        metafunc.parametrize("blob_store", BLOB_STORES, indirect=True)
    elif wanted == ["catalog"]:
        catalogs = CATALOGS
        if not getattr(metafunc.module, "RUNS_ON_NX", True):
            catalogs = [name for name in CATALOGS if name != "nx_catalog"]
        metafunc.parametrize("catalog", catalogs, indirect=True)


# Plain fixtures handing out async ones: pytest-trio resolves the adapter fixture (and runs its
# teardown) before the test sees the value.
@pytest.fixture
def blob_store(request: pytest.FixtureRequest) -> BlobStore:
    return request.getfixturevalue(request.param)


@pytest.fixture
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
