"""Two engines on one catalog and one blob store: what two service instances are
(docs/architecture.md, "Several instances").

Each engine has its own adapter objects — as separate processes would — over the same backing
store: two ``SqliteCatalog`` on one file and two ``FilesystemBlobStore`` on one directory; two
S3 stores on one moto bucket prefix and two ``MongoCatalog`` on one (mongomock) database; and
the real servers when ``ASSET_TEST_S3_URL`` and ``ASSET_TEST_MONGO_URL`` are both set. What must
hold across them is enforced in the catalog: version numbers, one cleanup pass per period, and
one making of a version's previews; and every event, through the event log.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import mongomock
import pytest
import trio

from asset_service.engine import EngineConfig, open_engine
from asset_service.engine.adapters.filesystem import FilesystemBlobStore
from asset_service.engine.adapters.mongo import MongoCatalog
from asset_service.engine.adapters.s3 import MinioBlobStore
from asset_service.engine.adapters.sqlite import SqliteCatalog
from asset_service.engine.blobstore import BlobStore
from asset_service.engine.catalog import Catalog
from asset_service.engine.errors import NotFound
from asset_service.engine.preview_types import PreviewRequest, PreviewStatus, RenderedPreview
from tests.backends import (
    REAL_MONGO_URL,
    REAL_S3_URL,
    new_bucket_prefix,
    with_bucket_prefix,
)

from .conftest import EDITOR, VIEWER, mongomock_catalog_on, needs_real_mongo, needs_real_s3
from .test_cleanup_actor import recorded_passes  # noqa: F401 - a fixture
from .test_preview_actor import PreviewingInspector, settled
from .test_upload_actor import upload

Instance = tuple[BlobStore, Catalog]

#: new versions each engine adds at once
PER_ENGINE = 8


@pytest.fixture(
    params=[
        "filesystem+sqlite",
        "s3+mongomock",
        pytest.param("minio+mongo", marks=[needs_real_s3, needs_real_mongo]),
    ]
)
async def instances(
    request, tmp_path: Path, bucket_janitor
) -> AsyncIterator[tuple[Instance, Instance]]:
    """Two (blob store, catalog) pairs over the same backing stores, not yet opened."""
    kind = request.param
    if kind == "filesystem+sqlite":
        yield (
            (FilesystemBlobStore(tmp_path / "blobs"), SqliteCatalog(tmp_path / "catalog.db")),
            (FilesystemBlobStore(tmp_path / "blobs"), SqliteCatalog(tmp_path / "catalog.db")),
        )
        return
    if kind == "s3+mongomock":
        from tests.backends import moto_s3_url

        s3_url = moto_s3_url(request.getfixturevalue("moto_url"), new_bucket_prefix())
        client, limiter = mongomock.MongoClient(), trio.CapacityLimiter(1)
        catalogs = (mongomock_catalog_on(client, limiter), mongomock_catalog_on(client, limiter))
        database = None
    else:
        s3_url = with_bucket_prefix(REAL_S3_URL, new_bucket_prefix())
        database = f"asset_test_{uuid.uuid4().hex[:12]}"
        catalogs = (
            MongoCatalog(REAL_MONGO_URL, database=database),
            MongoCatalog(REAL_MONGO_URL, database=database),
        )
    try:
        yield (
            (MinioBlobStore.from_url(s3_url), catalogs[0]),
            (MinioBlobStore.from_url(s3_url), catalogs[1]),
        )
    finally:
        bucket_janitor.drop(s3_url)
        if database is not None:
            import pymongo

            def drop() -> None:
                with pymongo.MongoClient(REAL_MONGO_URL) as mongo:
                    mongo.drop_database(database)

            await trio.to_thread.run_sync(drop)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_concurrent_new_versions_get_consecutive_numbers_and_keep_their_blobs(
    instances, inspector
):
    """Both engines add versions to one asset at the same time. Numbers are consecutive, none
    lost or repeated, and every version's blob is the content that version was made from — a
    loser of a race must never touch the winner's ``v{n}``."""
    (store_a, catalog_a), (store_b, catalog_b) = instances
    config = EngineConfig(max_versions=1000, cleanup_interval=3600, max_upload_bytes=1 << 20)
    async with (
        open_engine(store_a, catalog_a, inspector, config) as a,
        open_engine(store_b, catalog_b, inspector, config) as b,
    ):
        base = await upload(a, [b"TXT: base\n"])
        bodies = [b"TXT: base\n"]

        async def add(engine, name: str, n: int) -> None:
            body = f"TXT: version from {name}, #{n}\n".encode() * (n + 1)
            bodies.append(body)
            await upload(engine, [body], target_asset_id=base.asset_id)

        async with trio.open_nursery() as nursery:
            for n in range(PER_ENGINE):
                nursery.start_soon(add, a, "a", n)
                nursery.start_soon(add, b, "b", n)

        for engine in (a, b):
            final = await engine.catalog.get(base.asset_id)
            assert [v.version for v in final.versions] == list(range(1, 2 * PER_ENGINE + 2))
            assert final.current_version == 2 * PER_ENGINE + 1
            assert sorted(v.checksum for v in final.versions) == sorted(map(sha256, bodies))
            for version in final.versions:
                assert version.storage_key.endswith(f"/v{version.version}")
                content = b"".join([chunk async for chunk in engine.read(final, version)])
                assert sha256(content) == version.checksum, f"v{version.version} was overwritten"
        # Nothing left over: no temp upload, no stray version blob.
        keys = sorted([blob.key async for blob in a.store.list("document-assets")])
        assert keys == sorted(v.storage_key for v in final.versions)
        assert [blob.key async for blob in a.store.list("temp-uploads")] == []


async def test_restores_and_new_versions_race_without_losing_anything(instances, inspector):
    (store_a, catalog_a), (store_b, catalog_b) = instances
    config = EngineConfig(max_versions=1000, cleanup_interval=3600, max_upload_bytes=1 << 20)
    async with (
        open_engine(store_a, catalog_a, inspector, config) as a,
        open_engine(store_b, catalog_b, inspector, config) as b,
    ):
        from .conftest import EDITOR

        base = await upload(a, [b"TXT: original\n"])

        async def restore_first(engine) -> None:
            for _ in range(3):
                await engine.restore_version(EDITOR, base.asset_id, 1)

        async def add_new(engine) -> None:
            for n in range(3):
                await upload(engine, [f"TXT: new {n}\n".encode()], target_asset_id=base.asset_id)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(restore_first, a)
            nursery.start_soon(add_new, b)

        final = await b.catalog.get(base.asset_id)
        assert [v.version for v in final.versions] == list(range(1, 8))
        for version in final.versions:
            content = b"".join([chunk async for chunk in b.read(final, version)])
            assert sha256(content) == version.checksum, f"v{version.version} was overwritten"


INTERVAL = 0.4


async def test_the_scheduled_cleanup_runs_once_per_period_across_both(
    instances,
    inspector,
    recorded_passes,  # noqa: F811 - the fixture imported above
):
    """On the real lease in the shared catalog and the real clock: a pass every ``INTERVAL``,
    run by one instance or the other, never both (that would be twice as many)."""
    (store_a, catalog_a), (store_b, catalog_b) = instances
    config = EngineConfig(cleanup_interval=INTERVAL)
    async with (
        open_engine(store_a, catalog_a, inspector, config),
        open_engine(store_b, catalog_b, inspector, config),
    ):
        start = trio.current_time()
        await trio.sleep(INTERVAL * 5 + INTERVAL / 2)
    times = sorted(t - start for t, _ in recorded_passes)
    assert 4 <= len(times) <= 6, times  # 5 periods; 10 passes if both ran every period
    assert all(later - earlier >= INTERVAL / 2 for earlier, later in itertools.pairwise(times))


class BlockingPreviews(PreviewingInspector):
    """Every rendering waits for ``release``; ``started`` says one has begun."""

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()

    def render(self, request: PreviewRequest) -> list[RenderedPreview]:
        self.started.set()
        self.release.wait(10)
        return super().render(request)


async def test_a_versions_previews_are_made_once_across_both(instances):
    """A is making an upload's preview when B starts, finds it pending and is asked for it
    too: the version's lease in the shared catalog keeps B from making it a second time, and
    once A is done B finds it made."""
    (store_a, catalog_a), (store_b, catalog_b) = instances
    inspector = BlockingPreviews()
    config = EngineConfig(cleanup_interval=3600, max_upload_bytes=1 << 20)
    try:
        async with open_engine(store_a, catalog_a, inspector, config) as a:
            asset = await upload(a, [b"TXT: previewed once"])
            assert await trio.to_thread.run_sync(inspector.started.wait, 10)
            async with open_engine(store_b, catalog_b, inspector, config) as b:
                [state] = await b._previews.make(asset.asset_id, 1)
                assert state.status == PreviewStatus.PENDING
                inspector.release.set()
                assert (await settled(a, asset.asset_id)).status == PreviewStatus.READY
                [state] = await b._previews.make(asset.asset_id, 1)
                assert state.status == PreviewStatus.READY
    finally:
        inspector.release.set()
    assert inspector.renders == 1


async def test_an_upload_on_one_engine_is_seen_by_the_other(instances, inspector):
    """Its events reach the other engine's subscribers with the same ids, in the same order,
    and its committed state with the asset id is readable there as soon as the upload has
    returned (issue 15)."""
    (store_a, catalog_a), (store_b, catalog_b) = instances
    config = EngineConfig(cleanup_interval=3600, max_upload_bytes=1 << 20)
    async with (
        open_engine(store_a, catalog_a, inspector, config) as a,
        open_engine(store_b, catalog_b, inspector, config) as b,
        a.events.subscribe() as on_a,
        b.events.subscribe() as on_b,
    ):
        asset = await upload(a, [b"TXT: from a\n"], upload_id="seen-by-b-0001")
        progress = await b.progress(EDITOR, "seen-by-b-0001")
        assert (progress.state, progress.asset_id) == ("committed", asset.asset_id)
        assert progress.received_bytes == progress.total_bytes == len(b"TXT: from a\n")
        with pytest.raises(NotFound):  # the uploader's and the admins' only
            await b.progress(VIEWER, "seen-by-b-0001")

        async def until_created(stream) -> list[tuple[str, str]]:
            seen = []
            with trio.fail_after(10):
                async for delivered in stream:
                    seen.append((delivered.id, delivered.event.name))
                    if delivered.event.name == "asset.created":
                        return seen
            raise AssertionError("the stream ended")

        seen_on_a, seen_on_b = await until_created(on_a), await until_created(on_b)
        assert seen_on_a == seen_on_b
        assert [name for _, name in seen_on_b][-2:] == ["upload.progress", "asset.created"]
