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

When the offset reaches the length, the upload is committed (``engine.tus_commit``: under a
short kept-alive lease, with the asset id fixed in the record beforehand, so that a commit whose
instance died is taken over by the next ``HEAD`` or ``PATCH`` on any instance — or, if none
comes, by any instance's periodic takeover pass — and never makes a second asset). How parts are
named and stored is ``engine.tus_storage``.

tus concatenation (``engine.tus_concatenation``): a partial upload is a session that is never
committed by itself; a final upload claims complete partials and replays their parts, in order,
through the same commit. Every request that continues or ends a session is authorised with the
token it brings (``get_writable``), and a customer has at most ``max_open`` sessions open.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import trio

from . import policy
from .actor import Mailbox
from .dependencies import EngineDeps
from .errors import (
    ChecksumMismatch,
    Conflict,
    Forbidden,
    Gone,
    InvalidInput,
    NotFound,
    OffsetMismatch,
    PayloadTooLarge,
    TooManyUploads,
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
    utc_now,
)
from .tus_commit import TusCommits
from .tus_concatenation import FINAL, PARTIAL, claim_partials, release_partials
from .tus_storage import MAX_PARTS, fields_document, part_key, remove_parts
from .upload_actor import UploadTotals

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.25
#: below this, hashing on the event loop is cheaper than a thread hop
_HASH_INLINE_BELOW = 64 * 1024
#: how long claimed partials outlive their final upload's session, for its commit to finish
PARTIAL_HOLD = 1800.0

CHECKSUM_ALGORITHMS: dict[str, Callable[[], Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
}


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
        self._commits = TusCommits(
            deps,
            ttl=self.ttl,
            max_bytes=self.max_bytes,
            progress=lambda session: self._progress(
                session, session.offset, session.length, force=True
            ),
            forget=self._forget,
        )

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
        resent = await self._resent_final(new)
        if resent is not None:
            if resent.state is UploadState.COMMITTED:
                return resent, None
            # Its commit's instance died (or it is live: then a 409).
            return await self._commits.commit(resent)
        await self._check_open_sessions(new.principal)
        upload_id = uuid.uuid4().hex
        partial_ids = list(new.partials)
        partials = await claim_partials(
            self._catalog,
            new.principal,
            partial_ids,
            upload_id,
            max_bytes=self.max_bytes,
            hold_for=self.ttl + PARTIAL_HOLD,
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
        return await self._commits.commit(session)

    async def _resent_final(self, new: NewUpload) -> UploadSession | None:
        """The final upload these very partials went into already, by this user, if it is
        being (or was) committed: a client that lost the answer sends the final again."""
        if not new.partials:
            return None
        first = await self._catalog.get_upload(new.partials[0])
        if first is None or first.final_id is None or first.user_id != new.principal.user_id:
            return None
        final = await self._catalog.get_upload(first.final_id)
        if (
            final is None
            or final.customer_id != new.principal.customer_id
            or final.user_id != new.principal.user_id
            or final.partials != list(new.partials)
            or final.state not in (UploadState.COMMITTING, UploadState.COMMITTED)
        ):
            return None
        return final

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
        session = await self.get_writable(principal, upload_id)
        # Holding the commit lease: no commit starts (or is taken over) meanwhile, and one that
        # runs makes this a 409.
        async with self._commits.excluding_commits(upload_id):
            for _ in range(8):
                session = await self.get_writable(principal, upload_id)
                if session.final_id is not None:
                    raise Conflict("the partial upload belongs to a final upload")
                if (
                    session.state is UploadState.COMMITTING
                    and session.commit_asset_id
                    and await self._catalog.get(session.commit_asset_id) is not None
                ):
                    # A commit that died after making the asset: the upload is done.
                    raise Conflict("the upload was committed; ask for its state")
                tombstone = replace(
                    session,
                    state=UploadState.TERMINATED,
                    parts=[],
                    metadata="",
                    filename="",
                    fields={},
                    error=None,
                    revision=session.revision + 1,
                )
                if await self._catalog.replace_upload(tombstone, session.revision):
                    self._forget(upload_id)
                    await remove_parts(self._store, upload_id)
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
                await remove_parts(self._store, upload_id)
                self._forget(upload_id)

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
            if session.state is UploadState.COMMITTING and not content_length:
                return await self._commits.commit(session)  # a takeover, or a 409 while live
            raise Forbidden("a final upload takes no bytes: its partial uploads have them")
        if checksum is not None and checksum.algorithm not in CHECKSUM_ALGORITHMS:
            raise InvalidInput(f"checksum algorithm {checksum.algorithm!r} is not supported")
        if session.state is UploadState.FAILED:
            raise Gone("the upload's content was refused; start a new upload")
        finished = session.state is UploadState.COMMITTED
        if finished or session.state is UploadState.COMMITTING:
            if offset != session.offset:
                raise OffsetMismatch(f"the upload is at offset {session.offset}, not {offset}")
            if finished and not content_length:
                return session, None  # a retry of the last request, or a look
            if not content_length:
                # The last request again: its commit's instance died (take it over) or the
                # commit is live (409).
                return await self._commits.commit(session)
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
                return await self._commits.commit(session)
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

    # --- committing (``engine.tus_commit``) ----------------------------------------------------

    async def run(
        self, uploads: Mailbox, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Host the commits (``TusCommits.run``; ``uploads``: the upload actor's mailbox)."""
        await self._commits.run(uploads, task_status=task_status)

    async def look(self, principal: Principal, upload_id: str) -> UploadSession:
        """tus's ``HEAD``: the session (as ``get_writable``). One being committed by an
        instance that died is taken over here, in the background: the answer is the offset,
        as tus wants, and the client's next look finds the asset."""
        session = await self.get_writable(principal, upload_id)
        if session.state is UploadState.COMMITTING:
            self._commits.take_over_soon(session)
        return session

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
