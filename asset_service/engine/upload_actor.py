"""The upload actor: receives every upload's bytes into the blob store and stages them.

``BeginUpload`` opens a session and answers with its ``UploadHandle``; the caller writes chunks
over the session's bounded channel (constant memory whatever the size) and ends with
``CommitUpload``. The session task hashes, counts and sniffs the bytes as they pass, validates and
describes the content, then hands it down to the versioning actor (``CreateAsset`` or
``AddVersion``). Whatever happens, the temp blob is gone before the caller hears back.

Where the bytes go (``_route``): on a store whose blobs are local files, into the temp bucket,
inspected there. On any other store (S3) they are also spooled to a local file as they arrive
(``spool.py``), which inspection reads; a new asset's bytes go straight to its final key
``{customer}/{asset_id}/v1`` (decided from the first ``SNIFF_BYTES``), completed only once
inspection passed and aborted otherwise; a new version's go to the temp bucket.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import outcome
import trio

from .actor import Envelope, Inbox, Mailbox, Request, ask
from .blobstore import BlobWriter
from .dependencies import EngineDeps
from .errors import (
    AssetServiceError,
    EngineStopped,
    InvalidInput,
    PayloadTooLarge,
    UnsupportedContent,
)
from .events import Event, created_event
from .fields import NewAssetFields
from .inspection import SNIFF_BYTES, ContentInspector, Description, Detected
from .memory import release_freed_memory
from .model import TEMP_BUCKET, Asset, Principal, new_asset_id, storage_key
from .spool import Spool, sweep_spool
from .versioning_actor import AddVersion, CreateAsset, StagedContent

logger = logging.getLogger(__name__)

#: chunks queued between the HTTP handler and the session task (each up to ~1 MiB)
CHUNK_QUEUE = 4
PROGRESS_INTERVAL = 0.25
#: how long a finished upload's progress can still be asked for, and how many are remembered
RECENT_SECONDS = 600.0
RECENT_MAX = 4096
#: how long an upload's caller waits for its outcome to be in the event log (where the other
#: instances read it) before hearing back anyway
LOGGED_WAIT = 5.0
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
    #: the id a new asset gets (a tus commit fixes it beforehand, so that a commit taken over
    #: after a crash finds the asset its first attempt made); ``None``: a fresh one. A fixed
    #: id's bytes go through the temp bucket, never straight to its key: an earlier attempt's
    #: blob may be there already
    asset_id: str | None = None


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


@dataclass(frozen=True, slots=True)
class BeginUpload(Request["UploadHandle"]):
    """Open a session; answered with the caller's end of it."""

    spec: UploadSpec


@dataclass(frozen=True, slots=True)
class CommitUpload(Request[Asset]):
    """Last item on a session's chunk channel; answered with the new asset (or the asset with
    its new version)."""

    fields: NewAssetFields | None
    #: the asset type the client asked for, when it is only known at the end of the body
    declared_type: str | None = None


#: what a session's chunk channel carries: the body's chunks, then the commit
Chunk = bytes | Envelope[Asset]


class UploadHandle:
    """The caller's end of an upload session. Use as an async context manager: leaving the
    block without ``commit`` aborts the upload and waits until its temp blob is gone."""

    def __init__(self, session: _Session, chunks: trio.MemorySendChannel[Chunk]) -> None:
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
    ) -> Asset:
        """Finish the upload and promote it; returns the asset."""
        try:
            asset = await ask(self._chunks, CommitUpload(fields, declared_type))
        except EngineStopped:
            raise self._session.failure_or_stopped() from None
        except AssetServiceError:
            await self._outcome_logged()
            raise
        finally:
            await self.aclose()
        await self._outcome_logged()
        return asset

    async def _outcome_logged(self) -> None:
        """Until the upload's last event is in the event log (bounded): once the caller has
        the answer, every instance can read the upload's outcome."""
        last = self._session.last_event
        if last is not None:
            with trio.move_on_after(LOGGED_WAIT):
                await last.logged.wait()

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
        #: the last event published about this upload (its outcome, once it finished)
        self.last_event: Event | None = None
        #: where the bytes are written, once ``_route`` decided (``None`` before, or when they
        #: are of no type this service stores and only the spool gets them)
        self.writer: BlobWriter | None = None
        self.routed = False
        #: bytes received before the route was decided (at most ``SNIFF_BYTES`` + one chunk)
        self.unsent = bytearray()
        #: the local copy inspection reads, on stores whose blobs are not local files
        self.spool: Spool | None = None
        #: a new asset's id and final ``(bucket, key)`` when its bytes go straight there
        self.asset_id = spec.asset_id
        self.placed: tuple[str, str] | None = None
        #: what ``sniff`` said of ``head`` (or the error it raised), once asked: the route and
        #: the commit both need it, and a plugin's hook is called once per upload
        self.sniffed: tuple[Detected | None, AssetServiceError | None] | None = None
        #: the placed blob was completed / handed to the versioning actor, which then owns it
        self.completed = False
        self.handed_over = False

    def failure_or_stopped(self) -> AssetServiceError:
        return self.failure or EngineStopped("the upload was abandoned")


def _queued_commit(chunks: trio.MemoryReceiveChannel[Chunk]) -> Envelope[Asset] | None:
    while True:
        try:
            item = chunks.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel):
            return None
        if isinstance(item, Envelope):
            return item


class UploadActor:
    def __init__(self, deps: EngineDeps) -> None:
        self._store = deps.store
        self._inspector = deps.inspector
        self._hub = deps.hub
        self._in_flight = deps.in_flight
        #: heavy inspections' own limiter: a few at once, not Trio's default 40 threads
        self._heavy_limiter = deps.heavy_limiter
        #: stores whose blobs are not local files get a local spool for inspection
        self._spooled = deps.store.local_root is None
        self._spool_dir = deps.spool_dir
        self._spool_limiter = deps.spool_limiter
        self._temp_ttl = deps.config.temp_ttl
        #: where staged content goes: the versioning actor's mailbox (set by ``run``)
        self._records: Mailbox | None = None
        #: by temp key
        self.sessions: dict[str, _Session] = {}
        #: by (customer_id, upload_id): what progress queries look up
        self._labels: dict[tuple[str, str], _Session] = {}
        #: finished uploads' last progress, by label, with when to forget it
        self._recent: dict[tuple[str, str], tuple[UploadProgress, float]] = {}
        self.totals = UploadTotals()

    def in_flight(self) -> set[str]:
        """Temp keys of the uploads being received or committed right now."""
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
        inbox: Inbox,
        records: Mailbox,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve ``inbox``; committed sessions hand their content to ``records`` (the
        versioning actor's mailbox: this actor owns and closes this end of it)."""
        async with inbox, records, trio.open_nursery() as nursery:
            self._records = records
            if self._spooled:
                # What a crashed process spooled (by age: workers share the directory).
                await sweep_spool(self._spool_dir, self._temp_ttl, limiter=self._spool_limiter)
            task_status.started()
            async for envelope in inbox:
                match envelope.request:
                    case BeginUpload(spec=spec):
                        envelope.answer_now(lambda: self._begin(nursery, spec))
                    case request:
                        logger.error("upload actor: unexpected request %r", request)
                        envelope.answer(outcome.Error(TypeError(f"not a request: {request!r}")))

    def _begin(self, nursery: trio.Nursery, spec: UploadSpec) -> UploadHandle:
        label = (spec.principal.customer_id, spec.upload_id)
        if label in self._labels:
            raise InvalidInput("an upload with this id is already in progress")
        session = _Session(spec)
        chunks_send, chunks_receive = trio.open_memory_channel[Chunk](CHUNK_QUEUE)
        self.sessions[session.temp_key] = session
        self._in_flight.temp_blobs.enter(session.temp_key)
        self._labels[label] = session
        nursery.start_soon(self._run_session, session, chunks_receive)
        return UploadHandle(session, chunks_send)

    async def _run_session(
        self, session: _Session, chunks: trio.MemoryReceiveChannel[Chunk]
    ) -> None:
        spec = session.spec
        commit: Envelope[Asset] | None = None
        result: outcome.Outcome[Asset] | None = None
        try:
            async with chunks:
                # The failure is recorded before the channel closes, so a writer woken by the
                # closed channel finds the reason waiting for it.
                try:
                    if self._spooled:
                        session.spool = await Spool.create(
                            self._spool_dir, session.temp_key, self._spool_limiter
                        )
                    else:
                        await self._route(session)
                    async for item in chunks:
                        if isinstance(item, Envelope):
                            commit = item
                            break
                        await self._receive(session, item)
                    if commit is not None:
                        session.progress.state = "committing"
                        # The total announced for a multipart body was its length, framing
                        # included: from here on it is the file's size, so that ``committed``
                        # means received == total, both in file bytes.
                        session.progress.total_bytes = session.progress.received_bytes
                        self._publish_progress(session, force=True)
                        if not session.routed:
                            await self._route(session)
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
                    await self._clean_up(session, succeeded=isinstance(result, outcome.Value))
            except Exception:
                # The cleanup actor removes what is left once the TTL passes; the caller must
                # still hear back, and the actor must live on.
                logger.exception("upload %s: could not remove its temp blob", spec.upload_id)
            finally:
                if session.placed is not None and session.asset_id is not None:
                    self._in_flight.assets.leave(session.asset_id)
                self._finish(session, commit, result)

    async def _clean_up(self, session: _Session, *, succeeded: bool) -> None:
        """What the session leaves: an unfinished write aborted (a multipart upload at a new
        asset's final key too: nothing is left there), a placed blob the versioning actor never
        got removed, the temp blob (moved away on success) and the spool deleted."""
        try:
            if session.writer is not None and not session.completed:
                await session.writer.abort()
            if session.placed is not None:
                if session.completed and not session.handed_over and not succeeded:
                    await self._store.delete(*session.placed)
            elif session.writer is not None:
                # The versioning actor moved the temp blob away on success; anything left is
                # garbage.
                await self._store.delete(TEMP_BUCKET, session.temp_key)
        finally:
            if session.spool is not None:
                await session.spool.remove()

    async def _route(self, session: _Session) -> None:
        """Decide where the bytes go and open the writer there. A new asset on a spooled store
        goes straight to its final key — the bucket of the type its first bytes show, under a
        new asset id — and content of no type stored here nowhere but the spool (the commit
        then rejects it). Anything else goes to the temp bucket: a new version (its number is
        reserved at commit), and a new asset whose id the caller fixed (a tus commit taken
        over: the first attempt's blob may be at that key already, and must not be replaced
        before the versioning actor has compared the content)."""
        session.routed = True
        spec = session.spec
        bucket, key = TEMP_BUCKET, session.temp_key
        if self._spooled and spec.target_asset_id is None and spec.asset_id is None:
            try:
                detected = self._sniff(session)
            except AssetServiceError:
                detected = None
            asset_type = self._inspector.asset_types().get(detected.type) if detected else None
            if asset_type is None:
                return
            session.asset_id = new_asset_id()
            bucket = asset_type.bucket
            key = storage_key(spec.principal.customer_id, session.asset_id, 1)
            # The orphan sweep leaves the asset alone while its blob has no record yet.
            self._in_flight.assets.enter(session.asset_id)
            session.placed = (bucket, key)
        session.writer = await self._store.open_writer(bucket, key)
        if session.unsent:
            unsent, session.unsent = bytes(session.unsent), bytearray()
            await session.writer.write(unsent)

    def _finish(
        self,
        session: _Session,
        commit: Envelope[Asset] | None,
        result: outcome.Outcome[Asset] | None,
    ) -> None:
        spec = session.spec
        asset = result.value if isinstance(result, outcome.Value) else None
        session.progress.state = (
            "committed" if asset is not None else "failed" if result else "aborted"
        )
        self._count(session.progress)
        if asset is not None:
            session.progress.asset_id = asset.asset_id
        elif session.failure is not None:
            session.progress.error = session.failure.reason
        self._publish_progress(session, force=True)
        if asset is not None and spec.target_asset_id is None:
            session.last_event = created_event(asset)
            self._hub.publish(session.last_event)
        self.sessions.pop(session.temp_key, None)
        self._in_flight.temp_blobs.leave(session.temp_key)
        label = (spec.principal.customer_id, spec.upload_id)
        self._labels.pop(label, None)
        self._remember(label, session.progress)
        session.finished.set()
        if commit is not None:
            commit.answer(result or outcome.Error(session.failure_or_stopped()))

    def _count(self, progress: UploadProgress) -> None:
        if progress.state == "committed":
            self.totals.committed += 1
            self.totals.committed_bytes += progress.received_bytes
        elif progress.state == "failed":
            self.totals.failed += 1
        else:
            self.totals.aborted += 1

    async def _receive(self, session: _Session, data: bytes) -> None:
        progress = session.progress
        progress.received_bytes += len(data)
        if not session.spec.replay:
            self.totals.received_bytes += len(data)
        if progress.received_bytes > session.spec.max_bytes:
            raise PayloadTooLarge(f"the upload is larger than {session.spec.max_bytes} bytes")
        if len(session.head) < SNIFF_BYTES:
            session.head += data[: SNIFF_BYTES - len(session.head)]
        if session.spool is not None:
            await session.spool.write(data, session.hasher)  # hashed in the same thread
        elif len(data) < _HASH_INLINE_BELOW:
            session.hasher.update(data)
        else:
            # hashlib releases the GIL on large buffers: hash in a thread, not on the loop.
            await trio.to_thread.run_sync(session.hasher.update, data)
        if session.writer is not None:
            await session.writer.write(data)
        elif not session.routed:
            session.unsent += data
            if len(session.head) >= SNIFF_BYTES:
                await self._route(session)
        self._publish_progress(session)

    def _publish_progress(self, session: _Session, *, force: bool = False) -> None:
        if session.spec.replay and session.progress.state in ("receiving", "committing"):
            return  # the resumable upload reported these as its bytes arrived
        now = trio.current_time()
        if not force and now - session.last_progress < PROGRESS_INTERVAL:
            return
        session.last_progress = now
        progress = session.progress
        session.last_event = Event(
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
        self._hub.publish(session.last_event)

    async def _commit(self, session: _Session, commit: Envelope[Asset]) -> Asset:
        """Stage the content, then hand it down to the versioning actor: a new asset, or a new
        version of the target."""
        request = commit.request
        assert isinstance(request, CommitUpload)
        spec = session.spec
        writer = session.writer
        if session.spool is None and writer is not None:
            # Inspected where it lies: the temp blob, a local file.
            await writer.complete()
            session.completed = True
        staged = await self._stage(session, request.declared_type or spec.declared_type)
        if session.spool is not None and writer is not None:
            # Inspection passed: only now does the blob become visible.
            await writer.complete()
            session.completed = True
        if self._records is None:
            raise EngineStopped("the engine is not running")
        session.handed_over = True
        if spec.target_asset_id is not None:
            return await ask(
                self._records, AddVersion(spec.target_asset_id, spec.principal, staged)
            )
        return await ask(
            self._records,
            CreateAsset(
                spec.principal,
                staged,
                request.fields or NewAssetFields(),
                asset_id=session.asset_id,
            ),
        )

    def _sniff(self, session: _Session) -> Detected | None:
        """``sniff`` of the upload's first bytes, asked once (``head`` is complete by then)."""
        if session.sniffed is None:
            try:
                session.sniffed = (
                    self._inspector.sniff(bytes(session.head), session.spec.filename),
                    None,
                )
            except AssetServiceError as error:
                session.sniffed = (None, error)
        detected, error = session.sniffed
        if error is not None:
            raise error
        return detected

    async def _stage(self, session: _Session, declared_type: str | None) -> StagedContent:
        """Decide from the bytes what this is, validate it and describe it."""
        spec = session.spec
        size = session.progress.received_bytes
        if size == 0:
            raise InvalidInput("the file is empty")
        detected = self._sniff(session)
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
        if session.spool is not None:
            # The local copy taken while the bytes arrived: the object is never read back.
            description = await self._describe(await session.spool.finish(), detected)
        else:
            async with self._store.local_file(TEMP_BUCKET, session.temp_key) as path:
                description = await self._describe(path, detected)
        if session.spool is not None and session.writer is None:
            # Only content of no stored type goes nowhere, and sniffing rejected it above.
            raise AssetServiceError("the upload could not be stored")
        return StagedContent(
            upload_id=spec.upload_id,
            temp_key=session.temp_key,
            size=size,
            checksum=session.hasher.hexdigest(),
            detected=detected,
            description=description,
            original_filename=spec.filename,
            placed=session.placed,
        )

    async def _describe(self, path: Path, detected: Detected) -> Description:
        return await trio.to_thread.run_sync(
            _inspect,
            self._inspector,
            path,
            detected,
            limiter=self._heavy_limiter if detected.heavy else None,
        )


def _inspect(inspector: ContentInspector, path: Path, detected: Detected) -> Description:
    """Validate, then describe (in a worker thread). After a heavy inspection the memory it
    freed (an image's decoded pixels) is handed back to the system, not kept in the thread's
    malloc arena."""
    try:
        inspector.validate(path, detected)
        return inspector.describe(path, detected)
    finally:
        if detected.heavy:
            release_freed_memory()
