"""What only the S3 store promises, beyond the port's contract: its URL, multipart uploads that
stay invisible until completed and are aborted when not, other instances' abandoned uploads,
native pre-signed URLs, private buckets, the SDK's timeouts, and clear errors at start.

Against the session's moto_server; the ones marked so also against ``ASSET_TEST_S3_URL``.
"""

from __future__ import annotations

import hashlib
import io
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator

import pytest
import trio
import urllib3

from asset_service.engine.adapters.s3 import MIN_PART_SIZE, MinioBlobStore, parse_s3_url
from asset_service.engine.content_safety import content_disposition
from tests.backends import (
    BucketJanitor,
    moto_s3_url,
    new_bucket_prefix,
    s3_contents,
    sdk_client,
)

MiB = 1024 * 1024
BUCKET = "video-assets"


def pattern(size: int, seed: int = 0) -> bytes:
    block = b"".join((i * 2654435761 + seed).to_bytes(8, "big") for i in range(MiB // 8))
    return (block * (size // len(block) + 1))[:size]


@pytest.fixture
def small_parts_url(moto_s3: str) -> str:
    """The test's moto URL with the smallest part size S3 allows, so that a few MiB make a
    multipart upload."""
    return f"{moto_s3}&part_size={MIN_PART_SIZE}"


@pytest.fixture
async def store(
    small_parts_url: str, bucket_janitor: BucketJanitor
) -> AsyncIterator[MinioBlobStore]:
    store = MinioBlobStore.from_url(small_parts_url)
    await store.open()
    await store.ensure_bucket(BUCKET)
    try:
        yield store
    finally:
        await store.close()
        bucket_janitor.drop(small_parts_url)


async def server_view(url: str) -> list[str]:
    """Objects and unfinished multipart uploads, as the server sees them."""
    return await trio.to_thread.run_sync(s3_contents, url)


async def eventually(url: str, condition) -> None:
    """Until the server's view meets ``condition`` (the SDK sends parts in its own thread)."""
    for _ in range(200):
        if condition(await server_view(url)):
            return
        await trio.sleep(0.05)
    raise AssertionError(f"never happened; the server shows {await server_view(url)}")


async def read_all(store: MinioBlobStore, bucket: str, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(bucket, key)])


# --- the URL ------------------------------------------------------------------------------


def test_url_with_every_option() -> None:
    options = parse_s3_url(
        "s3://AK%2Fid:s%40cret%3A1@minio.internal:9000?secure=false&region=eu-west-1"
        "&bucket_prefix=prod-&part_size=16777216&max_threads=4&max_transfers=8"
        "&connect_timeout=2&read_timeout=30&retries=0&presign=true&presign_endpoint=cdn:443"
    )
    assert options.endpoint == "minio.internal:9000"
    assert (options.access_key, options.secret_key) == ("AK/id", "s@cret:1")
    assert options.secure is False
    assert options.region == "eu-west-1"
    assert options.bucket_prefix == "prod-"
    assert options.part_size == 16 * MiB
    assert (options.max_threads, options.max_transfers, options.retries) == (4, 8, 0)
    assert (options.connect_timeout, options.read_timeout) == (2.0, 30.0)
    assert options.presign is True and options.presign_endpoint == "cdn:443"
    assert "s@cret" not in repr(options)  # the secret never shows in logs


def test_url_defaults() -> None:
    options = parse_s3_url("s3://key:secret@s3.example.com")
    assert options.endpoint == "s3.example.com"
    assert options.secure is True  # TLS unless told otherwise
    assert options.region == "us-east-1"
    assert options.part_size == 8 * MiB
    assert options.presign is False


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://minio:9000", "credentials"),
        ("s3://key@minio:9000", "credentials"),
        ("s3://key:secret@minio:9000/bucket", "no path"),
        ("s3://key:secret@minio:9000?secur=false", "unknown option 'secur'"),
        ("s3://key:secret@minio:9000?secure=maybe", "secure"),
        ("s3://key:secret@minio:9000?part_size=1024", "part_size"),
        ("s3://key:secret@minio:9000?read_timeout=soon", "read_timeout"),
        ("s3://key:secret@minio:9000?bucket_prefix=Upper_Case", "bucket_prefix"),
        ("s3://key:secret@minio:port", "port"),
        ("http://key:secret@minio:9000", "scheme"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        parse_s3_url(url)
    assert "secret" not in str(error.value)


def test_the_sdk_client_has_timeouts_and_bounded_retries(moto_s3: str) -> None:
    store = MinioBlobStore.from_url(f"{moto_s3}&connect_timeout=2&read_timeout=7&retries=1")
    store._make_client()
    http = store._http
    assert http is not None
    timeout = http.connection_pool_kw["timeout"]
    assert (timeout.connect_timeout, timeout.read_timeout) == (2.0, 7.0)
    retries = http.connection_pool_kw["retries"]
    assert isinstance(retries, urllib3.Retry) and retries.total == 1


def test_content_disposition_is_rfc_6266() -> None:
    assert content_disposition('naïve "x".txt', inline=False) == (
        "attachment; filename=\"na_ve _x_.txt\"; filename*=UTF-8''na%C3%AFve%20%22x%22.txt"
    )


# --- multipart uploads ----------------------------------------------------------------------


async def test_a_multipart_upload_is_invisible_until_complete(store, small_parts_url) -> None:
    data = pattern(2 * MIN_PART_SIZE + 12345)
    writer = await store.open_writer(BUCKET, "c/a/v1")
    try:
        for start in range(0, MIN_PART_SIZE + MiB, MiB):
            await writer.write(data[start : start + MiB])
        # The first part is on its way: the server knows an unfinished upload, no object.
        await eventually(small_parts_url, lambda view: f".partial/{BUCKET}/c/a/v1" in view)
        assert await store.stat(BUCKET, "c/a/v1") is None
        assert [info.key async for info in store.list(BUCKET)] == []
        for start in range(MIN_PART_SIZE + MiB, len(data), MiB):
            await writer.write(data[start : start + MiB])
        assert await writer.complete() == len(data)
    finally:
        await writer.abort()  # a no-op after complete
    assert await server_view(small_parts_url) == [f"{BUCKET}/c/a/v1"]
    info = await store.stat(BUCKET, "c/a/v1")
    assert info is not None and info.size == len(data)
    assert hashlib.sha256(await read_all(store, BUCKET, "c/a/v1")).digest() == (
        hashlib.sha256(data).digest()
    )


async def test_many_small_writes_make_the_same_blob(store) -> None:
    data = pattern(MIN_PART_SIZE + 777, seed=3)
    writer = await store.open_writer(BUCKET, "small-writes")
    for start in range(0, len(data), 64 * 1024 - 1):
        await writer.write(data[start : start + 64 * 1024 - 1])
    assert await writer.complete() == len(data)
    assert await read_all(store, BUCKET, "small-writes") == data


async def test_abort_aborts_the_multipart_upload(store, small_parts_url) -> None:
    writer = await store.open_writer(BUCKET, "k")
    data = pattern(MIN_PART_SIZE + 2 * MiB)
    for start in range(0, len(data), MiB):
        await writer.write(data[start : start + MiB])
    await eventually(small_parts_url, bool)
    await writer.abort()
    assert await server_view(small_parts_url) == []


async def test_a_cancelled_upload_leaves_nothing_on_the_server(store, small_parts_url) -> None:
    """The upload actor aborts its writer in a shielded scope when cancelled; the S3 writer's
    abort waits for the SDK to abort the multipart upload."""
    writer = await store.open_writer(BUCKET, "k")
    with trio.move_on_after(1):
        try:
            while True:  # far more than the test lasts: cancelled mid-stream
                await writer.write(pattern(MiB))
        finally:
            with trio.CancelScope(shield=True):
                await writer.abort()
    assert await server_view(small_parts_url) == []
    assert await store.stat(BUCKET, "k") is None


async def test_a_failed_put_fails_the_writer_and_leaves_nothing(store, small_parts_url) -> None:
    writer = await store.open_writer("no-such-bucket", "k")  # never ensured
    with pytest.raises(Exception, match=r"NoSuchBucket|bucket"):
        for _ in range(MIN_PART_SIZE // MiB + 2):
            await writer.write(pattern(MiB))
        await writer.complete()
    await writer.abort()
    assert await server_view(small_parts_url) == []


async def test_closing_the_store_aborts_writers_left_open(small_parts_url) -> None:
    store = MinioBlobStore.from_url(small_parts_url)
    await store.open()
    await store.ensure_bucket(BUCKET)
    writer = await store.open_writer(BUCKET, "forgotten")
    for _ in range(MIN_PART_SIZE // MiB + 1):
        await writer.write(pattern(MiB))
    await store.close()
    assert await server_view(small_parts_url) == []


async def test_open_and_close_are_counted(store) -> None:
    """Two engines may share one store object: the first to leave must not close it."""
    await store.open()
    await store.close()
    assert await store.stat(BUCKET, "nothing") is None  # still open


# --- remove_incomplete ----------------------------------------------------------------------


async def test_remove_incomplete_takes_other_instances_abandoned_uploads(
    store, small_parts_url
) -> None:
    """A multipart upload this process knows nothing of (a crashed instance's) goes once its
    last part is older than the limit; ``keep`` spares it by key."""
    client = sdk_client(small_parts_url)
    physical = store.physical(BUCKET)

    def start_upload(key: str) -> str:
        upload_id = client._create_multipart_upload(physical, key, {})
        client._upload_part(physical, key, pattern(MIN_PART_SIZE), None, upload_id, 1)
        return upload_id

    await trio.to_thread.run_sync(start_upload, "crashed/one")
    await trio.to_thread.run_sync(start_upload, "kept")
    assert await store.remove_incomplete(BUCKET, 3600) == 0  # its last part is recent
    await trio.sleep(1.1)  # S3 times have one-second resolution
    assert await store.remove_incomplete(BUCKET, 1, keep={"kept"}) == 1
    assert await server_view(small_parts_url) == [f".partial/{BUCKET}/kept"]
    assert await store.remove_incomplete(BUCKET, 1) == 1
    assert await server_view(small_parts_url) == []


async def test_remove_incomplete_makes_a_local_writer_fail(store) -> None:
    writer = await store.open_writer(BUCKET, "stalled")
    await writer.write(b"some bytes")
    assert await store.remove_incomplete(BUCKET, 0) == 1
    with pytest.raises(KeyError):
        await writer.complete()
    await writer.abort()
    assert await store.stat(BUCKET, "stalled") is None


# --- pre-signed URLs and privacy -------------------------------------------------------------


def fetch(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


async def put(store: MinioBlobStore, bucket: str, key: str, data: bytes) -> None:
    writer = await store.open_writer(bucket, key)
    await writer.write(data)
    await writer.complete()


async def test_objects_are_private(store, small_parts_url) -> None:
    await put(store, BUCKET, "c/a/v1", b"private bytes")
    endpoint = parse_s3_url(small_parts_url).endpoint
    status, body, _ = await trio.to_thread.run_sync(
        fetch, f"http://{endpoint}/{store.physical(BUCKET)}/c/a/v1"
    )
    assert status == 403 and b"private bytes" not in body


async def test_no_native_presigned_urls_unless_asked(store) -> None:
    await put(store, BUCKET, "c/a/v1", b"x")
    now = time.time()
    assert (
        await store.presigned_url(BUCKET, "c/a/v1", signed_at=now, expires_at=now + 60, headers={})
        is None
    )


async def test_native_presigned_url_downloads_with_the_file_name(
    small_parts_url, bucket_janitor
) -> None:
    store = MinioBlobStore.from_url(f"{small_parts_url}&presign=true")
    await store.open()
    try:
        await store.ensure_bucket(BUCKET)
        await put(store, BUCKET, "c/a/v1", b"signed content")
        now = time.time()
        url = await store.presigned_url(
            BUCKET,
            "c/a/v1",
            signed_at=now,
            expires_at=now + 60,
            headers={"Content-Disposition": content_disposition("clip été.mp4", inline=False)},
        )
        assert url is not None and "X-Amz-Signature=" in url
        status, body, headers = await trio.to_thread.run_sync(fetch, url)
        assert (status, body) == (200, b"signed content")
        assert headers["Content-Disposition"] == content_disposition("clip été.mp4", inline=False)
        tampered = url.replace("c/a/v1", "c/a/v2")
        assert (await trio.to_thread.run_sync(fetch, tampered))[0] == 403
    finally:
        await store.close()
        bucket_janitor.drop(small_parts_url)


async def test_presigned_urls_name_the_public_endpoint(small_parts_url) -> None:
    store = MinioBlobStore.from_url(
        f"{small_parts_url}&presign=true&presign_endpoint=assets.example.com:8443"
    )
    now = time.time()
    url = await store.presigned_url(
        BUCKET, "c/a/v1", signed_at=now, expires_at=now + 3600, headers={}
    )
    assert url is not None and url.startswith("http://assets.example.com:8443/")


# --- errors at start ---------------------------------------------------------------------------


async def test_an_unreachable_server_is_a_clear_connection_error() -> None:
    from tests.backends import free_port

    port = free_port()  # nothing listens there
    store = MinioBlobStore.from_url(f"s3://k:s@127.0.0.1:{port}?secure=false&retries=1")
    started = time.monotonic()
    with pytest.raises(ConnectionError) as error:
        await store.open()
    assert time.monotonic() - started < 10
    message = str(error.value)
    assert f"S3 blob store http://127.0.0.1:{port} is unreachable" in message
    assert "\n" not in message


async def test_refused_credentials_are_a_clear_connection_error(moto_checking_credentials) -> None:
    store = MinioBlobStore.from_url(moto_s3_url(moto_checking_credentials, new_bucket_prefix()))
    with pytest.raises(ConnectionError) as error:
        await store.open()
    message = str(error.value)
    assert "refused the credentials of access key 'testing'" in message
    assert "InvalidAccessKeyId" in message
    assert "\n" not in message


def test_sdk_client_reads_what_the_store_wrote(moto_s3: str) -> None:
    """The tests' own view (``tests/backends.py``) sees the same objects the store writes."""
    client = sdk_client(moto_s3)
    prefix = parse_s3_url(moto_s3).bucket_prefix
    client.make_bucket(f"{prefix}{BUCKET}")
    client.put_object(f"{prefix}{BUCKET}", "k", io.BytesIO(b"v"), 1)
    assert s3_contents(moto_s3) == [f"{BUCKET}/k"]
    from tests.backends import drop_buckets

    drop_buckets(moto_s3)
    assert s3_contents(moto_s3) == []


# --- public copies -----------------------------------------------------------------------------


async def test_the_bucket_policy_lets_anyone_read_public_copies_only(store, small_parts_url):
    import json

    client = sdk_client(small_parts_url)
    physical = store.physical(BUCKET)
    policy = json.loads(await trio.to_thread.run_sync(client.get_bucket_policy, physical))
    statements = policy["Statement"]
    assert len(statements) == 1
    (statement,) = statements
    assert statement["Effect"] == "Allow"
    actions = statement["Action"]
    assert (actions if isinstance(actions, list) else [actions]) == ["s3:GetObject"]
    resources = statement["Resource"]
    assert (resources if isinstance(resources, list) else [resources]) == [
        f"arn:aws:s3:::{physical}/public/*"
    ]
    await store.ensure_bucket(BUCKET)  # idempotent: the policy is set again, unchanged
    assert json.loads(await trio.to_thread.run_sync(client.get_bucket_policy, physical)) == policy


async def test_set_public_copies_under_public_and_back(store, small_parts_url) -> None:
    await put(store, BUCKET, "c/a/v1", b"public bytes")
    url = await store.set_public(BUCKET, "c/a/v1", True)
    endpoint = parse_s3_url(small_parts_url).endpoint
    assert url == f"http://{endpoint}/{store.physical(BUCKET)}/public/c/a/v1"
    assert await read_all(store, BUCKET, "public/c/a/v1") == b"public bytes"
    assert await read_all(store, BUCKET, "c/a/v1") == b"public bytes"  # the private key stays
    status, body, _ = await trio.to_thread.run_sync(fetch, url)
    assert (status, body) == (200, b"public bytes")
    # Only the public copy is readable anonymously.
    private = url.replace("/public/", "/")
    status, body, _ = await trio.to_thread.run_sync(fetch, private)
    assert status == 403 and b"public bytes" not in body
    assert await store.set_public(BUCKET, "c/a/v1", True) == url  # idempotent
    assert await store.set_public(BUCKET, "c/a/v1", False) is None
    assert await store.stat(BUCKET, "public/c/a/v1") is None
    assert await store.stat(BUCKET, "c/a/v1") is not None
    assert (await trio.to_thread.run_sync(fetch, url))[0] in (403, 404)
    assert await store.set_public(BUCKET, "c/a/v1", False) is None  # idempotent


async def test_set_public_of_a_missing_blob_is_a_key_error(store) -> None:
    with pytest.raises(KeyError):
        await store.set_public(BUCKET, "c/a/v9", True)


async def test_public_urls_name_the_public_endpoint(small_parts_url) -> None:
    store = MinioBlobStore.from_url(f"{small_parts_url}&public_endpoint=cdn.example.com")
    assert store.public_url(BUCKET, "c/a/v1") == (
        f"http://cdn.example.com/{store.physical(BUCKET)}/public/c/a/v1"
    )
