"""Resumable uploads (tus 1.0): sessions that any instance can continue.

A session is a catalog record (``model.UploadSession``: who started it, its length and offset,
the parts received so far, its state) plus its bytes, stored as parts in the temp bucket — one
blob per request that brought bytes, at ``tus/{upload_id}/{offset}-{nonce}``. Nothing about a
session lives in memory between requests, so each request may reach another instance.

Appending streams the request body into a new part (constant memory: the blob writer's
backpressure), then advances the record by compare-and-set on its revision: of two instances
appending at the same offset, one wins and the other removes its part and answers 409. A body
that breaks off (the client went away, or stalled) keeps what arrived — unless the request
announced a checksum, which the partial bytes can't be checked against — so the client resumes
from there.

When the offset reaches the length, the instance that takes the commit (state ``committing``,
again by compare-and-set) replays the parts, in order, into an ordinary session of the upload
actor: the same pipeline as a multipart upload — sha256 and size counted as the bytes pass, the
type sniffed from the head, validation, extraction, promotion, ``asset.created``. The replay
reads the content once more and writes it once more (the temp blob the actor promotes); that is
the price of a whole-content sha256 when the parts arrived at different instances (a hash's
running state can't be stored), and it needs nothing of the blob store but writing, reading and
deleting blobs, so it works on every store as it is. (The cheaper S3 path: compose the parts
server-side — a multipart upload of ``UploadPartCopy`` parts, small parts merged first since S3
wants 5 MiB parts but the last — then hash one download of the result.)

tus concatenation (``engine.tus_concatenation``): a partial upload is a session that is never
committed by itself; a final upload claims complete partials and replays their parts, in order,
through the same commit. Every request that continues or ends a session is authorised with the
token it brings (``get_writable``), and a customer has at most ``max_open`` sessions open.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import outcome
import trio

from . import policy
from .actor import Mailbox, ask
from .dependencies import EngineDeps
from .errors import (
    ChecksumMismatch,
    Conflict,
    EngineStopped,
    Forbidden,
    Gone,
    InvalidInput,
    NotFound,
    OffsetMismatch,
    PayloadTooLarge,
    TooManyUploads,
    UnprocessableContent,
    UnsupportedContent,
)
from .events import Event
from .fields import NewAssetFields
from .model import (
    TEMP_BUCKET,
    Asset,
    Principal,
    UploadPart,
    UploadSession,
    UploadState,
    Visibility,
    utc_now,
)
from .tus_concatenation import (
    FINAL,
    PARTIAL,
    claim_partials,
    claimed_partials,
    release_partials,
)
from .upload_actor import BeginUpload, UploadSpec, UploadTotals

logger = logging.getLogger(__name__)

PART_PREFIX = "tus/"
#: parts one upload may have (the record lists them all; S3 multipart has the same limit)
MAX_PARTS = 10_000
#: how long a commit may run before another instance may take it over (its instance died)
COMMIT_LEASE = 1800.0
PROGRESS_INTERVAL = 0.25
#: below this, hashing on the event loop is cheaper than a thread hop
_HASH_INLINE_BELOW = 64 * 1024
#: errors that mean the content itself was refused: the upload fails for good
_REFUSALS = (InvalidInput, UnsupportedContent, UnprocessableContent, PayloadTooLarge, Forbidden)

CHECKSUM_ALGORITHMS: dict[str, Callable[[], Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
}


def parts_prefix(upload_id: str) -> str:
    return f"{PART_PREFIX}{upload_id}/"


def part_key(upload_id: str, offset: int, nonce: str) -> str:
    return f"{parts_prefix(upload_id)}{offset:015d}-{nonce}"


def session_of_part(key: str) -> str | None:
    """The upload id a temp key belongs to, if it is a part."""
    if not key.startswith(PART_PREFIX):
        return None
    upload_id, _, _ = key[len(PART_PREFIX) :].partition("/")
    return upload_id or None


def part_keys(session: UploadSession) -> list[str]:
    keys, offset = [], 0
    for part in session.parts:
        keys.append(part_key(session.upload_id, offset, part.nonce))
        offset += part.size
    return keys


@dataclass(frozen=True, slots=True)
class Checksum:
    """What ``Upload-Checksum`` announced for one request's bytes."""

    algorithm: str
    digest: bytes


@dataclass(frozen=True, slots=True)
class NewUpload:
    principal: Principal
    #: ``None``: the client defers it (tus creation-defer-length)
    length: int | None
    fields: NewAssetFields
    filename: str
    declared_type: str | None = None
    #: the ``Upload-Metadata`` header, as sent
    metadata: str = ""
    #: tus concatenation: ``"partial"``, ``"final"`` (see ``engine.tus_concatenation``) or None
    concat: str | None = None
    #: a final upload's partial uploads, in order
    partials: tuple[str, ...] = ()


def fields_document(fields: NewAssetFields) -> dict[str, Any]:
    return {
        "name": fields.name,
        "title": fields.title,
        "description": fields.description,
        "tags": list(fields.tags),
        "folder": fields.folder,
        "category": fields.category,
        "custom": dict(fields.custom),
        "visibility": fields.visibility.value,
    }


def fields_from_document(doc: dict[str, Any]) -> NewAssetFields:
    return NewAssetFields(
        name=doc.get("name"),
        title=doc.get("title"),
        description=doc.get("description"),
        tags=tuple(doc.get("tags") or ()),
        folder=doc.get("folder") or "/",
        category=doc.get("category"),
        custom=dict(doc.get("custom") or {}),
        visibility=Visibility(doc.get("visibility") or Visibility.CUSTOMER),
    )


class ResumableUploads:
    def __init__(self, deps: EngineDeps, totals: UploadTotals) -> None:
        self._store = deps.store
        self._catalog = deps.catalog
        self._hub = deps.hub
        #: the upload actor's counters: a tus upload's bytes count as they arrive
        self._totals = totals
        self.ttl = deps.config.upload_session_ttl
        self.max_bytes = deps.config.max_upload_bytes
        #: upload ids with a request or commit running here; temp keys of parts being written
        self._in_flight = deps.in_flight
        #: open sessions a customer may have (0: no cap)
        self.max_open = deps.config.max_open_uploads
        self._last_progress: dict[str, float] = {}
        self._nursery: trio.Nursery | None = None
        #: the upload actor's mailbox, where commits replay the parts (set by ``run``)
        self._uploads: Mailbox | None = None

    # --- the session record ------------------------------------------------------------------

    async def create(self, new: NewUpload) -> UploadSession:
        policy.require_writer(new.principal)
        if new.concat == FINAL:
            raise InvalidInput("a final upload is made with concatenate()")
        if new.length is not None:
            self._check_length(new.length)
        await self._check_open_sessions(new.principal)
        return await self._insert_new(new, uuid.uuid4().hex, new.length)

    async def _check_open_sessions(self, principal: Principal) -> None:
        if not self.max_open:
            return
        open_now = await self._catalog.count_open_uploads(principal.customer_id, utc_now())
        if open_now >= self.max_open:
            raise TooManyUploads(
                f"the customer has {open_now} resumable uploads open, as many as it may; "
                "finish or terminate one first"
            )

    async def _insert_new(
        self, new: NewUpload, upload_id: str, length: int | None, **extra: Any
    ) -> UploadSession:
        now = utc_now()
        who = new.principal
        session = UploadSession(
            upload_id=upload_id,
            customer_id=who.customer_id,
            user_id=who.user_id,
            roles=tuple(sorted(role.value for role in who.roles)),
            length=length,
            created_at=now,
            expires_at=now + timedelta(seconds=self.ttl),
            metadata=new.metadata,
            filename=new.filename,
            fields=fields_document(new.fields),
            declared_type=new.declared_type,
            concat=new.concat,
            **extra,
        )
        await self._catalog.insert_upload(session)
        return session

    async def concatenate(self, new: NewUpload) -> tuple[UploadSession, Asset | None]:
        """tus concatenation's final upload: the partials ``new.partials`` names, complete
        and the caller's, committed as one asset now (see ``engine.tus_concatenation``)."""
        policy.require_writer(new.principal)
        await self._check_open_sessions(new.principal)
        upload_id = uuid.uuid4().hex
        partial_ids = list(new.partials)
        partials = await claim_partials(
            self._catalog,
            new.principal,
            partial_ids,
            upload_id,
            max_bytes=self.max_bytes,
            hold_for=self.ttl + COMMIT_LEASE,
        )
        length = sum(partial.length or 0 for partial in partials)
        try:
            session = await self._insert_new(
                replace(new, concat=FINAL), upload_id, length, offset=length, partials=partial_ids
            )
        except BaseException:
            with trio.move_on_after(30, shield=True):
                await release_partials(self._catalog, partial_ids, upload_id)
            raise
        # the partials are in use here: the cleanup leaves them alone while the commit runs
        with contextlib.ExitStack() as held:
            for partial_id in partial_ids:
                held.enter_context(self._in_flight.upload_sessions.holding(partial_id))
            return await self._commit_detached(session)

    def _check_length(self, length: int) -> None:
        if length == 0:
            raise InvalidInput("the file is empty")
        if length > self.max_bytes:
            raise PayloadTooLarge(f"the upload is larger than {self.max_bytes} bytes")

    async def get(self, principal: Principal, upload_id: str) -> UploadSession:
        """The session if ``principal`` may see it — its creator, or an admin of its
        customer — else ``NotFound``; ``Gone`` once terminated or expired."""
        session = await self._catalog.get_upload(upload_id)
        if (
            session is None
            or session.customer_id != principal.customer_id
            or (session.user_id != principal.user_id and not policy.is_admin(principal))
        ):
            raise NotFound("no such upload")
        if session.state is UploadState.TERMINATED:
            raise Gone("the upload was terminated")
        if session.expires_at <= utc_now() and session.state is not UploadState.COMMITTING:
            raise Gone("the upload has expired")
        return session

    async def get_writable(self, principal: Principal, upload_id: str) -> UploadSession:
        """The session, for a request that continues or ends it: as ``get``, and the current
        token (not only the creator's) must still have a role that may upload."""
        session = await self.get(principal, upload_id)
        policy.require_writer(principal)
        return session

    async def terminate(self, principal: Principal, upload_id: str) -> None:
        """End an upload: its bytes are removed at once; what remains until it would have
        expired is a tombstone (its id, owner and state) so that any instance answers 410."""
        for _ in range(8):
            session = await self.get_writable(principal, upload_id)
            if session.state is UploadState.COMMITTING and not self._lease_over(session):
                raise Conflict("the upload is being committed")
            if session.final_id is not None:
                raise Conflict("the partial upload belongs to a final upload")
            tombstone = replace(
                session,
                state=UploadState.TERMINATED,
                parts=[],
                metadata="",
                filename="",
                fields={},
                error=None,
                commit_until=None,
                revision=session.revision + 1,
            )
            if await self._catalog.replace_upload(tombstone, session.revision):
                self._forget(upload_id)
                await self._remove_parts(upload_id)
                return
        raise Conflict("the upload changed too often; try again")

    async def discard(self, upload_id: str) -> None:
        """Remove a session and its bytes without a trace (a creation request whose bytes
        failed, or were refused: the client has no URL to ask about it) — unless they reached
        a commit still running or done, which then runs its course."""
        with trio.move_on_after(30, shield=True):
            session = await self._catalog.get_upload(upload_id)
            if session is None or session.state not in (
                UploadState.RECEIVING,
                UploadState.FAILED,
            ):
                return
            if await self._catalog.delete_upload(upload_id, session.revision):
                await self._remove_parts(upload_id)
                self._forget(upload_id)

    async def _remove_parts(self, upload_id: str) -> None:
        """Every blob under the session's prefix: its parts, and those of appends that lost a
        race and could not remove their own."""
        async for blob in self._store.list(TEMP_BUCKET, parts_prefix(upload_id)):
            await self._store.delete(TEMP_BUCKET, blob.key)

    # --- appending -----------------------------------------------------------------------------

    async def append(
        self,
        principal: Principal,
        upload_id: str,
        offset: int,
        body: AsyncIterator[bytes],
        *,
        length: int | None = None,
        content_length: int | None = None,
        checksum: Checksum | None = None,
        partial: bool = False,
    ) -> tuple[UploadSession, Asset | None]:
        """Add the bytes of ``body`` at ``offset``; ``length`` names a deferred length. When
        they complete the upload, commit it and return the asset too. ``partial``: the
        client says this is a partial upload (tus concatenation), which it must be."""
        session = await self.get_writable(principal, upload_id)
        if partial and session.concat != PARTIAL:
            raise InvalidInput("Upload-Concat: partial, but this upload is not a partial one")
        if session.concat == FINAL:
            if session.state is UploadState.COMMITTED and not content_length:
                return session, None  # a look
            raise Forbidden("a final upload takes no bytes: its partial uploads have them")
        if checksum is not None and checksum.algorithm not in CHECKSUM_ALGORITHMS:
            raise InvalidInput(f"checksum algorithm {checksum.algorithm!r} is not supported")
        if session.state is UploadState.FAILED:
            raise Gone("the upload's content was refused; start a new upload")
        finished = session.state is UploadState.COMMITTED
        if finished or (session.state is UploadState.COMMITTING and not self._lease_over(session)):
            if offset != session.offset:
                raise OffsetMismatch(f"the upload is at offset {session.offset}, not {offset}")
            if finished and not content_length:
                return session, None  # a retry of the last request, or a look
            raise Conflict(
                "the upload is complete: it takes no more bytes"
                if finished
                else "the upload is being committed"
            )
        if length is not None:
            if session.length is not None and length != session.length:
                raise InvalidInput(f"the upload's length is {session.length} already")
            self._check_length(length)
            if length < session.offset:
                raise InvalidInput(f"the upload has {session.offset} bytes already")
        if offset != session.offset:
            raise OffsetMismatch(f"the upload is at offset {session.offset}, not {offset}")
        total = session.length if session.length is not None else length
        limit = total if total is not None else self.max_bytes
        if content_length is not None and offset + content_length > limit:
            raise PayloadTooLarge(
                f"the upload's length is {total}"
                if total is not None
                else f"the upload is larger than {self.max_bytes} bytes"
            )
        if content_length and len(session.parts) >= MAX_PARTS:
            raise InvalidInput(f"an upload may come in at most {MAX_PARTS} parts")
        with self._in_flight.upload_sessions.holding(upload_id):
            session = await self._receive(session, body, total, checksum)
            if session.complete and session.concat != PARTIAL:
                return await self._commit_detached(session)
            return session, None

    async def _receive(
        self,
        session: UploadSession,
        body: AsyncIterator[bytes],
        total: int | None,
        checksum: Checksum | None,
    ) -> UploadSession:
        nonce = secrets.token_hex(4)
        key = part_key(session.upload_id, session.offset, nonce)
        limit = total if total is not None else self.max_bytes
        hasher = CHECKSUM_ALGORITHMS[checksum.algorithm]() if checksum else None
        writer = None
        received = 0
        #: set when the body itself broke off (the client went away or stalled)
        broke_off = False
        written = 0
        iterator = body.__aiter__()
        try:
            try:
                while True:
                    try:
                        chunk = await iterator.__anext__()
                    except StopAsyncIteration:
                        break
                    except BaseException:
                        broke_off = True
                        raise
                    if not chunk:
                        continue
                    received += len(chunk)
                    if session.offset + received > limit:
                        raise PayloadTooLarge(
                            f"the upload's length is {total}"
                            if total is not None
                            else f"the upload is larger than {self.max_bytes} bytes"
                        )
                    if writer is None:
                        self._in_flight.temp_blobs.enter(key)
                        writer = await self._store.open_writer(TEMP_BUCKET, key)
                    if hasher is not None:
                        if len(chunk) < _HASH_INLINE_BELOW:
                            hasher.update(chunk)
                        else:
                            await trio.to_thread.run_sync(hasher.update, chunk)
                    await writer.write(chunk)
                    written += len(chunk)
                    self._totals.received_bytes += len(chunk)
                    self._progress(session, session.offset + received, total)
                if checksum and hasher and hasher.digest() != checksum.digest:
                    raise ChecksumMismatch(
                        f"the bytes do not match their {checksum.algorithm} checksum; "
                        "they were discarded"
                    )
            except BaseException as error:
                if writer is not None:
                    kept = False
                    if checksum is None and (broke_off or isinstance(error, trio.Cancelled)):
                        # What the client sent before the body broke off (or before it went
                        # away) is kept: it resumes after it.
                        with trio.move_on_after(30, shield=True):
                            kept = await self._keep_partial(session, writer, key, nonce, written)
                    if not kept:
                        with trio.move_on_after(30, shield=True):
                            await writer.abort()
                raise
            return await self._advance(session, writer, key, nonce, received, total)
        finally:
            self._in_flight.temp_blobs.leave(key)

    async def _keep_partial(
        self, session: UploadSession, writer: Any, key: str, nonce: str, received: int
    ) -> bool:
        if received == 0:
            return False
        try:
            await self._advance(session, writer, key, nonce, received, session.length)
        except Exception:
            logger.info(
                "upload %s: the bytes of an interrupted request were not kept",
                session.upload_id,
                exc_info=True,
            )
            return False
        return True

    async def _advance(
        self,
        session: UploadSession,
        writer: Any,
        key: str,
        nonce: str,
        received: int,
        total: int | None,
    ) -> UploadSession:
        """Record the new part (if any) and the length (if newly known) in the session."""
        if writer is not None:
            try:
                received = await writer.complete()
            except BaseException:
                with trio.move_on_after(30, shield=True):
                    await writer.abort()
                raise
        if writer is None and total == session.length:
            return session
        parts = session.parts if writer is None else [*session.parts, UploadPart(received, nonce)]
        updated = replace(
            session,
            offset=session.offset + received,
            length=total,
            parts=parts,
            expires_at=utc_now() + timedelta(seconds=self.ttl),
            revision=session.revision + 1,
        )
        if await self._catalog.replace_upload(updated, session.revision):
            return updated
        if writer is not None:
            with trio.move_on_after(30, shield=True):
                await self._store.delete(TEMP_BUCKET, key)
        current = await self._catalog.get_upload(session.upload_id)
        if current is None or current.state is UploadState.TERMINATED:
            raise Gone("the upload was terminated meanwhile")
        raise OffsetMismatch(
            f"another request moved the upload on meanwhile (now at offset {current.offset})"
        )

    # --- committing ----------------------------------------------------------------------------

    async def run(
        self, uploads: Mailbox, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Host commits: one runs to its end even if the request that started it goes away
        (the client learns the outcome from ``HEAD`` or ``GET``), and is cancelled only when
        the engine stops. A commit replays the parts into a session of the upload actor
        (``uploads``, its mailbox: this end is owned and closed here)."""
        async with uploads, trio.open_nursery() as nursery:
            self._nursery = nursery
            self._uploads = uploads
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                self._nursery = None
                self._uploads = None

    async def _commit_detached(self, session: UploadSession) -> tuple[UploadSession, Asset | None]:
        nursery = self._nursery
        if nursery is None:
            raise EngineStopped("the engine is not running")
        done = trio.Event()
        result: list[outcome.Outcome[tuple[UploadSession, Asset | None]]] = []

        async def job() -> None:
            try:
                with self._in_flight.upload_sessions.holding(session.upload_id):
                    result.append(outcome.Value(await self._commit(session)))
            except Exception as error:
                result.append(outcome.Error(error))
            except BaseException:
                stopped = EngineStopped("the service is stopping; send the last request again")
                result.append(outcome.Error(stopped))
                raise
            finally:
                done.set()

        nursery.start_soon(job)
        await done.wait()
        return result[0].unwrap()

    async def _commit(self, session: UploadSession) -> tuple[UploadSession, Asset | None]:
        taken = replace(
            session,
            state=UploadState.COMMITTING,
            commit_until=utc_now() + timedelta(seconds=COMMIT_LEASE),
            revision=session.revision + 1,
        )
        if not await self._catalog.replace_upload(taken, session.revision):
            raise Conflict("the upload changed meanwhile; ask for its state")
        session = taken
        self._progress(session, session.offset, session.length, force=True)
        try:
            asset = await self._replay(session)
        except BaseException as error:
            refused = isinstance(error, (*_REFUSALS, KeyError))
            with trio.move_on_after(30, shield=True):
                await self._after_failed_commit(session, error, refused)
            if isinstance(error, KeyError):
                raise Gone("the upload's stored bytes are missing; start a new upload") from None
            raise
        done = replace(
            session,
            state=UploadState.COMMITTED,
            asset_id=asset.asset_id,
            parts=[],
            commit_until=None,
            expires_at=utc_now() + timedelta(seconds=self.ttl),
            revision=session.revision + 1,
        )
        with trio.move_on_after(30, shield=True):
            try:
                if not await self._catalog.replace_upload(done, session.revision):
                    logger.error("upload %s: committed, but its record changed", done.upload_id)
                for key in part_keys(session):
                    await self._store.delete(TEMP_BUCKET, key)
                await self._remove_partials(session)
            except Exception:
                # The asset exists; the cleanup removes what is left once the session expires.
                logger.exception("upload %s: could not tidy up after its commit", done.upload_id)
        self._forget(session.upload_id)
        return done, asset

    async def _remove_partials(self, final: UploadSession) -> None:
        """A final upload's partials, once its content was committed or refused."""
        for upload_id in final.partials:
            await self._catalog.delete_upload(upload_id)
            await self._remove_parts(upload_id)
            self._forget(upload_id)

    async def _stored_keys(self, session: UploadSession) -> list[str]:
        if session.concat != FINAL:
            return part_keys(session)
        partials = await claimed_partials(self._catalog, session)
        return [key for partial in partials for key in part_keys(partial)]

    async def _replay(self, session: UploadSession) -> Asset:
        spec = UploadSpec(
            principal=session.principal,
            filename=session.filename,
            max_bytes=self.max_bytes,
            declared_type=session.declared_type,
            expected_bytes=session.length,
            upload_id=session.upload_id,
            replay=True,
        )
        keys = await self._stored_keys(session)
        if self._uploads is None:
            raise EngineStopped("the engine is not running")
        handle = await ask(self._uploads, BeginUpload(spec))
        async with handle:
            for key in keys:
                async for data in self._store.read(TEMP_BUCKET, key):
                    await handle.write(data)
            return await handle.commit(
                fields_from_document(session.fields), declared_type=session.declared_type
            )

    async def _after_failed_commit(
        self, session: UploadSession, error: BaseException, refused: bool
    ) -> None:
        """A refused content fails the upload for good (its bytes go); anything else (a
        backend down, a shutdown) hands the complete upload back, to be committed by a retry."""
        try:
            if refused:
                reason = getattr(error, "reason", None) or "the upload's bytes are missing"
                failed = replace(
                    session,
                    state=UploadState.FAILED,
                    parts=[],
                    commit_until=None,
                    error={"kind": type(error).__name__, "reason": reason},
                    revision=session.revision + 1,
                )
                await self._catalog.replace_upload(failed, session.revision)
                await self._remove_parts(session.upload_id)
                await self._remove_partials(session)
                self._forget(session.upload_id)
            elif session.concat == FINAL:
                # The client can't retry a final upload by a PATCH: it sends it again, which
                # needs its partials free (and this one gone).
                await self._catalog.delete_upload(session.upload_id, session.revision)
                await release_partials(self._catalog, session.partials, session.upload_id)
                self._forget(session.upload_id)
            else:
                back = replace(
                    session,
                    state=UploadState.RECEIVING,
                    commit_until=None,
                    revision=session.revision + 1,
                )
                await self._catalog.replace_upload(back, session.revision)
        except Exception:
            logger.exception("upload %s: could not record the failed commit", session.upload_id)

    def _lease_over(self, session: UploadSession) -> bool:
        return session.commit_until is None or session.commit_until <= utc_now()

    # --- progress ------------------------------------------------------------------------------

    def _progress(
        self, session: UploadSession, received: int, total: int | None, *, force: bool = False
    ) -> None:
        now = trio.current_time()
        last = self._last_progress.get(session.upload_id)
        if not force and last is not None and now - last < PROGRESS_INTERVAL:
            return
        self._last_progress[session.upload_id] = now
        if len(self._last_progress) > 4096:
            stale = [k for k, t in self._last_progress.items() if now - t > PROGRESS_INTERVAL]
            for upload_id in stale:
                del self._last_progress[upload_id]
        self._hub.publish(
            Event(
                "upload.progress",
                session.customer_id,
                {
                    "upload_id": session.upload_id,
                    "received_bytes": received,
                    "total_bytes": total,
                    "state": session.state.value,
                    "asset_id": session.asset_id,
                },
                owner=session.user_id,
            )
        )

    def _forget(self, upload_id: str) -> None:
        self._last_progress.pop(upload_id, None)
