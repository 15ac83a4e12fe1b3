"""The S3 blob store, on MinIO's official (synchronous) ``minio`` SDK.

Every SDK call runs in a Trio worker thread under a ``CapacityLimiter`` (faster and leaner
than the asyncio SDKs through a bridge: docs/decisions.md); thread calls can't be interrupted,
so the SDK's HTTP client has its own timeouts and a bounded retry policy. Long transfers (an
upload's whole ``put_object``, ``local_file`` downloads) have a limiter of their own so that they
never starve the short calls.

A logical bucket ``image-assets`` is the physical bucket ``{bucket_prefix}image-assets``: tests
and shared servers give every run its own prefix.

Writes: ``open_writer`` starts ``put_object(length=-1)`` in a worker thread hosted by a Trio
system task. The thread reads from a file-like object whose ``read`` pulls ~1 MiB chunks from a
bounded memory channel (``trio.from_thread.run``), so memory stays constant whatever the size
and ``write`` applies backpressure. Small blobs go up in one PUT when ``complete`` closes the
channel; larger ones as a multipart upload of ``part_size`` parts, which S3 makes visible only
when it is completed — so nothing is visible under the key before ``complete``. ``abort`` makes
the reader raise, the SDK aborts its multipart upload, and the caller waits for that in a
shielded cancel scope.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import certifi
import outcome
import trio
import urllib3
from minio import Minio
from minio.commonconfig import REPLACE, CopySource
from minio.error import MinioException, S3Error

from ..blobstore import MAX_PRESIGNED_LIFETIME, PRESIGNED_HEADERS, BlobInfo, BlobStore, BlobWriter
from ..lifecycle import OpenCount

T = TypeVar("T")

MiB = 1024 * 1024
CHUNK_SIZE = MiB
#: S3 allows 5 MiB to 5 GiB per part and 10 000 parts: 8 MiB parts carry up to ~78 GiB
DEFAULT_PART_SIZE = 8 * MiB
MIN_PART_SIZE = 5 * MiB
#: how long ``abort`` (and ``close``) wait for an upload's thread to abort its multipart upload
ABORT_WAIT = 60.0

_MISSING_KEY = frozenset({"NoSuchKey", "NoSuchObject", "NoSuchVersion"})
_MISSING_BUCKET = frozenset({"NoSuchBucket"})
_BAD_CREDENTIALS = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
)
_BUCKET_TAKEN = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})
#: where public copies of blobs live in their bucket: ``public/{key}``, the only keys the bucket
#: policy lets anyone read without credentials
PUBLIC_PREFIX = "public/"

logger = logging.getLogger(__name__)


def public_read_policy(physical_bucket: str) -> str:
    """The bucket policy ``ensure_bucket`` sets: anonymous ``s3:GetObject`` on ``public/*``
    only — no listing, nothing else readable."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PublicReadOfPublicPrefix",
                    "Effect": "Allow",
                    "Principal": {"AWS": ["*"]},
                    "Action": ["s3:GetObject"],
                    "Resource": [f"arn:aws:s3:::{physical_bucket}/{PUBLIC_PREFIX}*"],
                }
            ],
        }
    )


def _missing(error: S3Error) -> bool:
    return error.code in _MISSING_KEY or error.code in _MISSING_BUCKET


@dataclass(frozen=True, slots=True)
class S3Options:
    """What an ``s3://`` URL configures (see ``MinioBlobStore.from_url``)."""

    endpoint: str
    access_key: str
    secret_key: str = field(repr=False)
    secure: bool = True
    region: str = "us-east-1"
    bucket_prefix: str = ""
    part_size: int = DEFAULT_PART_SIZE
    #: concurrent short SDK calls (stat, one chunk of a download, copy, list…)
    max_threads: int = 16
    #: concurrent long transfers (uploads in flight, local_file downloads)
    max_transfers: int = 64
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    retries: int = 3
    #: hand out native pre-signed URLs (``presigned_url``) instead of the service's own links
    presign: bool = False
    #: the ``host:port`` clients reach the store at, when it is not ``endpoint`` (the URLs are
    #: signed for it); same ``secure`` setting
    presign_endpoint: str = ""
    #: the ``host:port`` clients reach public copies (``set_public``) at, when it is not
    #: ``endpoint`` (e.g. a CDN); same ``secure`` setting
    public_endpoint: str = ""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_s3_url(url: str) -> S3Options:
    """``s3://ACCESS:SECRET@HOST:PORT?secure=false&region=us-east-1&bucket_prefix=dev-``.

    Access and secret key are percent-decoded. Query options: ``secure`` (default true),
    ``region``, ``bucket_prefix``, ``part_size`` (bytes, 5 MiB to 5 GiB), ``max_threads``,
    ``max_transfers``, ``connect_timeout``, ``read_timeout`` (seconds), ``retries``,
    ``presign`` (default false), ``presign_endpoint``, ``public_endpoint``. Raises
    ``ValueError`` naming what is wrong (the password is never repeated)."""
    parts = urlsplit(url)
    if parts.scheme not in ("s3", "minio"):
        raise ValueError(f"not an s3:// URL (scheme {parts.scheme!r})")
    if not parts.hostname:
        raise ValueError("the s3:// URL names no host")
    if parts.username is None or parts.password is None:
        raise ValueError("the s3:// URL needs credentials: s3://ACCESS_KEY:SECRET_KEY@host:port")
    if parts.path not in ("", "/"):
        raise ValueError("the s3:// URL takes no path (buckets are per asset type)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the s3:// URL has an invalid port") from None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    values: dict[str, Any] = {
        "endpoint": f"{host}:{port}" if port else host,
        "access_key": unquote(parts.username),
        "secret_key": unquote(parts.password),
    }
    numbers = {
        "part_size": int,
        "max_threads": int,
        "max_transfers": int,
        "retries": int,
        "connect_timeout": float,
        "read_timeout": float,
    }
    for name, raw in parse_qsl(parts.query, keep_blank_values=True):
        if name in ("secure", "presign"):
            if raw.lower() not in _TRUE | _FALSE:
                raise ValueError(f"{name}={raw!r}: use true or false")
            values[name] = raw.lower() in _TRUE
        elif name in ("region", "bucket_prefix", "presign_endpoint", "public_endpoint"):
            values[name] = raw
        elif name in numbers:
            try:
                number = numbers[name](raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a number") from None
            if number < 0 or (number == 0 and name != "retries"):
                raise ValueError(f"{name} must be positive")
            values[name] = number
        else:
            raise ValueError(f"unknown option {name!r} in the s3:// URL")
    options = S3Options(**values)
    if not MIN_PART_SIZE <= options.part_size <= 5 * 1024 * MiB:
        raise ValueError("part_size must be between 5 MiB and 5 GiB")
    prefix = options.bucket_prefix
    if prefix and (
        len(prefix) > 30 or not all(c.islower() or c.isdigit() or c in "-." for c in prefix)
    ):
        raise ValueError("bucket_prefix: up to 30 lower-case letters, digits, '-' or '.'")
    return options


class _Aborted(Exception):
    """Raised inside the SDK's ``put_object`` (an ``Exception``, so that the SDK aborts its
    multipart upload) when the writer is aborted or its host task is cancelled."""


class _ChannelReader:
    """The file-like object ``put_object`` reads from, in a worker thread."""

    def __init__(self, pull: Callable[[], Any]) -> None:
        self._pull = pull
        self._pending = memoryview(b"")
        self._eof = False

    def read(self, size: int = -1) -> bytes:
        wanted = math.inf if size is None or size < 0 else size
        pieces: list[memoryview] = []
        count = 0
        while count < wanted:
            if not self._pending:
                if self._eof:
                    break
                try:
                    chunk = trio.from_thread.run(self._pull)
                except _Aborted:
                    raise
                except BaseException as error:  # Cancelled, RunFinishedError…
                    raise _Aborted(f"upload interrupted: {error!r}") from error
                if not chunk:
                    self._eof = True
                    break
                self._pending = memoryview(chunk)
            take = self._pending[: int(min(len(self._pending), wanted - count))]
            pieces.append(take)
            count += len(take)
            self._pending = self._pending[len(take) :]
        return b"".join(pieces)  # one copy into the part the SDK sends


class MinioBlobWriter(BlobWriter):
    def __init__(self, store: MinioBlobStore, bucket: str, key: str) -> None:
        self._store = store
        self.bucket = bucket
        self.key = key
        depth = max(1, store.options.part_size // CHUNK_SIZE)
        # About one part of slack, so the caller can fill the next part while the worker
        # thread sends the current one.
        self._send, self._receive = trio.open_memory_channel[bytes | bytearray](depth)
        self._buffer = bytearray()
        self._size = 0
        self._done = trio.Event()
        self._result: outcome.Outcome[Any] | None = None
        self._aborted = False
        self._closed = False
        self._completed = False
        self._removed = False
        #: wall-clock time of the last write: how ``remove_incomplete`` tells a stalled writer
        self.last_write = time.time()

    def start(self) -> None:
        trio.lowlevel.spawn_system_task(self._pump, name=f"s3-put {self.bucket}/{self.key}")

    async def _pump(self) -> None:
        store = self._store
        physical = store.physical(self.bucket)
        put = partial(
            store.client.put_object,
            physical,
            self.key,
            _ChannelReader(self._pull),
            length=-1,
            part_size=store.options.part_size,
            # One part at a time: the SDK's parallel pool leaks its threads when the stream
            # raises, which is how every abort ends.
            num_parallel_uploads=1,
        )
        try:
            self._result = await outcome.acapture(
                trio.to_thread.run_sync, put, limiter=store.transfers
            )
        finally:
            self._receive.close()
            self._done.set()

    async def _pull(self) -> bytes | bytearray:
        """Runs in Trio on behalf of the worker thread: the next chunk, or ``b""`` at the
        end; raises ``_Aborted`` once the writer is aborted."""
        if self._aborted:
            raise _Aborted("the write was aborted")
        try:
            return await self._receive.receive()
        except trio.EndOfChannel:
            if self._aborted:
                raise _Aborted("the write was aborted") from None
            return b""

    def _failure(self) -> BaseException:
        if self._removed:
            return KeyError(f"{self.bucket}/{self.key}: the unfinished write was removed")
        if isinstance(self._result, outcome.Error):
            error = self._result.error
            if isinstance(error, Exception) and not isinstance(error, _Aborted):
                return error
        return RuntimeError("blob writer is closed")

    async def write(self, data: bytes) -> None:
        if self._closed or self._done.is_set():
            raise self._failure()
        self._size += len(data)
        self.last_write = time.time()
        if not self._buffer and len(data) >= CHUNK_SIZE:
            # Queued as it is, so it must not change under us: only immutable bytes are.
            await self._send_chunk(data if isinstance(data, bytes) else bytes(data))
            return
        self._buffer += data
        if len(self._buffer) >= CHUNK_SIZE:
            chunk, self._buffer = self._buffer, bytearray()
            await self._send_chunk(chunk)

    async def _send_chunk(self, chunk: bytes | bytearray) -> None:
        try:
            await self._send.send(chunk)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise self._failure() from None

    async def complete(self) -> int:
        if self._closed:
            raise self._failure()
        if self._buffer:
            chunk, self._buffer = self._buffer, bytearray()
            await self._send_chunk(chunk)
        self._closed = True
        self._send.close()  # end of data: the SDK sends the last part and completes
        await self._done.wait()
        self._store.forget(self)
        result = self._result
        if self._removed or not isinstance(result, outcome.Value):
            raise self._failure()
        self._completed = True
        return self._size

    async def abort(self) -> None:
        if self._completed:
            return
        self._aborted = True
        self._closed = True
        self._buffer = bytearray()
        self._send.close()
        with trio.move_on_after(ABORT_WAIT, shield=True):
            await self._done.wait()
            if isinstance(self._result, outcome.Value):
                # ``complete`` was cancelled after the end of data was sent, and the upload
                # went through anyway: take it back.
                self._completed = True  # abort stays idempotent
                await self._store.delete(self.bucket, self.key)
        self._store.forget(self)

    @property
    def open_for_writes(self) -> bool:
        return not self._closed

    async def remove(self) -> None:
        """``remove_incomplete`` on a writer of this process: abort it for its owner, whose
        ``complete`` then raises ``KeyError``."""
        self._removed = True
        await self.abort()


class MinioBlobStore(BlobStore):
    def __init__(self, options: S3Options) -> None:
        self.options = options
        self._client: Minio | None = None
        self._http: urllib3.PoolManager | None = None
        self._limiter = trio.CapacityLimiter(options.max_threads)
        self.transfers = trio.CapacityLimiter(options.max_transfers)
        self._writers: set[MinioBlobWriter] = set()
        self._open_count = OpenCount()
        self._signer: Minio | None = None

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> MinioBlobStore:
        options = parse_s3_url(url)
        if overrides:
            options = S3Options(**{**_as_dict(options), **overrides})
        return cls(options)

    def __repr__(self) -> str:
        scheme = "https" if self.options.secure else "http"
        return f"MinioBlobStore({scheme}://{self.options.endpoint})"

    @property
    def client(self) -> Minio:
        if self._client is None:
            raise RuntimeError("blob store is not open")
        return self._client

    def physical(self, bucket: str) -> str:
        return self.options.bucket_prefix + bucket

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await trio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=self._limiter)

    # --- lifecycle -----------------------------------------------------------------------

    def _make_client(self) -> Minio:
        options = self.options
        retry = urllib3.Retry(
            total=options.retries,
            backoff_factor=0.2,
            status_forcelist=[500, 502, 503, 504],
            # Read errors are retried for idempotent methods only (not the POSTs that start
            # and complete multipart uploads); connection errors for all.
            raise_on_status=False,  # the last 5xx answer reaches the SDK, which names the error
        )
        self._http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=options.connect_timeout, read=options.read_timeout),
            retries=retry,
            maxsize=options.max_threads + options.max_transfers,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        )
        return Minio(
            options.endpoint,
            access_key=options.access_key,
            secret_key=options.secret_key,
            secure=options.secure,
            region=options.region,
            http_client=self._http,
        )

    async def open(self) -> None:
        await self._open_count.open(self._connect)

    async def _connect(self) -> None:
        client = self._make_client()
        scheme = "https" if self.options.secure else "http"
        where = f"S3 blob store {scheme}://{self.options.endpoint}"
        try:
            await self._call(_check_access, client, self.physical("temp-uploads"))
        except S3Error as error:
            if error.code in _BAD_CREDENTIALS:
                raise ConnectionError(
                    f"{where} refused the credentials of access key "
                    f"{self.options.access_key!r} ({error.code}: {error.message})"
                ) from None
            raise ConnectionError(f"{where} answered {error.code}: {error.message}") from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise ConnectionError(f"{where} is unreachable: {_reason(error)}") from None
        except MinioException as error:  # e.g. a 5xx answer that is no S3 error document
            raise ConnectionError(f"{where} failed: {error}") from None
        self._client = client

    async def close(self) -> None:
        await self._open_count.close(self._disconnect)

    async def _disconnect(self) -> None:
        with trio.CancelScope(shield=True):
            for writer in list(self._writers):
                await writer.abort()
        http, self._http, self._client = self._http, None, None
        if http is not None:
            http.clear()

    # --- writers -------------------------------------------------------------------------

    def forget(self, writer: MinioBlobWriter) -> None:
        self._writers.discard(writer)

    async def open_writer(self, bucket: str, key: str) -> BlobWriter:
        _check_key(key)
        self.client  # noqa: B018 - fail now if not open
        writer = MinioBlobWriter(self, bucket, key)
        writer.start()
        self._writers.add(writer)
        return writer

    # --- buckets -------------------------------------------------------------------------

    async def ensure_bucket(self, bucket: str) -> None:
        physical = self.physical(bucket)

        def ensure() -> None:
            # One request either way: creating is refused for a bucket we have already (or
            # another instance has just made). A key that may not create buckets is fine if
            # they exist.
            try:
                self.client.make_bucket(physical, location=self.options.region)
            except S3Error as error:
                if error.code in _BUCKET_TAKEN:
                    return
                if error.code == "AccessDenied" and self.client.bucket_exists(physical):
                    return
                raise

        def allow_public_prefix() -> None:
            try:
                self.client.set_bucket_policy(physical, public_read_policy(physical))
            except S3Error as error:
                if error.code not in ("AccessDenied", "NotImplemented"):
                    raise
                # A key that may not set policies: public copies are then not readable
                # anonymously, and the service's own download route still serves them.
                logger.warning(
                    "could not set the public-read policy of bucket %s (%s): public assets "
                    "are served by the service only",
                    physical,
                    error.code,
                )

        await self._call(ensure)
        await self._call(allow_public_prefix)

    # --- reads ---------------------------------------------------------------------------

    async def stat(self, bucket: str, key: str) -> BlobInfo | None:
        try:
            found = await self._call(self.client.stat_object, self.physical(bucket), key)
        except S3Error as error:
            if _missing(error):
                return None
            raise
        return BlobInfo(bucket, key, int(found.size or 0), _aware(found.last_modified))

    async def read(
        self, bucket: str, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        if offset < 0 or (length is not None and length < 0):
            raise ValueError("offset and length must not be negative")
        if length == 0:
            if await self.stat(bucket, key) is None:
                raise KeyError(f"{bucket}/{key}")
            return
        response = await self._get(bucket, key, offset, length)
        if response is None:
            return  # offset at or past the end
        finished = False
        try:
            while True:
                chunk = await self._call(response.read, CHUNK_SIZE)
                if not chunk:
                    break
                yield chunk
            finished = True
        finally:
            # Not via a thread: this also runs when the generator is closed by the garbage
            # collector. A response read to its end goes back to the pool for reuse; one left
            # half-read can't be reused and is closed.
            if not finished:
                response.close()
            response.release_conn()

    async def _get(
        self, bucket: str, key: str, offset: int, length: int | None
    ) -> urllib3.BaseHTTPResponse | None:
        """The response streaming the range, or ``None`` for an empty range of an existing
        blob. ``KeyError`` if there is no blob."""
        try:
            return await self._call(
                self.client.get_object, self.physical(bucket), key, offset, length or 0
            )
        except S3Error as error:
            if _missing(error):
                raise KeyError(f"{bucket}/{key}") from None
            if error.code == "InvalidRange":  # starts at or past the end (or empty blob)
                if await self.stat(bucket, key) is None:
                    raise KeyError(f"{bucket}/{key}") from None
                return None
            raise

    async def read_head(self, bucket: str, key: str, size: int) -> bytes:
        return b"".join([chunk async for chunk in self.read(bucket, key, 0, max(size, 0))])

    # --- copies and deletes --------------------------------------------------------------

    async def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        await self._copy(src_bucket, src_key, dst_bucket, dst_key)

    async def _copy(
        self,
        src_bucket: str,
        src_key: str,
        dst_bucket: str,
        dst_key: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """``copy``; with ``headers`` (``Content-Type``, ``Content-Disposition``…) the copy's
        system metadata is replaced by them (``x-amz-metadata-directive: REPLACE``), so the
        server answers a GET of the copy with them."""
        _check_key(dst_key)
        if (src_bucket, src_key) == (dst_bucket, dst_key):
            if await self.stat(src_bucket, src_key) is None:
                raise KeyError(f"{src_bucket}/{src_key}")
            return
        source = CopySource(self.physical(src_bucket), src_key)
        extra: dict[str, Any] = {}
        if headers:
            extra = {"metadata": dict(headers), "metadata_directive": REPLACE}
        try:
            # Server-side: CopyObject, or a multipart UploadPartCopy past 5 GiB. The copy
            # appears complete or not at all.
            await self._call(
                self.client.copy_object, self.physical(dst_bucket), dst_key, source, **extra
            )
        except S3Error as error:
            if _missing(error):
                raise KeyError(f"{src_bucket}/{src_key}") from None
            raise

    async def move(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        # S3 has no rename: copy (atomic at the destination), then delete the source. A crash
        # in between leaves the source behind, which the cleanup's TTL takes care of.
        await self.copy(src_bucket, src_key, dst_bucket, dst_key)
        if (src_bucket, src_key) != (dst_bucket, dst_key):
            await self.delete(src_bucket, src_key)

    async def delete(self, bucket: str, key: str) -> None:
        try:
            await self._call(self.client.remove_object, self.physical(bucket), key)
        except S3Error as error:
            if not _missing(error):
                raise

    # --- listing and cleanup -------------------------------------------------------------

    async def list(self, bucket: str, prefix: str = "") -> AsyncIterator[BlobInfo]:
        objects = self.client.list_objects(self.physical(bucket), prefix=prefix, recursive=True)

        def next_batch() -> list[Any]:
            try:
                return list(itertools.islice(objects, 1000))
            except S3Error as error:
                if error.code in _MISSING_BUCKET:
                    return []
                raise

        while batch := await self._call(next_batch):
            for found in batch:
                if found.is_dir or found.object_name.endswith("/"):
                    continue
                yield BlobInfo(
                    bucket, found.object_name, int(found.size or 0), _aware(found.last_modified)
                )

    async def remove_incomplete(
        self, bucket: str, older_than: float, keep: Collection[str] = ()
    ) -> int:
        """This process's writers (by their last write) and the bucket's unfinished multipart
        uploads (by their latest part, or their start if they have none) idle for
        ``older_than`` seconds, except those whose key is in ``keep``."""
        cutoff = time.time() - older_than
        # Writers whose ``complete`` has begun are left to finish.
        ours = [w for w in self._writers if w.bucket == bucket and w.open_for_writes]
        # Their multipart uploads are theirs to finish or abort.
        spared = set(keep) | {w.key for w in self._writers if w.bucket == bucket}
        removed = await self._call(self._abort_stale_uploads, bucket, cutoff, spared)
        for writer in ours:
            if writer.key not in keep and writer.last_write <= cutoff:
                await writer.remove()
                removed += 1
        return removed

    def _abort_stale_uploads(self, bucket: str, cutoff: float, spared: set[str]) -> int:
        client = self.client
        physical = self.physical(bucket)
        removed = 0
        key_marker = upload_marker = None
        while True:
            try:
                page = client._list_multipart_uploads(
                    physical, key_marker=key_marker, upload_id_marker=upload_marker
                )
            except S3Error as error:
                if error.code in _MISSING_BUCKET:
                    return removed
                raise
            for upload in page.uploads:
                if upload.object_name in spared:
                    continue
                last = _timestamp(upload.initiated_time)
                if last > cutoff:
                    continue
                parts = client._list_parts(physical, upload.object_name, upload.upload_id)
                for part in parts.parts:
                    last = max(last, _timestamp(part.last_modified))
                if last > cutoff:
                    continue  # still being written to
                try:
                    client._abort_multipart_upload(physical, upload.object_name, upload.upload_id)
                except S3Error as error:
                    if error.code != "NoSuchUpload":  # completed or aborted meanwhile
                        raise
                    continue
                removed += 1
            if not page.is_truncated:
                return removed
            key_marker, upload_marker = page.next_key_marker, page.next_upload_id_marker

    # --- local copies and URLs -----------------------------------------------------------

    @contextlib.asynccontextmanager
    async def local_file(self, bucket: str, key: str) -> AsyncIterator[Path]:
        directory = Path(await trio.to_thread.run_sync(tempfile.mkdtemp, "", "asset-blob-"))
        path = directory / "blob"
        try:
            await trio.to_thread.run_sync(self._download, bucket, key, path, limiter=self.transfers)
            yield path
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(shutil.rmtree, directory, True)

    def _download(self, bucket: str, key: str, path: Path) -> None:
        try:
            response = self.client.get_object(self.physical(bucket), key)
        except S3Error as error:
            if _missing(error):
                raise KeyError(f"{bucket}/{key}") from None
            raise
        try:
            with path.open("xb") as file:
                for chunk in response.stream(CHUNK_SIZE):
                    file.write(chunk)
        finally:
            response.close()
            response.release_conn()

    async def set_public(
        self, bucket: str, key: str, public: bool, headers: Mapping[str, str] | None = None
    ) -> str | None:
        """A public copy of the blob at ``public/{key}`` in the same bucket, which the bucket
        policy (``ensure_bucket``) lets anyone read: a server-side copy carrying ``headers``
        as its metadata (the server answers with its ``Content-Type`` and
        ``Content-Disposition``), and its URL at ``public_endpoint`` (or ``endpoint``).
        ``public=False`` removes the copy."""
        _check_key(key)
        if key.startswith(PUBLIC_PREFIX):
            raise ValueError(f"{key!r} is a public copy already")
        public_key = PUBLIC_PREFIX + key
        if not public:
            await self.delete(bucket, public_key)
            return None
        await self._copy(bucket, key, bucket, public_key, headers)
        return self.public_url(bucket, key)

    def public_url(self, bucket: str, key: str) -> str:
        """Where the public copy of ``bucket/key`` is read without credentials."""
        scheme = "https" if self.options.secure else "http"
        host = self.options.public_endpoint or self.options.endpoint
        return f"{scheme}://{host}/{self.physical(bucket)}/{quote(PUBLIC_PREFIX + key)}"

    @property
    def presigned_origin(self) -> str | None:
        if not self.options.presign:
            return None
        endpoint = self.options.presign_endpoint or self.options.endpoint
        if "://" in endpoint:
            parts = urlsplit(endpoint)
            return f"{parts.scheme}://{parts.netloc}"
        return f"{'https' if self.options.secure else 'http'}://{endpoint}"

    async def presigned_url(
        self,
        bucket: str,
        key: str,
        *,
        signed_at: float,
        expires_at: float,
        headers: Mapping[str, str],
    ) -> str | None:
        """With ``presign=true``: a native pre-signed GET URL (direct or CDN access) signed as
        of ``signed_at`` (``X-Amz-Date``) for ``expires_at - signed_at`` seconds (at most S3's
        7 days), answering with ``headers`` (``response-content-disposition`` …), for
        ``presign_endpoint`` if set. Signed locally: no request is made, and the same arguments
        give the same URL. ``None`` otherwise, and the service signs links of its own.

        Off by default: a native URL goes around the service, so it keeps working until it
        expires even if the asset is deleted meanwhile, and it names the endpoint as the
        service reaches it (``minio:9000`` in docker compose), which clients may not."""
        if not self.options.presign:
            return None
        lifetime = round(expires_at - signed_at)
        if not 1 <= lifetime <= MAX_PRESIGNED_LIFETIME:
            raise ValueError(f"a presigned URL lives 1 s to 7 days, not {lifetime} s")
        unknown = set(headers) - PRESIGNED_HEADERS
        if unknown:
            raise ValueError(f"a presigned URL cannot set {sorted(unknown)}")
        if self._signer is None:
            # Signing needs no connection: a client of its own for the public endpoint.
            self._signer = Minio(
                self.options.presign_endpoint or self.options.endpoint,
                access_key=self.options.access_key,
                secret_key=self.options.secret_key,
                secure=self.options.secure,
                region=self.options.region,
            )
        return self._signer.presigned_get_object(
            self.physical(bucket),
            key,
            expires=timedelta(seconds=lifetime),
            # sorted: the query (and so the URL) does not depend on the caller's order
            response_headers={f"response-{n.lower()}": headers[n] for n in sorted(headers)},
            request_date=datetime.fromtimestamp(round(signed_at), UTC),
        )


def _check_access(client: Minio, probe_bucket: str) -> None:
    """One authenticated request: listing the buckets, or — for keys that may not list
    buckets — looking for one bucket of ours. urllib3's warning for each retry is held back
    meanwhile: a server that is down is reported once, by ``open``."""
    pool_log = logging.getLogger("urllib3.connectionpool")
    level = pool_log.level
    pool_log.setLevel(logging.ERROR)
    try:
        client.list_buckets()
    except S3Error as error:
        if error.code != "AccessDenied":
            raise
        client.bucket_exists(probe_bucket)
    finally:
        pool_log.setLevel(level)


def _check_key(key: str) -> None:
    # S3 accepts almost any key; these are the ones the filesystem store refuses too, so that
    # both stores agree on what a key is.
    if not key or any(seg in ("", ".", "..") for seg in key.split("/")) or "\0" in key:
        raise ValueError(f"invalid key: {key!r}")


def _aware(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _timestamp(value: datetime | None) -> float:
    return _aware(value).timestamp() if value is not None else 0.0


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    return str(reason or error)


def _as_dict(options: S3Options) -> dict[str, Any]:
    return {name: getattr(options, name) for name in S3Options.__dataclass_fields__}
