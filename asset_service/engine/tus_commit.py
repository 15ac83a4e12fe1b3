"""Committing a complete resumable (tus) upload, so that any instance can finish it.

A commit runs under the lease ``tus-commit:{upload_id}`` (``engine.leases.kept_lease``: 10 s,
renewed every 3 s while it runs). Before it starts, the asset id is fixed in the session record
(``commit_asset_id``, set with state ``committing`` by compare-and-set). When the instance
running a commit dies, its lease lapses within seconds; the next ``HEAD`` or ``PATCH`` of the
upload, on any instance, takes the lease and runs the commit again from the stored parts — and if
no client comes back, every instance's takeover pass (every ``commit_takeover_interval`` s) finds
the sessions committing since longer than the lease lasts (``committing_since``) and tries the
same. That commit creates the asset under the same id — or, when the dead one had got as far as
creating it, finds it (same id, same content) and answers with it: one upload never makes two
assets.

The commit replays the parts, in order, into an ordinary session of the upload actor: the same
pipeline as a multipart upload — sha256 and size counted as the bytes pass, the type sniffed from
the head, validation, extraction, promotion, ``asset.created``. The replay reads the content once
more and writes it once more (the temp blob the actor promotes): the price of a whole-content
sha256 when the parts arrived at different instances (a hash's running state can't be stored).

A test-only pause point (``ASSET_TEST_TUS_COMMIT_PAUSE`` = one of ``CHECKPOINTS``) stops a commit
for good at that point, lease still renewed, so that a test can SIGKILL its instance mid-commit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import timedelta

import outcome
import trio

from .actor import Mailbox, ask
from .dependencies import EngineDeps
from .errors import (
    Conflict,
    EngineStopped,
    Forbidden,
    Gone,
    InvalidInput,
    PayloadTooLarge,
    UnprocessableContent,
    UnsupportedContent,
)
from .leases import KeptLease, LeaseHeld, kept_lease
from .model import TEMP_BUCKET, Asset, UploadSession, UploadState, new_asset_id, utc_now
from .tus_concatenation import FINAL, claimed_partials, release_partials
from .tus_storage import fields_from_document, part_keys, remove_parts
from .upload_actor import BeginUpload, UploadSpec

logger = logging.getLogger(__name__)

#: a dead instance's commit is taken over this long after its last renewal, at most
COMMIT_LEASE_TTL = 10.0
#: leaves room for two slow renewals before the lease runs out
COMMIT_LEASE_RENEW = 3.0
#: sessions one takeover pass looks at, at most (the next pass finds the rest)
TAKEOVER_BATCH = 50
#: errors that mean the content itself was refused: the upload fails for good
REFUSALS = (InvalidInput, UnsupportedContent, UnprocessableContent, PayloadTooLarge, Forbidden)
#: test only: where a commit may be told to stop for good (see the module docstring)
PAUSE_ENV = "ASSET_TEST_TUS_COMMIT_PAUSE"
CHECKPOINTS = ("lease-taken", "asset-created")

Checkpoint = Callable[[str, UploadSession], Awaitable[None]]


def commit_lease(upload_id: str) -> str:
    return f"tus-commit:{upload_id}"


def _pause_from_env() -> Checkpoint | None:
    point = os.environ.get(PAUSE_ENV)
    if not point:
        return None
    if point not in CHECKPOINTS:
        raise ValueError(f"{PAUSE_ENV}: one of {', '.join(CHECKPOINTS)}")

    async def pause(at: str, session: UploadSession) -> None:
        if at == point:
            logger.warning("tus commit of %s paused at %s (test hook)", session.upload_id, at)
            await trio.sleep_forever()

    return pause


class TusCommits:
    """Runs commits detached from the requests that start them, and takes over those whose
    instance died."""

    def __init__(
        self,
        deps: EngineDeps,
        *,
        ttl: float,
        max_bytes: int,
        progress: Callable[[UploadSession], None],
        forget: Callable[[str], None],
    ) -> None:
        self._store = deps.store
        self._catalog = deps.catalog
        self._in_flight = deps.in_flight
        self._instance = deps.instance_id
        self.takeover_interval = deps.config.commit_takeover_interval
        self.ttl = ttl
        self.max_bytes = max_bytes
        self._progress = progress
        self._forget = forget
        self._nursery: trio.Nursery | None = None
        #: the upload actor's mailbox, where commits replay the parts (set by ``run``)
        self._uploads: Mailbox | None = None
        #: uploads this instance is trying to take over in the background (one try at a time)
        self._taking_over: set[str] = set()
        #: test only: awaited at each of ``CHECKPOINTS``
        self.checkpoint: Checkpoint | None = _pause_from_env()

    async def run(
        self, uploads: Mailbox, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Host commits: one runs to its end even if the request that started it goes away
        (the client learns the outcome from ``HEAD`` or ``GET``), and is cancelled only when
        the engine stops. ``uploads``: the upload actor's mailbox (this end is owned and
        closed here)."""
        async with uploads, trio.open_nursery() as nursery:
            self._nursery = nursery
            self._uploads = uploads
            try:
                await nursery.start(self._takeover_passes)
                task_status.started()
                await trio.sleep_forever()
            finally:
                self._nursery = None
                self._uploads = None

    async def _takeover_passes(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Every ``takeover_interval`` s, a takeover pass, until the engine stops: a failed
        pass (a catalog down) is logged, and the next one tries again."""
        task_status.started()
        while True:
            await trio.sleep(self.takeover_interval)
            try:
                await self.take_over_abandoned()
            except Exception:
                logger.exception("the takeover pass of abandoned tus commits failed")

    async def take_over_abandoned(self) -> int:
        """One takeover pass: the sessions committing since longer than a commit's lease lasts
        (their commit's instance may have died, and the client may never come back) are taken
        over here, in the background — each only if its lease lapsed (``take_over_soon``).
        Returns how many were looked at."""
        started_before = utc_now() - timedelta(seconds=COMMIT_LEASE_TTL)
        sessions = await self._catalog.committing_uploads(started_before, TAKEOVER_BATCH)
        for session in sessions:
            self.take_over_soon(session)
        return len(sessions)

    def _holder(self) -> str:
        """Each attempt holds the lease under a name of its own: a second request for the same
        upload on this instance must find it held, like one on another instance."""
        return f"{self._instance}:{secrets.token_hex(4)}"

    @contextlib.contextmanager
    def _holding(self, session: UploadSession) -> Iterator[None]:
        """The upload (and a final upload's partials) in use here: the cleanup leaves them."""
        with contextlib.ExitStack() as held:
            for upload_id in (session.upload_id, *session.partials):
                held.enter_context(self._in_flight.upload_sessions.holding(upload_id))
            yield

    async def commit(self, session: UploadSession) -> tuple[UploadSession, Asset | None]:
        """Commit a complete upload — or take over its commit whose lease lapsed — and wait
        for the outcome. ``Conflict`` while another live commit holds the lease."""
        nursery = self._nursery
        if nursery is None:
            raise EngineStopped("the engine is not running")
        done = trio.Event()
        result: list[outcome.Outcome[tuple[UploadSession, Asset | None]]] = []

        async def job() -> None:
            try:
                with self._holding(session):
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

    def take_over_soon(self, session: UploadSession) -> None:
        """A ``HEAD`` met a session being committed: if its commit's lease lapsed (its instance
        died), continue the commit here in the background; if it is live, nothing."""
        nursery = self._nursery
        if nursery is None or session.upload_id in self._taking_over:
            return
        self._taking_over.add(session.upload_id)

        async def job() -> None:
            try:
                with self._holding(session):
                    await self._commit(session)
            except Conflict:
                pass  # live elsewhere, or already moved on: nothing to take over
            except Exception:
                logger.info("upload %s: a takeover failed", session.upload_id, exc_info=True)
            finally:
                self._taking_over.discard(session.upload_id)

        nursery.start_soon(job)

    @contextlib.asynccontextmanager
    async def excluding_commits(self, upload_id: str) -> AsyncIterator[None]:
        """Hold the commit lease for a change that must not meet a commit (termination):
        ``Conflict`` while a live commit runs."""
        try:
            async with kept_lease(
                self._catalog,
                commit_lease(upload_id),
                self._holder(),
                ttl=COMMIT_LEASE_TTL,
                renew_every=COMMIT_LEASE_RENEW,
            ):
                yield
        except LeaseHeld:
            raise Conflict("the upload is being committed") from None

    async def _commit(self, session: UploadSession) -> tuple[UploadSession, Asset | None]:
        try:
            async with kept_lease(
                self._catalog,
                commit_lease(session.upload_id),
                self._holder(),
                ttl=COMMIT_LEASE_TTL,
                renew_every=COMMIT_LEASE_RENEW,
            ) as lease:
                return await self._commit_held(session, lease)
        except LeaseHeld:
            raise Conflict("the upload is being committed") from None

    async def _commit_held(
        self, session: UploadSession, lease: KeptLease
    ) -> tuple[UploadSession, Asset | None]:
        # The record as it is now, under the lease: the caller's copy may be stale (a commit
        # elsewhere finished, or failed, since it was read).
        current = await self._catalog.get_upload(session.upload_id)
        if current is None or current.state is UploadState.TERMINATED:
            raise Gone("the upload was terminated")
        if current.state is UploadState.COMMITTED:
            asset = await self._catalog.get(current.asset_id) if current.asset_id else None
            return current, asset
        if current.state is UploadState.FAILED:
            raise Gone("the upload's content was refused; start a new upload")
        if not current.complete:
            raise Conflict("the upload changed meanwhile; ask for its state")
        taken = replace(
            current,
            state=UploadState.COMMITTING,
            # Fixed once, before any asset can exist: every attempt makes this one.
            commit_asset_id=current.commit_asset_id or new_asset_id(),
            # The takeover pass leaves it alone until a lease's time has passed since then.
            committing_since=utc_now(),
            # The cleanup leaves the session alone while commits may still come.
            expires_at=max(current.expires_at, utc_now() + timedelta(seconds=self.ttl)),
            revision=current.revision + 1,
        )
        if not await self._catalog.replace_upload(taken, current.revision):
            raise Conflict("the upload changed meanwhile; ask for its state")
        session = taken
        self._progress(session)
        try:
            await self._pause("lease-taken", session)
            asset = await self._replay(session)
            await self._pause("asset-created", session)
        except BaseException as error:
            if lease.lost:
                raise  # the successor owns the record now
            refused = isinstance(error, (*REFUSALS, KeyError))
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

    async def _pause(self, at: str, session: UploadSession) -> None:
        if self.checkpoint is not None:
            await self.checkpoint(at, session)

    async def _remove_partials(self, final: UploadSession) -> None:
        """A final upload's partials, once its content was committed or refused."""
        for upload_id in final.partials:
            await self._catalog.delete_upload(upload_id)
            await remove_parts(self._store, upload_id)
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
            asset_id=session.commit_asset_id,
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
        backend down, a shutdown) hands the complete upload back, to be committed by a retry
        (under the same asset id). Every step is a compare-and-set from the record this commit
        wrote: a record changed meanwhile is someone else's, and left alone."""
        try:
            if refused:
                reason = getattr(error, "reason", None) or "the upload's bytes are missing"
                failed = replace(
                    session,
                    state=UploadState.FAILED,
                    parts=[],
                    error={"kind": type(error).__name__, "reason": reason},
                    revision=session.revision + 1,
                )
                if await self._catalog.replace_upload(failed, session.revision):
                    await remove_parts(self._store, session.upload_id)
                    await self._remove_partials(session)
                    self._forget(session.upload_id)
            elif session.concat == FINAL:
                # The client can't retry a final upload by a PATCH: it sends it again, which
                # needs its partials free (and this one gone).
                if await self._catalog.delete_upload(session.upload_id, session.revision):
                    await release_partials(self._catalog, session.partials, session.upload_id)
                    self._forget(session.upload_id)
            else:
                back = replace(session, state=UploadState.RECEIVING, revision=session.revision + 1)
                await self._catalog.replace_upload(back, session.revision)
        except Exception:
            logger.exception("upload %s: could not record the failed commit", session.upload_id)
