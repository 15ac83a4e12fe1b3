"""The upload actor: owns every upload in flight.

An upload is a session. The caller gets an ``UploadHandle`` and sends body chunks over the
session's bounded channel (backpressure: memory stays constant whatever the size); a session
task streams them into the temp bucket, hashing and counting as they pass. The last item on the
channel is a ``CommitUpload`` carrying the reply channel; if the channel closes without one, the
upload is abandoned. Whatever happens — error, abort, cancellation — the temp blob is removed
before the caller hears back, so a 4xx answer never leaves anything behind.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import outcome
import trio

from ._actor import Reply, answer, ask
from .blobstore import BlobStore
from .errors import (
    AssetServiceError,
    EngineStopped,
    InvalidInput,
    PayloadTooLarge,
    UnsupportedContent,
)
from .events import Event, EventHub, created_event
from .fields import NewAssetFields
from .inspection import SNIFF_BYTES, ContentInspector, Description, Detected
from .model import TEMP_BUCKET, Principal, Version, utc_now

logger = logging.getLogger(__name__)

#: chunks queued between the HTTP handler and the session task (each up to ~1 MiB)
CHUNK_QUEUE = 4
PROGRESS_INTERVAL = 0.25
#: how long a finished upload's progress can still be asked for, and how many are remembered
RECENT_SECONDS = 600.0
RECENT_MAX = 4096
#: below this, hashing on the event loop is cheaper than a thread hop
_HASH_INLINE_BELOW = 64 * 1024


@dataclass(frozen=True, slots=True)
class UploadSpec:
    principal: Principal
    filename: str
    max_bytes: int
    #: the asset type the client asked for (``type`` field, the audio-library route…)
    declared_type: str | None = None
    #: an existing asset this upload becomes a new version of
    target_asset_id: str | None = None
    #: the total the client announced, for progress (``None`` if unknown)
    expected_bytes: int | None = None
    #: the name progress is reported under — the client may choose it (``X-Upload-Id``), so
    #: it is only a label within the customer, never a storage key
    upload_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: the bytes are a resumable upload's stored parts, replayed for its commit: they were
    #: counted and reported as they arrived, so this session reports only its outcome
    replay: bool = False


@dataclass(slots=True)
class StagedContent:
    """A complete, inspected upload sitting in the temp bucket, ready to be promoted."""

    upload_id: str
    temp_key: str
    size: int
    checksum: str
    detected: Detected
    description: Description
    original_filename: str

    def as_version(self, number: int, key: str) -> Version:
        """This content as version ``number`` stored under ``key``."""
        return Version(
            version=number,
            created_at=utc_now(),
            size=self.size,
            storage_key=key,
            checksum=self.checksum,
            mime_type=self.detected.mime_type,
            original_filename=self.original_filename,
            duration=self.description.duration,
            dimensions=self.description.dimensions,
            extracted={"format": self.detected.format, **self.description.extracted},
        )


@dataclass(slots=True)
class UploadTotals:
    """Every upload session of this process added up (for ``/metrics``)."""

    #: bytes received from clients, whether the upload was then kept or not
    received_bytes: int = 0
    committed: int = 0
    committed_bytes: int = 0
    failed: int = 0
    aborted: int = 0


@dataclass(slots=True)
class UploadProgress:
    upload_id: str
    customer_id: str
    received_bytes: int = 0
    total_bytes: int | None = None
    state: str = "receiving"  # receiving | committing | committed | failed | aborted
    asset_id: str | None = None
    #: who uploads: progress is for them and the customer's admins
    user_id: str | None = None
    #: why the upload failed, when it did
    error: str | None = None


# --- messages ---------------------------------------------------------------------------


@dataclass(slots=True)
class BeginUpload:
    spec: UploadSpec
    reply: Reply


@dataclass(slots=True)
class CommitUpload:
    """Last item on a session's chunk channel."""

    fields: NewAssetFields | None
    reply: Reply
    #: the asset type the client asked for, when it is only known at the end of the body
    declared_type: str | None = None


#: given staged content and the commit's fields, promote it and return the asset
Promoter = Callable[[UploadSpec, StagedContent, NewAssetFields | None], Awaitable[Any]]


class UploadHandle:
    """The caller's end of an upload session. Use as an async context manager: leaving the
    block without ``commit`` aborts the upload and waits until its temp blob is gone."""

    def __init__(self, session: _Session, chunks: trio.MemorySendChannel[Any]) -> None:
        self._session = session
        self._chunks = chunks

    @property
    def upload_id(self) -> str:
        return self._session.spec.upload_id

    async def write(self, data: bytes) -> None:
        try:
            await self._chunks.send(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise self._session.failure_or_stopped() from None

    async def commit(
        self, fields: NewAssetFields | None = None, *, declared_type: str | None = None
    ) -> Any:
        """Finish the upload and promote it; returns the asset."""
        try:
            return await ask(self._chunks, lambda reply: CommitUpload(fields, reply, declared_type))
        except EngineStopped:
            raise self._session.failure_or_stopped() from None
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        self._chunks.close()
        with trio.move_on_after(30, shield=True):
            await self._session.finished.wait()

    async def __aenter__(self) -> UploadHandle:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _Session:
    def __init__(self, spec: UploadSpec) -> None:
        self.spec = spec
        #: the temp blob's key: ours alone, whatever the client calls its upload
        self.temp_key = uuid.uuid4().hex
        self.progress = UploadProgress(
            spec.upload_id,
            spec.principal.customer_id,
            total_bytes=spec.expected_bytes,
            user_id=spec.principal.user_id,
        )
        self.failure: AssetServiceError | None = None
        self.finished = trio.Event()
        self.hasher = hashlib.sha256()
        self.head = bytearray()
        self.last_progress = -PROGRESS_INTERVAL

    def failure_or_stopped(self) -> AssetServiceError:
        return self.failure or EngineStopped("the upload was abandoned")


def _queued_commit(chunks: trio.MemoryReceiveChannel[Any]) -> CommitUpload | None:
    while True:
        try:
            item = chunks.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel):
            return None
        if isinstance(item, CommitUpload):
            return item


class UploadActor:
    def __init__(
        self,
        store: BlobStore,
        inspector: ContentInspector,
        hub: EventHub,
        promote: Promoter,
    ) -> None:
        self._store = store
        self._inspector = inspector
        self._hub = hub
        self._promote = promote
        #: by temp key
        self.sessions: dict[str, _Session] = {}
        #: by (customer_id, upload_id): what progress queries look up
        self._labels: dict[tuple[str, str], _Session] = {}
        #: finished uploads' last progress, by label, with when to forget it
        self._recent: dict[tuple[str, str], tuple[UploadProgress, float]] = {}
        self.totals = UploadTotals()

    def in_flight(self) -> set[str]:
        """Temp keys of the uploads being received or committed right now (the cleanup actor
        skips them)."""
        return set(self.sessions)

    def progress(self, customer_id: str, upload_id: str) -> UploadProgress | None:
        """An upload's progress while it runs."""
        session = self._labels.get((customer_id, upload_id))
        return session.progress if session else None

    def recent_progress(self, customer_id: str, upload_id: str) -> UploadProgress | None:
        """An upload's progress while it runs, and for ``RECENT_SECONDS`` after it ended."""
        label = (customer_id, upload_id)
        session = self._labels.get(label)
        if session is not None:
            return session.progress
        recent = self._recent.get(label)
        if recent is None:
            return None
        if recent[1] < trio.current_time():
            del self._recent[label]
            return None
        return recent[0]

    def _remember(self, label: tuple[str, str], progress: UploadProgress) -> None:
        self._recent.pop(label, None)
        self._recent[label] = (progress, trio.current_time() + RECENT_SECONDS)
        now = trio.current_time()
        while self._recent:
            oldest = next(iter(self._recent))
            if len(self._recent) <= RECENT_MAX and self._recent[oldest][1] >= now:
                break
            del self._recent[oldest]

    async def run(
        self,
        mailbox: trio.MemoryReceiveChannel[Any],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with mailbox, trio.open_nursery() as nursery:
            task_status.started()
            async for message in mailbox:
                match message:
                    case BeginUpload(spec=spec, reply=reply):
                        answer(reply, outcome.capture(self._begin, nursery, spec))
                    case _:
                        logger.error("upload actor: unexpected message %r", message)

    def _begin(self, nursery: trio.Nursery, spec: UploadSpec) -> UploadHandle:
        label = (spec.principal.customer_id, spec.upload_id)
        if label in self._labels:
            raise InvalidInput("an upload with this id is already in progress")
        session = _Session(spec)
        chunks_send, chunks_receive = trio.open_memory_channel[Any](CHUNK_QUEUE)
        self.sessions[session.temp_key] = session
        self._labels[label] = session
        nursery.start_soon(self._run_session, session, chunks_receive)
        return UploadHandle(session, chunks_send)

    async def _run_session(self, session: _Session, chunks: trio.MemoryReceiveChannel[Any]) -> None:
        spec = session.spec
        commit: CommitUpload | None = None
        result: outcome.Outcome[Any] | None = None
        writer = None
        try:
            async with chunks:
                # The failure is recorded before the channel closes, so a writer woken by the
                # closed channel finds the reason waiting for it.
                try:
                    writer = await self._store.open_writer(TEMP_BUCKET, session.temp_key)
                    async for item in chunks:
                        if isinstance(item, CommitUpload):
                            commit = item
                            break
                        await self._receive(session, writer, item)
                    if commit is not None:
                        session.progress.state = "committing"
                        # The total announced for a multipart body was its length, framing
                        # included: from here on it is the file's size, so that ``committed``
                        # means received == total, both in file bytes.
                        session.progress.total_bytes = session.progress.received_bytes
                        self._publish_progress(session, force=True)
                        await writer.complete()
                        writer = None
                        result = outcome.Value(await self._commit(session, commit))
                except AssetServiceError as error:
                    session.failure = error
                    result = outcome.Error(error)
                except Exception:
                    # A bug or a backend failure: this caller gets an error, the actor keeps
                    # serving.
                    logger.exception("upload %s failed", spec.upload_id)
                    session.failure = AssetServiceError("the upload could not be stored")
                    result = outcome.Error(session.failure)
                if commit is None:
                    # The caller may have queued its commit behind the chunk that failed:
                    # closing the channel would drop it unanswered and leave the caller
                    # waiting for good.
                    commit = _queued_commit(chunks)
        finally:
            try:
                with trio.move_on_after(30, shield=True):
                    if writer is not None:
                        await writer.abort()
                    # The promoter moved the temp blob away on success; anything left is
                    # garbage.
                    await self._store.delete(TEMP_BUCKET, session.temp_key)
            except Exception:
                # The cleanup actor removes what is left once the TTL passes; the caller must
                # still hear back, and the actor must live on.
                logger.exception("upload %s: could not remove its temp blob", spec.upload_id)
            finally:
                self._finish(session, commit, result)

    def _finish(
        self,
        session: _Session,
        commit: CommitUpload | None,
        result: outcome.Outcome[Any] | None,
    ) -> None:
        spec = session.spec
        committed = isinstance(result, outcome.Value)
        session.progress.state = "committed" if committed else "failed" if result else "aborted"
        self._count(session.progress)
        if committed:
            session.progress.asset_id = getattr(result.value, "asset_id", None)
        elif session.failure is not None:
            session.progress.error = session.failure.reason
        self._publish_progress(session, force=True)
        if committed and spec.target_asset_id is None:
            self._hub.publish(created_event(result.value))
        self.sessions.pop(session.temp_key, None)
        label = (spec.principal.customer_id, spec.upload_id)
        self._labels.pop(label, None)
        self._remember(label, session.progress)
        session.finished.set()
        if commit is not None:
            answer(commit.reply, result or outcome.Error(session.failure_or_stopped()))

    def _count(self, progress: UploadProgress) -> None:
        if progress.state == "committed":
            self.totals.committed += 1
            self.totals.committed_bytes += progress.received_bytes
        elif progress.state == "failed":
            self.totals.failed += 1
        else:
            self.totals.aborted += 1

    async def _receive(self, session: _Session, writer: Any, data: bytes) -> None:
        progress = session.progress
        progress.received_bytes += len(data)
        if not session.spec.replay:
            self.totals.received_bytes += len(data)
        if progress.received_bytes > session.spec.max_bytes:
            raise PayloadTooLarge(f"the upload is larger than {session.spec.max_bytes} bytes")
        if len(session.head) < SNIFF_BYTES:
            session.head += data[: SNIFF_BYTES - len(session.head)]
        if len(data) < _HASH_INLINE_BELOW:
            session.hasher.update(data)
        else:
            # hashlib releases the GIL on large buffers: hash in a thread, not on the loop.
            await trio.to_thread.run_sync(session.hasher.update, data)
        await writer.write(data)
        self._publish_progress(session)

    def _publish_progress(self, session: _Session, *, force: bool = False) -> None:
        if session.spec.replay and session.progress.state in ("receiving", "committing"):
            return  # the resumable upload reported these as its bytes arrived
        now = trio.current_time()
        if not force and now - session.last_progress < PROGRESS_INTERVAL:
            return
        session.last_progress = now
        progress = session.progress
        self._hub.publish(
            Event(
                "upload.progress",
                progress.customer_id,
                {
                    "upload_id": progress.upload_id,
                    "received_bytes": progress.received_bytes,
                    "total_bytes": progress.total_bytes,
                    "state": progress.state,
                    "asset_id": progress.asset_id,
                },
                owner=progress.user_id,
            )
        )

    async def _commit(self, session: _Session, commit: CommitUpload) -> Any:
        staged = await self._stage(session, commit.declared_type or session.spec.declared_type)
        return await self._promote(session.spec, staged, commit.fields)

    async def _stage(self, session: _Session, declared_type: str | None) -> StagedContent:
        """Decide from the bytes what this is, validate it and describe it."""
        spec = session.spec
        size = session.progress.received_bytes
        if size == 0:
            raise InvalidInput("the file is empty")
        detected = self._inspector.sniff(bytes(session.head), spec.filename)
        if detected is None:
            raise UnsupportedContent("the file's content is of no type this service stores")
        if declared_type is not None and declared_type != detected.type:
            raise UnsupportedContent(
                f"expected {declared_type} content, but the bytes are "
                f"{detected.type} ({detected.mime_type})"
            )
        asset_type = self._inspector.asset_types().get(detected.type)
        if asset_type is None:
            raise UnsupportedContent(f"{detected.type} assets are not enabled here")
        if asset_type.max_size is not None and size > asset_type.max_size:
            raise PayloadTooLarge(
                f"{detected.type} files may be at most {asset_type.max_size} bytes"
            )
        async with self._store.local_file(TEMP_BUCKET, session.temp_key) as path:
            await trio.to_thread.run_sync(self._inspector.validate, path, detected)
            description = await trio.to_thread.run_sync(self._inspector.describe, path, detected)
        return StagedContent(
            upload_id=spec.upload_id,
            temp_key=session.temp_key,
            size=size,
            checksum=session.hasher.hexdigest(),
            detected=detected,
            description=description,
            original_filename=spec.filename,
        )
