"""The blob store port: where asset bytes live.

Buckets are flat namespaces (one per asset type plus ``temp-uploads``); keys are
``/``-separated strings the engine builds itself (``{customer_id}/{asset_id}/v{n}`` or an upload
id), never strings a client supplied. Every method is async and none blocks the event loop:
adapters run their blocking I/O in Trio worker threads.

Adapters: ``adapters.filesystem.FilesystemBlobStore`` (embedded default); the S3/MinIO adapter
joins the same contract suite (``tests/engine/test_blobstore_contract.py``).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

#: the response headers a presigned URL may name (S3's ``response-*`` overrides)
PRESIGNED_HEADERS = frozenset(
    {"Cache-Control", "Content-Disposition", "Content-Type", "Expires", "Content-Language"}
)
#: the longest a presigned URL may live (S3's limit)
MAX_PRESIGNED_LIFETIME = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class BlobInfo:
    bucket: str
    key: str
    size: int
    modified: datetime


class BlobWriter(abc.ABC):
    """A blob being written. Nothing is visible under its key until ``complete`` returns;
    ``abort`` (or never completing) leaves nothing behind."""

    @abc.abstractmethod
    async def write(self, data: bytes) -> None:
        """Append ``data``. Applies backpressure: returns once the bytes are accepted."""

    @abc.abstractmethod
    async def complete(self) -> int:
        """Make the blob durable and visible under its key; returns its size in bytes."""

    @abc.abstractmethod
    async def abort(self) -> None:
        """Discard everything written. Idempotent; safe after ``complete`` fails."""


class BlobStore(abc.ABC):
    """Abstract blob store. Missing blobs raise ``KeyError`` where a method must find one."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect. Raises a clear ``ConnectionError`` when the backend is unreachable or
        refuses the credentials. Buckets are created by ``ensure_bucket``, which the engine
        calls for every bucket before writing to it."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections. Idempotent."""

    @abc.abstractmethod
    async def ensure_bucket(self, bucket: str) -> None:
        """Create ``bucket`` if it does not exist (private: nothing publicly readable but what
        ``set_public`` publishes)."""

    @abc.abstractmethod
    async def open_writer(self, bucket: str, key: str) -> BlobWriter:
        """Start writing ``bucket/key``; an existing blob there is replaced on ``complete``."""

    @abc.abstractmethod
    async def stat(self, bucket: str, key: str) -> BlobInfo | None:
        """Size and modification time, or ``None`` if there is no such blob."""

    @abc.abstractmethod
    def read(
        self, bucket: str, key: str, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream ``length`` bytes (to the end when ``None``) from ``offset`` in chunks of about
        1 MiB. Raises ``KeyError`` on the first iteration if the blob does not exist."""

    @abc.abstractmethod
    async def read_head(self, bucket: str, key: str, size: int) -> bytes:
        """The first ``size`` bytes (fewer if the blob is shorter)."""

    @abc.abstractmethod
    async def move(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        """Move a blob, replacing any blob at the destination. Atomic where the backend
        allows: the destination is either absent or complete, never half-written."""

    @abc.abstractmethod
    async def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> None:
        """Copy a blob server-side, replacing any blob at the destination."""

    @abc.abstractmethod
    async def delete(self, bucket: str, key: str) -> None:
        """Remove a blob. Deleting a missing blob is not an error."""

    @abc.abstractmethod
    def list(self, bucket: str, prefix: str = "") -> AsyncIterator[BlobInfo]:
        """Every complete blob in ``bucket`` whose key starts with ``prefix``. Blobs still being
        written are not listed."""

    @abc.abstractmethod
    async def remove_incomplete(
        self, bucket: str, older_than: float, keep: Collection[str] = ()
    ) -> int:
        """Discard writes into ``bucket`` that were started more than ``older_than`` seconds
        ago and never completed nor aborted — a crashed process's partial files, an S3
        store's unfinished multipart uploads — except those whose key is in ``keep``.
        Returns how many were removed."""

    @property
    def presigned_origin(self) -> str | None:
        """The origin (``scheme://host:port``) of the URLs ``presigned_url`` hands out, when
        it hands any out: a page that shows them lists it in its Content-Security-Policy."""
        return None

    async def presigned_url(
        self,
        bucket: str,
        key: str,
        *,
        signed_at: float,
        expires_at: float,
        headers: Mapping[str, str],
    ) -> str | None:
        """A URL that downloads the blob without credentials, signed as of ``signed_at`` and
        valid until ``expires_at`` (Unix times: the same arguments give the same URL, byte for
        byte), whose answer carries ``headers`` (of ``PRESIGNED_HEADERS``: the store says them
        in place of its own), or ``None`` if the store can't make one (the service then signs
        a URL of its own). Not abstract: only remote stores have this. ``ValueError`` for a
        lifetime outside 1 second to 7 days or another header."""
        return None

    async def set_public(
        self, bucket: str, key: str, public: bool, headers: Mapping[str, str] | None = None
    ) -> str | None:
        """Make the blob ``bucket/key`` readable without credentials (``public``), or no longer
        so. Returns the URL it can then be fetched at when the store serves it directly, else
        ``None``. Idempotent either way. ``headers``: the ``Content-Type`` and
        ``Content-Disposition`` the store should answer with when it serves the public copy
        (ignored by stores that serve nothing themselves). Not abstract: the default does
        nothing and returns ``None`` — the filesystem store's case, where the service serves
        public assets itself (which it does for every store)."""
        return None

    @property
    def local_root(self) -> Path | None:
        """A capability: the directory in which every complete blob is the file
        ``{local_root}/{bucket}/{key}``, so that a web server in front can send it itself
        (``X-Accel-Redirect``). ``None``, the default, for stores whose blobs are not local
        files."""
        return None

    @abc.abstractmethod
    def local_file(self, bucket: str, key: str) -> AbstractAsyncContextManager[Path]:
        """A local path holding the blob's bytes for the duration of the block, for inspectors
        that need a file (Pillow, ffprobe). The filesystem store yields the blob itself; remote
        stores download to a temporary file and remove it afterwards. Read-only use only."""
