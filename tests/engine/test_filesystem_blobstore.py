"""What only the filesystem store promises: its layout, path safety, crash leftovers."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import trio

from asset_service.engine.adapters.filesystem import FilesystemBlobStore

BUCKET = "image-assets"

BAD_KEYS = [
    "",
    "/etc/passwd",
    "../outside",
    "a/../../outside",
    "a/./b",
    ".",
    "..",
    "a//b",
    "a/",
    "a\\..\\b",
    "a\0b",
]
BAD_BUCKETS = ["", ".", "..", "../x", "a/b", "/abs", "a\\b", "a\0b", ".partial", ".hidden"]


@pytest.fixture
async def store(filesystem_blob_store: FilesystemBlobStore) -> FilesystemBlobStore:
    await filesystem_blob_store.ensure_bucket(BUCKET)
    return filesystem_blob_store


async def put(store: FilesystemBlobStore, key: str, data: bytes) -> None:
    writer = await store.open_writer(BUCKET, key)
    await writer.write(data)
    await writer.complete()


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


async def test_layout_is_root_bucket_key(store: FilesystemBlobStore) -> None:
    await put(store, "c1/a1/v1", b"bytes")
    assert (store.root / BUCKET / "c1" / "a1" / "v1").read_bytes() == b"bytes"
    async with store.local_file(BUCKET, "c1/a1/v1") as path:
        assert path == store.root / BUCKET / "c1" / "a1" / "v1"


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_escaping_keys_are_refused(store: FilesystemBlobStore, key: str) -> None:
    with pytest.raises(ValueError):
        await store.open_writer(BUCKET, key)
    with pytest.raises(ValueError):
        await store.stat(BUCKET, key)
    with pytest.raises(ValueError):
        await store.read_head(BUCKET, key, 10)
    with pytest.raises(ValueError):
        _ = [chunk async for chunk in store.read(BUCKET, key)]
    with pytest.raises(ValueError):
        await store.delete(BUCKET, key)
    with pytest.raises(ValueError):
        await store.move(BUCKET, "ok", BUCKET, key)
    with pytest.raises(ValueError):
        await store.copy(BUCKET, key, BUCKET, "ok")
    with pytest.raises(ValueError):
        async with store.local_file(BUCKET, key):
            pass
    assert files_under(store.root.parent) == []


@pytest.mark.parametrize("bucket", BAD_BUCKETS)
async def test_escaping_buckets_are_refused(store: FilesystemBlobStore, bucket: str) -> None:
    with pytest.raises(ValueError):
        await store.ensure_bucket(bucket)
    with pytest.raises(ValueError):
        await store.open_writer(bucket, "k")
    with pytest.raises(ValueError):
        await store.stat(bucket, "k")
    with pytest.raises(ValueError):
        _ = [info async for info in store.list(bucket)]
    with pytest.raises(ValueError):
        await store.remove_incomplete(bucket, 0)
    assert files_under(store.root.parent) == []


async def test_prefix_naming_no_valid_key_lists_nothing(store: FilesystemBlobStore) -> None:
    await put(store, "c1/a1/v1", b"x")
    for prefix in ("../", "c1/../c1/", "c1//", "/c1"):
        assert [info async for info in store.list(BUCKET, prefix)] == []


async def test_partials_live_outside_buckets(store: FilesystemBlobStore) -> None:
    writer = await store.open_writer(BUCKET, "c1/a1/v1")
    try:
        await writer.write(b"x" * 100)
        assert files_under(store.root / BUCKET) == []
        assert len(files_under(store.root / ".partial")) == 1
    finally:
        await writer.abort()
    assert files_under(store.root / ".partial") == []


async def test_delete_prunes_empty_directories(store: FilesystemBlobStore) -> None:
    await put(store, "c1/a1/v1", b"1")
    await put(store, "c1/a2/v1", b"2")
    await store.delete(BUCKET, "c1/a1/v1")
    assert not (store.root / BUCKET / "c1" / "a1").exists()
    assert (store.root / BUCKET / "c1" / "a2").is_dir()
    await store.delete(BUCKET, "c1/a2/v1")
    assert list((store.root / BUCKET).iterdir()) == []  # the bucket itself stays


async def test_remove_incomplete_spares_live_writers(store: FilesystemBlobStore) -> None:
    await store.ensure_bucket("temp-uploads")
    old = await store.open_writer(BUCKET, "c1/a1/v1")
    old_temp = await store.open_writer("temp-uploads", "upload-1")
    fresh = await store.open_writer(BUCKET, "c1/a2/v1")
    try:
        for writer in (old, old_temp, fresh):
            await writer.write(b"data")
        assert await store.remove_incomplete(BUCKET, 3600) == 0
        assert await store.remove_incomplete("temp-uploads", 3600) == 0

        # Age them as a crash would have left them, without sleeping; a write freshens one.
        two_hours_ago = time.time() - 7200
        for path in (store.root / ".partial").rglob("*"):
            os.utime(path, (two_hours_ago, two_hours_ago))
        await fresh.write(b"more")

        assert await store.remove_incomplete(BUCKET, 3600) == 1
        assert await store.remove_incomplete("temp-uploads", 3600) == 1
        assert len(files_under(store.root / ".partial")) == 1
        assert await fresh.complete() == 8
    finally:
        for writer in (old, old_temp, fresh):
            await writer.abort()
    assert files_under(store.root / BUCKET) == ["c1/a2/v1"]


async def test_unusable_root_is_a_connection_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(ConnectionError):
        await FilesystemBlobStore(blocker / "root").open()


# --- reads: one hop to open and read the first chunk, then read-ahead ----------------------


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
async def test_long_reads_read_ahead_in_order_and_close_their_descriptor(
    store: FilesystemBlobStore,
) -> None:
    data = os.urandom(7 * 1024 * 1024 + 333)
    await put(store, "big", data)
    before = open_descriptors()
    for offset, length in [(0, None), (5, None), (1024 * 1024 - 1, 3 * 1024 * 1024 + 2), (0, 1)]:
        got = b"".join([chunk async for chunk in store.read(BUCKET, "big", offset, length)])
        assert got == data[offset : None if length is None else offset + length]
    assert open_descriptors() == before


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
async def test_an_abandoned_read_closes_its_descriptor_once_the_read_ahead_returns(
    store: FilesystemBlobStore,
) -> None:
    await put(store, "big", os.urandom(6 * 1024 * 1024))
    before = open_descriptors()
    for _ in range(5):
        stream = store.read(BUCKET, "big")
        first = await stream.__anext__()  # the next chunk is being read meanwhile
        assert len(first) == 1024 * 1024
        await stream.aclose()
    # A read still running when the stream closed closes the descriptor when it returns.
    for _ in range(200):
        if open_descriptors() == before:
            break
        await trio.sleep(0.01)
    assert open_descriptors() == before
