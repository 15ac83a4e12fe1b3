"""The preview actor: makes each committed version's previews, off the upload's path.

It is told by a message (``MakePreviews``) once a version is committed — the engine turns the
``asset.created`` and ``version.created`` events into one — and answers nobody: the upload's
``201`` never waits for a preview. Before the commit the engine has stored a ``pending`` state
for each kind the type's plugins offer (``expect``), so that a crash between the commit and
the preview loses nothing: at start the actor asks the catalog for pending states and makes
those previews then. ``MakePreviewsNow`` is the same work for a caller that waits for it
(``asset-service previews --missing``).

A queued preview starts once no upload has been received or committed on this instance for a
tenth of a second, or after ``yield_to_uploads`` seconds whatever the uploads do: on a small
machine a rendering, even at the lowest priority, slows the uploads it runs beside, and a burst
of uploads is answered first. At most ``concurrency`` previews are made at once (workers and a
process pool of that size, at the lowest CPU priority: ``_preview_workers``); each rendering
runs in a worker process (a thread for a renderer that cannot be sent to one) within
``timeout`` (a renderer gives its subprocesses that budget, too). A lease per (asset, version)
keeps two instances from making the same previews at once. A failure is stored on the preview
with its reason and never retried; the asset itself is never touched.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import trio

from ._preview_workers import BackgroundWorkers, RendererDied
from .actor import Envelope, Request
from .dependencies import EngineDeps
from .events import Event, asset_event
from .model import Asset, Version, bucket_of, utc_now
from .preview_store import store_variants
from .preview_types import (
    NoPreview,
    Previewer,
    PreviewRequest,
    PreviewSettings,
    PreviewState,
    PreviewStates,
    PreviewStatus,
)

__all__ = ["MakePreviews", "MakePreviewsNow", "PreviewActor", "PreviewSettings"]

logger = logging.getLogger(__name__)

#: a pending state whose version is not (or no longer) in the record is dropped once it is
#: this old: younger, its commit may still be under way on another instance
UNCOMMITTED_GRACE = 600.0
#: the lease of a version's previews lasts one rendering's timeout plus this, and is renewed
#: before each step: a crashed instance holds a version back for at most that long
LEASE_MARGIN = 10.0
MAX_REASON = 500


def preview_lease(asset_id: str, version: int) -> str:
    return f"previews:{asset_id}:v{version}"


@dataclass(frozen=True, slots=True)
class MakePreviews:
    """Make the missing previews of a committed version (no answer)."""

    asset_id: str
    version: int


@dataclass(frozen=True, slots=True)
class MakePreviewsNow(Request[list[PreviewState]]):
    """The same, answered with the version's preview states once done."""

    asset_id: str
    version: int


#: ``(asset type, MIME type) -> the previewers of every plugin``
PreviewersOf = Callable[[str, str], Sequence[Previewer]]
#: seconds between two looks at whether the uploads have finished, while previews wait
UPLOADS_POLL = 0.02
#: seconds without an upload after which previews start
UPLOADS_QUIET = 0.1


class PreviewActor:
    def __init__(
        self,
        deps: EngineDeps,
        states: PreviewStates,
        previewers: PreviewersOf,
        uploads_running: Callable[[], bool] = lambda: False,
    ) -> None:
        self._store = deps.store
        self._catalog = deps.catalog
        self._states = states
        self._hub = deps.hub
        self._asset_types = deps.asset_types
        self._previewers = previewers
        self.settings = deps.config.previews
        self._holder = f"previews-{uuid.uuid4().hex}"
        #: renderings run here, at the lowest CPU priority, at most ``concurrency`` at once
        self._workers: BackgroundWorkers | None = None
        #: versions queued and not yet started (with when), so that a repeated message is not
        #: work twice
        self._queued: dict[tuple[str, int], float] = {}
        #: whether this instance is receiving or committing an upload right now
        self._uploads_running = uploads_running
        self._mailbox: trio.MemorySendChannel[Any] | None = None
        #: runs the delayed retries of versions another instance was working on
        self._retries: trio.Nursery | None = None

    # --- what the engine calls ------------------------------------------------------------

    def offered(self, asset_type: str, mime_type: str) -> list[Previewer]:
        """The previewers for a type, one per kind (the first plugin's wins)."""
        if not self.settings.enabled:
            return []
        kinds: dict[str, Previewer] = {}
        for previewer in self._previewers(asset_type, mime_type):
            kinds.setdefault(previewer.kind, previewer)
        return list(kinds.values())

    def pending_states(self, asset: Asset, version: Version) -> list[PreviewState]:
        return [
            PreviewState(asset.asset_id, version.version, p.kind, asset.customer_id, p.media_type)
            for p in self.offered(asset.type, version.mime_type)
        ]

    async def expect(self, asset: Asset, version: Version) -> None:
        """Store a ``pending`` state for each preview of ``version``, before its commit."""
        await self._states.expect_previews(self.pending_states(asset, version))

    def on_event(self, event: Event) -> None:
        """An event listener: a committed version is a message to this actor."""
        if event.name not in ("asset.created", "version.created"):
            return
        self.tell(event.data["asset_id"], int(event.data.get("version", 1)))

    def tell(self, asset_id: str, version: int) -> None:
        if self._mailbox is None or not self.settings.enabled:
            return
        # Unbounded: a message is two fields, and repeated ones are dropped on receipt.
        with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            self._mailbox.send_nowait(MakePreviews(asset_id, version))

    def mailbox(self) -> trio.MemorySendChannel[Any] | None:
        return self._mailbox

    # --- the actor ------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self._workers = BackgroundWorkers(self.settings.concurrency)
        mailbox_send, mailbox = trio.open_memory_channel[Any](math.inf)
        work_send, work_receive = trio.open_memory_channel[tuple[str, int]](math.inf)
        async with mailbox, work_send, trio.open_nursery() as nursery:
            async with work_receive:
                for _ in range(max(1, self.settings.concurrency)):
                    nursery.start_soon(self._worker, work_receive.clone())
            if self.settings.enabled:
                nursery.start_soon(self._recover, work_send.clone())
            self._mailbox = mailbox_send
            self._retries = nursery
            task_status.started()
            try:
                async for message in mailbox:
                    match message:
                        case MakePreviews(asset_id=asset_id, version=number):
                            self._enqueue(work_send, (asset_id, number))
                        case Envelope(request=MakePreviewsNow(asset_id=asset_id, version=number)):
                            nursery.start_soon(
                                message.answer_with, lambda a=asset_id, n=number: self.make(a, n)
                            )
                        case _:
                            logger.error("preview actor: unexpected message %r", message)
            finally:
                self._mailbox = self._retries = None
                mailbox_send.close()
                self._workers.close()
                nursery.cancel_scope.cancel()

    def _enqueue(self, work: trio.MemorySendChannel[tuple[str, int]], key: tuple[str, int]) -> None:
        if key in self._queued:
            return
        self._queued[key] = trio.current_time()
        work.send_nowait(key)

    async def _worker(self, work: trio.MemoryReceiveChannel[tuple[str, int]]) -> None:
        async with work:
            async for asset_id, number in work:
                queued_at = self._queued.get((asset_id, number), trio.current_time())
                await self._yield_to_uploads(queued_at + self.settings.yield_to_uploads)
                self._queued.pop((asset_id, number), None)
                try:
                    await self.make(asset_id, number)
                except Exception:
                    # The states stay pending: the next start finds them again.
                    logger.exception("previews of %s v%d could not be made", asset_id, number)

    async def _yield_to_uploads(self, deadline: float) -> None:
        """Until no upload has run here for ``UPLOADS_QUIET`` seconds, or ``deadline`` (Trio
        time) has passed. A moment without uploads between two of a client's requests is not
        the end of a burst."""
        quiet_since: float | None = None
        # Polled: the upload actor signals nothing when it becomes idle, and a look is the
        # length of a dict.
        while (now := trio.current_time()) < deadline:
            if self._uploads_running():
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= UPLOADS_QUIET:
                return
            await trio.sleep(UPLOADS_POLL)

    async def _recover(self, work: trio.MemorySendChannel[tuple[str, int]]) -> None:
        """Queue every version with a pending preview, from the catalog."""
        async with work:
            after: tuple[str, int] | None = None
            try:
                while batch := await self._states.pending_previews(after, limit=200):
                    for key in batch:
                        self._enqueue(work, key)
                    after = batch[-1]
            except Exception:
                logger.exception("could not list the pending previews")

    # --- the work -------------------------------------------------------------------------

    async def make(self, asset_id: str, number: int) -> list[PreviewState]:
        """Make the missing previews of one version; its states afterwards."""
        asset = await self._catalog.get(asset_id)
        version = asset.version(number) if asset is not None else None
        existing = {s.kind: s for s in await self._states.previews_of(asset_id, number)}
        if asset is None or version is None:
            await self._forget_uncommitted(asset_id, number, list(existing.values()))
            return []
        todo = [
            p
            for p in self.offered(asset.type, version.mime_type)
            if p.kind not in existing or existing[p.kind].status == PreviewStatus.PENDING
        ]
        if not todo:
            return list(existing.values())
        lease = preview_lease(asset_id, number)
        ttl = self.settings.timeout + LEASE_MARGIN
        if not await self._catalog.acquire_lease(lease, self._holder, ttl):
            # Another instance is making them, or crashed doing so: look again once its
            # lease has run out (a no-op if it finished).
            self._retry_after(ttl, asset_id, number)
            return list(existing.values())
        try:
            bucket = bucket_of(asset, self._asset_types())
            async with self._store.local_file(bucket, version.storage_key) as source:
                for index, previewer in enumerate(todo):
                    # Renewed before each rendering but the first (the lease is fresh then).
                    if index and not await self._catalog.acquire_lease(lease, self._holder, ttl):
                        break  # ours ran out and another instance took over
                    state = await self._render(asset, version, bucket, previewer, source)
                    await self._states.save_preview(state)
                    existing[state.kind] = state
                    name = (
                        "asset.preview_ready"
                        if state.status == PreviewStatus.READY
                        else "asset.preview_failed"
                    )
                    data: dict[str, Any] = {"version": number, "kind": state.kind}
                    if state.reason:
                        data["reason"] = state.reason
                    self._hub.publish(asset_event(name, asset, **data))
        finally:
            with trio.move_on_after(10, shield=True):
                await self._catalog.release_lease(lease, self._holder)
        return sorted(existing.values(), key=lambda s: s.kind)

    def _retry_after(self, seconds: float, asset_id: str, number: int) -> None:
        async def retry() -> None:
            await trio.sleep(seconds)
            self.tell(asset_id, number)

        if self._retries is not None:
            self._retries.start_soon(retry)

    async def _forget_uncommitted(
        self, asset_id: str, number: int, states: list[PreviewState]
    ) -> None:
        """States of a version that is not in the record: purged or pruned, or a commit that
        failed (or is still under way elsewhere — hence the grace period)."""
        cutoff = utc_now() - timedelta(seconds=UNCOMMITTED_GRACE)
        if states and all(s.updated_at <= cutoff for s in states):
            await self._states.delete_previews(asset_id, number)

    async def _render(
        self,
        asset: Asset,
        version: Version,
        bucket: str,
        previewer: Previewer,
        source: Path,
    ) -> PreviewState:
        state = PreviewState(
            asset.asset_id,
            version.version,
            previewer.kind,
            asset.customer_id,
            previewer.media_type,
        )
        out_dir = Path(await trio.to_thread.run_sync(tempfile.mkdtemp, "", "asset-preview-"))
        timeout = self.settings.timeout
        request = PreviewRequest(source, out_dir, version.mime_type, timeout, version.duration)
        try:
            assert self._workers is not None, "the actor is not running"
            with trio.fail_after(timeout):
                rendered = await self._workers.run(previewer.render, request)
            state.variants = await store_variants(
                self._store, bucket, version.storage_key, previewer.kind, rendered
            )
            if not state.variants:
                raise NoPreview("the renderer made nothing")
            state.status = PreviewStatus.READY
        except trio.TooSlowError:
            state.status, state.reason = PreviewStatus.FAILED, f"took longer than {timeout:g} s"
        except (NoPreview, RendererDied) as error:
            state.status, state.reason = PreviewStatus.FAILED, str(error)[:MAX_REASON]
        except Exception as error:
            logger.warning(
                "%s of %s v%d failed: %r", previewer.kind, asset.asset_id, version.version, error
            )
            reason = str(error).strip() or type(error).__name__
            state.status, state.reason = PreviewStatus.FAILED, reason[:MAX_REASON]
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(shutil.rmtree, out_dir, True)
        state.updated_at = utc_now()
        return state
