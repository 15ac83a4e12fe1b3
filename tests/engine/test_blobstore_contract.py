"""The ``BlobStore`` contract, run against every adapter (see ``conftest.BLOB_STORES``).

Written only against the port: nothing here knows where or how an adapter keeps its bytes.
"""

from __future__ import annotations

import inspect
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
import trio

from asset_service.engine.blobstore import BlobInfo, BlobStore, BlobWriter

from .conftest import PRESIGNING_BLOB_STORES

MiB = 1024 * 1024
BUCKET = "image-assets"
OTHER = "temp-uploads"
DATA = bytes(range(256)) * 40  # 10 KiB, every byte value, position-dependent


@pytest.fixture
async def store(blob_store: BlobStore) -> BlobStore:
    await blob_store.ensure_bucket(BUCKET)
    await blob_store.ensure_bucket(OTHER)
    return blob_store


async def put(store: BlobStore, bucket: str, key: str, data: bytes, chunk: int = 4096) -> int:
    writer = await store.open_writer(bucket, key)
    for start in range(0, len(data), chunk):
        await writer.write(data[start : start + chunk])
    return await writer.complete()


async def read_chunks(
    store: BlobStore, bucket: str, key: str, offset: int = 0, length: int | None = None
) -> list[bytes]:
    return [chunk async for chunk in store.read(bucket, key, offset, length)]


async def read_all(
    store: BlobStore, bucket: str, key: str, offset: int = 0, length: int | None = None
) -> bytes:
    return b"".join(await read_chunks(store, bucket, key, offset, length))


async def keys(store: BlobStore, bucket: str, prefix: str = "") -> list[str]:
    return sorted([info.key async for info in store.list(bucket, prefix)])


def pattern(size: int) -> bytes:
    """Bytes whose content depends on the position, so a misplaced chunk shows."""
    block = b"".join(i.to_bytes(4, "big") for i in range(MiB // 4))
    return (block * (size // len(block) + 1))[:size]


async def test_adapter_implements_whole_port(store: BlobStore) -> None:
    cls = type(store)
    assert not cls.__abstractmethods__
    for name in BlobStore.__abstractmethods__:
        ours, port = getattr(cls, name), getattr(BlobStore, name)
        assert ours is not port, name
        assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(port), name
    writer = await store.open_writer(BUCKET, "k")
    try:
        assert isinstance(writer, BlobWriter)
        assert not type(writer).__abstractmethods__
    finally:
        await writer.abort()


async def test_write_complete_stat_read(store: BlobStore) -> None:
    before = datetime.now(UTC)
    assert await put(store, BUCKET, "c1/a1/v1", DATA) == len(DATA)

    info = await store.stat(BUCKET, "c1/a1/v1")
    assert info is not None
    assert (info.bucket, info.key, info.size) == (BUCKET, "c1/a1/v1", len(DATA))
    assert info.modified.tzinfo is not None
    skew = timedelta(minutes=5)  # generous: remote stores stamp with their own clock
    assert before - skew <= info.modified <= datetime.now(UTC) + skew
    assert await read_all(store, BUCKET, "c1/a1/v1") == DATA


async def test_empty_blob(store: BlobStore) -> None:
    assert await put(store, BUCKET, "empty", b"") == 0
    info = await store.stat(BUCKET, "empty")
    assert info is not None and info.size == 0
    assert await read_all(store, BUCKET, "empty") == b""


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [
        (0, None, DATA),
        (100, None, DATA[100:]),
        (100, 50, DATA[100:150]),
        (0, 1, DATA[:1]),
        (0, len(DATA), DATA),
        (len(DATA) - 10, 100, DATA[-10:]),  # length past the end: what there is
        (len(DATA) - 1, None, DATA[-1:]),
        (len(DATA), None, b""),  # offset at the end
        (500, 0, b""),  # zero length
        (0, 0, b""),
    ],
)
async def test_read_range(
    store: BlobStore, offset: int, length: int | None, expected: bytes
) -> None:
    await put(store, BUCKET, "ranged", DATA)
    assert await read_all(store, BUCKET, "ranged", offset, length) == expected


async def test_large_blob_is_read_in_chunks(store: BlobStore) -> None:
    data = pattern(3 * MiB + 12345)
    assert await put(store, BUCKET, "big", data, chunk=MiB) == len(data)

    chunks = await read_chunks(store, BUCKET, "big")
    assert b"".join(chunks) == data
    assert len(chunks) >= 3
    assert max(len(chunk) for chunk in chunks) <= 2 * MiB  # "about 1 MiB", never the lot

    # A range crossing chunk boundaries.
    offset, length = MiB - 3, 2 * MiB + 7
    assert await read_all(store, BUCKET, "big", offset, length) == data[offset : offset + length]
    assert await read_all(store, BUCKET, "big", 3 * MiB) == data[3 * MiB :]


async def test_read_missing_raises_key_error(store: BlobStore) -> None:
    with pytest.raises(KeyError):
        await read_all(store, BUCKET, "nope")
    with pytest.raises(KeyError):
        await read_all(store, BUCKET, "nope", 10, 0)
    assert await store.stat(BUCKET, "nope") is None


async def test_read_missing_raises_only_when_iterated(store: BlobStore) -> None:
    stream = store.read(BUCKET, "nope")  # creating the iterator must not raise yet
    with pytest.raises(KeyError):
        await stream.__anext__()


async def test_abort_leaves_nothing(store: BlobStore) -> None:
    writer = await store.open_writer(BUCKET, "c1/a1/v1")
    await writer.write(DATA)
    await writer.abort()
    await writer.abort()  # idempotent

    assert await store.stat(BUCKET, "c1/a1/v1") is None
    assert await keys(store, BUCKET) == []
    with pytest.raises(KeyError):
        await read_all(store, BUCKET, "c1/a1/v1")


async def test_abort_keeps_the_previous_blob(store: BlobStore) -> None:
    await put(store, BUCKET, "k", b"old")
    writer = await store.open_writer(BUCKET, "k")
    await writer.write(b"new content")
    await writer.abort()
    assert await read_all(store, BUCKET, "k") == b"old"


async def test_abort_when_cancelled_still_cleans_up(store: BlobStore) -> None:
    writer = await store.open_writer(BUCKET, "k")
    await writer.write(DATA)
    with trio.CancelScope() as scope:
        scope.cancel()
        await writer.abort()
    assert await keys(store, BUCKET) == []
    assert await store.stat(BUCKET, "k") is None


async def test_incomplete_blob_is_invisible(store: BlobStore) -> None:
    writer = await store.open_writer(BUCKET, "c1/a1/v1")
    try:
        await writer.write(DATA)
        assert await store.stat(BUCKET, "c1/a1/v1") is None
        assert await keys(store, BUCKET) == []
        with pytest.raises(KeyError):
            await read_all(store, BUCKET, "c1/a1/v1")
        assert await writer.complete() == len(DATA)
    finally:
        await writer.abort()  # a no-op after complete
    assert await keys(store, BUCKET) == ["c1/a1/v1"]
    assert await read_all(store, BUCKET, "c1/a1/v1") == DATA


async def test_complete_replaces_existing_blob(store: BlobStore) -> None:
    await put(store, BUCKET, "k", DATA)
    writer = await store.open_writer(BUCKET, "k")
    await writer.write(b"second")
    assert await read_all(store, BUCKET, "k") == DATA  # the old one until complete
    assert await writer.complete() == 6
    assert await read_all(store, BUCKET, "k") == b"second"
    info = await store.stat(BUCKET, "k")
    assert info is not None and info.size == 6


async def test_buckets_are_separate(store: BlobStore) -> None:
    await put(store, BUCKET, "same/key", b"one")
    await put(store, OTHER, "same/key", b"two")
    assert await read_all(store, BUCKET, "same/key") == b"one"
    assert await read_all(store, OTHER, "same/key") == b"two"
    await store.delete(OTHER, "same/key")
    assert await read_all(store, BUCKET, "same/key") == b"one"


async def test_move(store: BlobStore) -> None:
    await put(store, OTHER, "upload-1", DATA)
    await store.move(OTHER, "upload-1", BUCKET, "c1/a1/v1")
    assert await store.stat(OTHER, "upload-1") is None
    assert await keys(store, OTHER) == []
    assert await read_all(store, BUCKET, "c1/a1/v1") == DATA

    await put(store, OTHER, "upload-2", b"replacement")
    await store.move(OTHER, "upload-2", BUCKET, "c1/a1/v1")
    assert await read_all(store, BUCKET, "c1/a1/v1") == b"replacement"

    # Within one bucket, and out of a "directory" that then becomes empty.
    await store.move(BUCKET, "c1/a1/v1", BUCKET, "c2/a9/v1")
    assert await keys(store, BUCKET) == ["c2/a9/v1"]


async def test_move_missing_raises_key_error(store: BlobStore) -> None:
    with pytest.raises(KeyError):
        await store.move(OTHER, "nope", BUCKET, "dst")
    assert await store.stat(BUCKET, "dst") is None


async def test_copy(store: BlobStore) -> None:
    await put(store, BUCKET, "c1/a1/v1", DATA)
    await store.copy(BUCKET, "c1/a1/v1", BUCKET, "c1/a2/v1")
    await store.copy(BUCKET, "c1/a1/v1", OTHER, "elsewhere")
    assert await read_all(store, BUCKET, "c1/a1/v1") == DATA
    assert await read_all(store, BUCKET, "c1/a2/v1") == DATA
    assert await read_all(store, OTHER, "elsewhere") == DATA

    await put(store, BUCKET, "small", b"x")
    await store.copy(BUCKET, "small", BUCKET, "c1/a2/v1")
    assert await read_all(store, BUCKET, "c1/a2/v1") == b"x"
    # The copy is independent of its source.
    await store.delete(BUCKET, "small")
    assert await read_all(store, BUCKET, "c1/a2/v1") == b"x"


async def test_copy_missing_raises_key_error(store: BlobStore) -> None:
    with pytest.raises(KeyError):
        await store.copy(BUCKET, "nope", BUCKET, "dst")
    assert await keys(store, BUCKET) == []


async def test_delete(store: BlobStore) -> None:
    await put(store, BUCKET, "c1/a1/v1", b"1")
    await put(store, BUCKET, "c1/a1/v2", b"2")
    await store.delete(BUCKET, "c1/a1/v1")
    assert await store.stat(BUCKET, "c1/a1/v1") is None
    assert await keys(store, BUCKET) == ["c1/a1/v2"]

    await store.delete(BUCKET, "c1/a1/v2")
    assert await keys(store, BUCKET) == []
    # The key's "directories" are gone but writing under them again works.
    await put(store, BUCKET, "c1/a1/v3", b"3")
    assert await read_all(store, BUCKET, "c1/a1/v3") == b"3"


async def test_delete_missing_is_not_an_error(store: BlobStore) -> None:
    await store.delete(BUCKET, "nope")
    await store.delete(BUCKET, "no/such/key")


async def test_key_prefix_of_other_keys_is_not_a_blob(store: BlobStore) -> None:
    await put(store, BUCKET, "c1/a1/v1", b"1")
    assert await store.stat(BUCKET, "c1") is None
    assert await store.stat(BUCKET, "c1/a1") is None
    with pytest.raises(KeyError):
        await read_all(store, BUCKET, "c1/a1")
    await store.delete(BUCKET, "c1/a1")
    assert await keys(store, BUCKET) == ["c1/a1/v1"]


async def test_list(store: BlobStore) -> None:
    blobs = {
        "c1/a1/v1": b"a",
        "c1/a1/v2": b"bb",
        "c1/a2/v1": b"ccc",
        "c2/a3/v1": b"dddd",
        "c10/a4/v1": b"eeeee",
    }
    for key, data in blobs.items():
        await put(store, BUCKET, key, data)
    await put(store, OTHER, "c1/a1/v1", b"other bucket")

    infos = [info async for info in store.list(BUCKET)]
    assert all(isinstance(info, BlobInfo) for info in infos)
    assert {info.key: info.size for info in infos} == {k: len(v) for k, v in blobs.items()}
    assert all(info.bucket == BUCKET and info.modified.tzinfo is not None for info in infos)

    assert await keys(store, BUCKET, "c1/") == ["c1/a1/v1", "c1/a1/v2", "c1/a2/v1"]
    assert await keys(store, BUCKET, "c1") == ["c1/a1/v1", "c1/a1/v2", "c1/a2/v1", "c10/a4/v1"]
    assert await keys(store, BUCKET, "c1/a1/") == ["c1/a1/v1", "c1/a1/v2"]
    assert await keys(store, BUCKET, "c1/a1/v") == ["c1/a1/v1", "c1/a1/v2"]
    assert await keys(store, BUCKET, "c1/a1/v2") == ["c1/a1/v2"]
    assert await keys(store, BUCKET, "c3/") == []
    assert await keys(store, BUCKET, "zzz") == []
    assert await keys(store, OTHER) == ["c1/a1/v1"]


async def test_remove_incomplete(store: BlobStore) -> None:
    await put(store, BUCKET, "done", DATA)
    stalled = await store.open_writer(BUCKET, "c1/a1/v1")
    busy = await store.open_writer(BUCKET, "upload-busy")
    elsewhere = await store.open_writer(OTHER, "c1/a1/v1")
    try:
        for writer in (stalled, busy, elsewhere):
            await writer.write(DATA)

        assert await store.remove_incomplete(BUCKET, 3600) == 0  # all too young
        # older_than=0: everything started before now; ``keep`` spares by key.
        assert await store.remove_incomplete(BUCKET, 0, keep={"upload-busy"}) == 1
        assert await store.remove_incomplete(BUCKET, 0, keep={"upload-busy"}) == 0

        assert await busy.complete() == len(DATA)
        assert await read_all(store, BUCKET, "upload-busy") == DATA
        assert await elsewhere.complete() == len(DATA)  # other buckets are not touched
        assert await read_all(store, BUCKET, "done") == DATA  # complete blobs neither
        assert await store.stat(BUCKET, "c1/a1/v1") is None
        assert await keys(store, BUCKET) == ["done", "upload-busy"]
    finally:
        for writer in (stalled, busy, elsewhere):
            await writer.abort()  # fine after removal or completion


async def test_list_empty_bucket(store: BlobStore) -> None:
    assert await keys(store, BUCKET) == []


async def test_read_head(store: BlobStore) -> None:
    await put(store, BUCKET, "k", DATA)
    assert await store.read_head(BUCKET, "k", 16) == DATA[:16]
    assert await store.read_head(BUCKET, "k", len(DATA) + 100) == DATA
    assert await store.read_head(BUCKET, "k", 0) == b""
    with pytest.raises(KeyError):
        await store.read_head(BUCKET, "nope", 16)


async def test_local_file(store: BlobStore) -> None:
    await put(store, BUCKET, "c1/a1/v1", DATA)
    async with store.local_file(BUCKET, "c1/a1/v1") as path:
        assert await trio.Path(path).read_bytes() == DATA
    with pytest.raises(KeyError):
        async with store.local_file(BUCKET, "nope"):
            pass
    # The blob itself is untouched by having been lent out.
    assert await read_all(store, BUCKET, "c1/a1/v1") == DATA


async def test_close_is_idempotent(blob_store: BlobStore) -> None:
    await blob_store.close()
    await blob_store.close()


async def test_local_root_when_declared_holds_each_blob_as_a_file(store: BlobStore) -> None:
    """The capability a front web server relies on (``X-Accel-Redirect``): declared only by
    stores whose blobs are local files, and then exactly at ``{root}/{bucket}/{key}``."""
    await put(store, BUCKET, "cust/asset/v1", DATA)
    root = store.local_root
    if root is None:
        return  # not a store of local files: the service streams the bytes itself
    assert (root / BUCKET / "cust" / "asset" / "v1").read_bytes() == DATA


# --- presigned URLs (stores that have them; the others answer None) -------------------------


def _fetch(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


PRESIGNED_HEADERS = {
    "Content-Disposition": 'attachment; filename="a.txt"',
    "Cache-Control": "public, immutable",
    "Expires": "Thu, 01 Jan 2099 00:00:00 GMT",
}


@pytest.mark.parametrize("blob_store", PRESIGNING_BLOB_STORES, indirect=True)
async def test_presigned_url_is_the_same_for_the_same_arguments(store: BlobStore) -> None:
    await put(store, BUCKET, "c/a/v1", b"signed content")
    window = 3600
    signed_at = float(int(time.time()) // window * window)
    args = {"signed_at": signed_at, "expires_at": signed_at + 2 * window}
    url = await store.presigned_url(BUCKET, "c/a/v1", **args, headers=PRESIGNED_HEADERS)
    if url is None:  # a store without presigned URLs: the service signs its own links
        assert store.presigned_origin is None
        return
    assert store.presigned_origin is not None and url.startswith(store.presigned_origin)
    # byte for byte, whatever the order the headers are given in
    reordered = dict(reversed(PRESIGNED_HEADERS.items()))
    assert await store.presigned_url(BUCKET, "c/a/v1", **args, headers=reordered) == url
    later = await store.presigned_url(
        BUCKET, "c/a/v1", signed_at=signed_at + window, expires_at=args["expires_at"] + window,
        headers=PRESIGNED_HEADERS,
    )  # fmt: skip
    assert later != url
    status, body, headers = await trio.to_thread.run_sync(_fetch, url)
    assert (status, body) == (200, b"signed content")
    for name, value in PRESIGNED_HEADERS.items():
        assert headers[name] == value, name


@pytest.mark.parametrize("blob_store", PRESIGNING_BLOB_STORES, indirect=True)
async def test_presigned_url_lifetime_and_headers_are_bounded(store: BlobStore) -> None:
    if store.presigned_origin is None:
        assert await store.presigned_url(BUCKET, "k", signed_at=0, expires_at=1, headers={}) is None
        return
    now = float(int(time.time()))
    for signed_at, expires_at in ((now, now), (now, now + 7 * 86400 + 1), (now, now - 5)):
        with pytest.raises(ValueError, match="7 days"):
            await store.presigned_url(
                BUCKET, "k", signed_at=signed_at, expires_at=expires_at, headers={}
            )
    with pytest.raises(ValueError, match="X-Evil"):
        await store.presigned_url(
            BUCKET, "k", signed_at=now, expires_at=now + 60, headers={"X-Evil": "1"}
        )
    longest = await store.presigned_url(
        BUCKET, "k", signed_at=now, expires_at=now + 7 * 86400, headers={}
    )
    assert longest is not None and "X-Amz-Expires=604800" in longest
