"""Uploads to the S3 store: the bytes are spooled locally while they arrive and inspected there
(the object is never read back), a new asset's bytes go straight to ``{customer}/{id}/v1`` and
its multipart upload is completed only once inspection passed — aborted otherwise, leaving
nothing — and stale spool files are swept.

Against the session's moto_server, with 5 MiB parts so a few MiB make a multipart upload; every
request the store's SDK client sends is recorded.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
import trio

from asset_service.engine import AssetEngine, AssetQuery, EngineConfig, open_engine
from asset_service.engine.adapters.s3 import MIN_PART_SIZE, MinioBlobStore
from asset_service.engine.errors import UnprocessableContent, UnsupportedContent
from asset_service.engine.inspection import Description, Detected
from asset_service.engine.model import SEED_TYPES, TEMP_BUCKET
from asset_service.engine.upload_actor import UploadSpec
from tests.backends import BucketJanitor, s3_contents

from .conftest import EDITOR
from .inspectors import TinyInspector

MiB = 1024 * 1024
DOCUMENTS = SEED_TYPES["document"].bucket


class RecordingInspector(TinyInspector):
    """Remembers the files it was asked to validate."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[Path] = []

    def validate(self, path: Path, detected: Detected) -> None:
        self.paths.append(path)
        super().validate(path, detected)

    def describe(self, path: Path, detected: Detected) -> Description:
        return Description(extracted={"size_seen": path.stat().st_size})


class Requests:
    """Every request the store's SDK client sends: (method, bucket, key, query, headers)."""

    def __init__(self, store: MinioBlobStore) -> None:
        self.seen: list[tuple[str, str, str, dict[str, Any], dict[str, Any]]] = []
        client = store.client
        original = client._execute

        def execute(method: str, bucket_name: Any = None, object_name: Any = None, **kw: Any):
            self.seen.append(
                (
                    method,
                    bucket_name or "",
                    object_name or "",
                    dict(kw.get("query_params") or {}),
                    dict(kw.get("headers") or {}),
                )
            )
            return original(method, bucket_name, object_name, **kw)

        client._execute = execute  # type: ignore[method-assign]

    def gets(self) -> list[tuple[str, str]]:
        """Objects' bytes read (a copy's HEAD of its source is not a read of the bytes)."""
        return [(b, k) for m, b, k, *_ in self.seen if m == "GET" and k]

    def copies(self) -> list[tuple[str, str]]:
        return [(b, k) for m, b, k, _, h in self.seen if m == "PUT" and "x-amz-copy-source" in h]

    def count(self, method: str, query: str) -> int:
        return sum(1 for m, _, _, q, _ in self.seen if m == method and query in q)

    def touched(self, physical_bucket: str) -> bool:
        return any(b == physical_bucket for _, b, *_ in self.seen)


@pytest.fixture
async def store(moto_s3: str, bucket_janitor: BucketJanitor) -> AsyncIterator[MinioBlobStore]:
    url = f"{moto_s3}&part_size={MIN_PART_SIZE}"
    store = MinioBlobStore.from_url(url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
        bucket_janitor.drop(url)


@pytest.fixture
def inspector() -> RecordingInspector:
    return RecordingInspector()


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def engine_on_s3(
    store: MinioBlobStore, mongomock_catalog: Any, inspector: RecordingInspector, spool_dir: Path
) -> Callable[..., AbstractAsyncContextManager[AssetEngine]]:
    def open_with(**config: object) -> AbstractAsyncContextManager[AssetEngine]:
        values: dict[str, Any] = {
            "cleanup_interval": 3600.0,
            "max_upload_bytes": 64 * MiB,
            "spool_dir": spool_dir,
            "scheduled_cleanup": False,
        }
        return open_engine(store, mongomock_catalog, inspector, EngineConfig(**values | config))

    return open_with


def content(size: int, marker: bytes = b"") -> bytes:
    body = bytes(range(256)) * (size // 256 + 1)
    return (b"TXT:" + body)[: size - len(marker)] + marker


async def send(engine: AssetEngine, data: bytes, **spec: Any):
    values: dict[str, Any] = {"principal": EDITOR, "filename": "a.txt", "max_bytes": 64 * MiB}
    async with await engine.begin_upload(UploadSpec(**values | spec)) as handle:
        for start in range(0, len(data), MiB):
            await handle.write(data[start : start + MiB])
        return await handle.commit()


def server_view(store: MinioBlobStore) -> list[str]:
    url = (
        f"s3://{store.options.access_key}:{store.options.secret_key}@{store.options.endpoint}"
        f"?secure=false&bucket_prefix={store.options.bucket_prefix}"
    )
    return s3_contents(url)


def spooled(spool_dir: Path) -> list[str]:
    return sorted(os.listdir(spool_dir)) if spool_dir.exists() else []


async def test_a_new_asset_goes_straight_to_its_key_and_is_inspected_from_the_spool(
    engine_on_s3, store, inspector, spool_dir
) -> None:
    data = content(12 * MiB + 5)
    async with engine_on_s3() as engine:
        requests = Requests(store)
        asset = await send(engine, data)
    key = f"acme/{asset.asset_id}/v1"
    assert asset.storage.key == key
    assert asset.extracted["size_seen"] == len(data)
    assert await trio.to_thread.run_sync(server_view, store) == [f"{DOCUMENTS}/{key}"]
    # Three parts to the final key, no copy, nothing in the temp bucket, no object read back.
    assert requests.count("PUT", "partNumber") == 3
    assert requests.count("POST", "uploadId") == 1  # the completion
    assert requests.copies() == []
    assert not requests.touched(store.physical(TEMP_BUCKET))
    assert requests.gets() == []
    # The inspector read the local spool, which is gone now.
    assert [path.parent for path in inspector.paths] == [spool_dir]
    assert spooled(spool_dir) == []
    async with engine_on_s3() as engine:
        got = b"".join([chunk async for chunk in store.read(DOCUMENTS, key)])
    assert got == data


async def test_rejected_content_aborts_the_multipart_upload_and_leaves_nothing(
    engine_on_s3, store, spool_dir
) -> None:
    async with engine_on_s3() as engine:
        requests = Requests(store)
        with pytest.raises(UnprocessableContent):
            await send(engine, content(12 * MiB, marker=b"BROKEN"))
        page = await engine.catalog.list(AssetQuery(customer_id="acme", deleted=None))
        assert page.items == []
    # Parts were on their way to the final key, then the upload was aborted.
    assert requests.count("POST", "uploads") == 1
    assert requests.count("DELETE", "uploadId") == 1
    assert requests.count("POST", "uploadId") == 0  # never completed
    assert await trio.to_thread.run_sync(server_view, store) == []
    assert spooled(spool_dir) == []


async def test_content_of_no_stored_type_is_never_sent(engine_on_s3, store, spool_dir) -> None:
    async with engine_on_s3() as engine:
        requests = Requests(store)
        with pytest.raises(UnsupportedContent):
            await send(engine, b"\x00\x01" * (3 * MiB))
    assert [r for r in requests.seen if r[2]] == []
    assert await trio.to_thread.run_sync(server_view, store) == []
    assert spooled(spool_dir) == []


async def test_an_abandoned_upload_leaves_nothing(engine_on_s3, store, spool_dir) -> None:
    data = content(12 * MiB)
    async with engine_on_s3() as engine:
        values: dict[str, Any] = {"principal": EDITOR, "filename": "a.txt", "max_bytes": 64 * MiB}
        async with await engine.begin_upload(UploadSpec(**values)) as handle:
            for start in range(0, len(data), MiB):
                await handle.write(data[start : start + MiB])
            # left without commit
    assert await trio.to_thread.run_sync(server_view, store) == []
    assert spooled(spool_dir) == []


async def test_an_asset_id_fixed_by_the_caller_goes_through_the_temp_bucket(
    engine_on_s3, store, spool_dir
) -> None:
    """A tus commit fixes the id beforehand: the key may hold its first attempt's blob, so the
    bytes are not written there before the versioning actor compared the content."""
    asset_id = str(uuid.uuid4())
    async with engine_on_s3() as engine:
        requests = Requests(store)
        asset = await send(engine, content(6 * MiB), asset_id=asset_id)
    assert asset.asset_id == asset_id
    assert asset.storage.key == f"acme/{asset_id}/v1"
    assert requests.touched(store.physical(TEMP_BUCKET))
    assert len(requests.copies()) == 1
    assert requests.gets() == []  # inspected from the spool all the same
    assert spooled(spool_dir) == []
    assert await trio.to_thread.run_sync(server_view, store) == [f"{DOCUMENTS}/acme/{asset_id}/v1"]


async def test_a_new_version_is_spooled_and_placed_from_the_temp_bucket(
    engine_on_s3, store, inspector, spool_dir
) -> None:
    async with engine_on_s3() as engine:
        first = await send(engine, content(6 * MiB))
        requests = Requests(store)
        second = await send(engine, content(6 * MiB, marker=b"v2"), target_asset_id=first.asset_id)
    assert second.current_version == 2
    assert second.storage.key == f"acme/{first.asset_id}/v2"
    # Not read back for inspection; placed by one server-side copy (see docs/decisions.md).
    assert requests.gets() == []
    assert len(requests.copies()) == 1
    assert [path.parent for path in inspector.paths] == [spool_dir, spool_dir]
    assert spooled(spool_dir) == []
    assert sorted(await trio.to_thread.run_sync(server_view, store)) == [
        f"{DOCUMENTS}/acme/{first.asset_id}/v1",
        f"{DOCUMENTS}/acme/{first.asset_id}/v2",
    ]


async def test_stale_spool_files_are_swept_at_start_and_by_the_cleanup(
    engine_on_s3, spool_dir
) -> None:
    spool_dir.mkdir(parents=True)
    long_ago = time.time() - 7200
    for name in ("crashed-1", "crashed-2", "live"):
        (spool_dir / name).write_bytes(b"x")
    for name in ("crashed-1", "crashed-2"):
        os.utime(spool_dir / name, (long_ago, long_ago))
    async with engine_on_s3(temp_ttl=3600.0):
        # At start: a crashed process's spool files, by age; a recent one may be another
        # worker's, writing now.
        assert spooled(spool_dir) == ["live"]
    os.utime(spool_dir / "live", (long_ago, long_ago))
    (spool_dir / "recent").write_bytes(b"x")
    async with engine_on_s3(temp_ttl=3600.0) as engine:
        (spool_dir / "later").write_bytes(b"x")
        os.utime(spool_dir / "later", (long_ago, long_ago))
        report = await engine.run_cleanup()
    assert report.spool_removed == 1
    assert spooled(spool_dir) == ["recent"]
