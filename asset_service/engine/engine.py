"""``AssetEngine``: the facade the HTTP layer, the CLI and the importer talk to.

It checks access, sends messages to the actors and reads the catalog; content and versions are
the actors' work (see ``docs/architecture.md``). ``open_engine(...)`` runs the actors and yields
the engine; leaving the block cancels what is in flight (each upload removes its own temp blob).
Metadata edits and soft deletes are compare-and-set on the record's ``revision``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import trio

from . import policy
from .actor import Envelope, Mailbox, ask
from .blobstore import BlobStore
from .catalog import AssetQuery, Catalog, Facet, FolderInfo, Page, Stats
from .cleanup_actor import CleanupActor, CleanupReport, CleanupTotals, RunCleanup, purge_asset
from .content_safety import InlineChecks
from .dependencies import EngineConfig as EngineConfig
from .dependencies import EngineDeps
from .errors import (
    Conflict,
    EngineStopped,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
)
from .event_log import EventLog, MemoryEventLog
from .event_relay import EventRelay, Retention
from .events import EventHub, asset_event
from .inspection import ContentInspector
from .model import (
    TEMP_BUCKET,
    Asset,
    AssetType,
    Principal,
    UploadSession,
    Version,
    Visibility,
    bucket_of,
    parse_time,
    utc_now,
)
from .preview_access import PreviewAccess
from .preview_types import PreviewStates
from .previews import PreviewActor
from .public_visibility import is_published, sync_public
from .tus import Checksum, NewUpload, ResumableUploads
from .upload_actor import (
    RECENT_SECONDS,
    BeginUpload,
    UploadActor,
    UploadHandle,
    UploadProgress,
    UploadSpec,
    UploadTotals,
)
from .versioning_actor import RestoreVersion, VersioningActor

logger = logging.getLogger(__name__)

MAILBOX_SIZE = 16
CAS_ATTEMPTS = 8


class KeyedLocks:
    """A ``trio.Lock`` per key, forgotten once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[trio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (trio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class AssetEngine:
    def __init__(
        self,
        store: BlobStore,
        catalog: Catalog,
        inspector: ContentInspector,
        config: EngineConfig,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.inspector = inspector
        self.config = config
        self.hub = EventHub()
        self.hub.add_listener(inspector.notify)
        #: the log every instance's events go through (the catalog's, when it keeps one)
        self.event_log: EventLog = catalog if isinstance(catalog, EventLog) else MemoryEventLog()
        #: what the WebSocket subscribes to: every instance's events, from the log
        self.events = EventRelay(
            self.event_log,
            poll_interval=config.event_poll_interval,
            retention=Retention(config.event_retention, config.event_retention_count),
        )
        self._deps = deps = EngineDeps(store, catalog, inspector, self.hub, config)
        self.instance_id = deps.instance_id
        #: what this instance is in the middle of (the cleanup leaves it alone)
        self.in_flight = deps.in_flight
        self._edit_turns = KeyedLocks()
        self._uploads = UploadActor(deps)
        self._tus = ResumableUploads(deps, self._uploads.totals)
        self._versioning = VersioningActor(deps)
        self._cleanup = CleanupActor(deps)
        # --- previews: the fourth actor (engine/previews.py) --------------------------------
        states = catalog if isinstance(catalog, PreviewStates) else None
        self._previews: PreviewActor | None = None
        if states is not None and config.previews.enabled:
            self._previews = PreviewActor(
                deps,
                states,
                lambda asset_type, mime: _previewers(inspector, asset_type, mime),
                uploads_running=lambda: self.uploads_in_flight() > 0,
            )
            self.hub.add_listener(self._previews.on_event)
            self._versioning.before_commit = self._previews.expect
        self.previews = PreviewAccess(store, catalog, states, self._previews, self.asset_types)
        # --- end previews -----------------------------------------------------------------
        # Last: the in-process listeners above hear of an event before it is logged.
        self.hub.add_listener(self.events.offer)
        self._upload_mailbox: Mailbox | None = None
        self._versioning_mailbox: Mailbox | None = None
        self._cleanup_mailbox: Mailbox | None = None

    def asset_types(self) -> dict[str, AssetType]:
        return self.inspector.asset_types()

    async def _run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        for bucket in sorted({TEMP_BUCKET, *(t.bucket for t in self.asset_types().values())}):
            await self.store.ensure_bucket(bucket)
        upload_send, upload_receive = trio.open_memory_channel[Envelope[Any]](MAILBOX_SIZE)
        version_send, version_receive = trio.open_memory_channel[Envelope[Any]](MAILBOX_SIZE)
        cleanup_send, cleanup_receive = trio.open_memory_channel[Envelope[Any]](MAILBOX_SIZE)
        async with trio.open_nursery() as nursery:
            await nursery.start(self.events.run)
            # Data flows down: tus commits replay into the upload actor, which hands staged
            # content to the versioning actor. Each sender owns the clone it is given.
            await nursery.start(self._versioning.run, version_receive)
            await nursery.start(self._uploads.run, upload_receive, version_send.clone())
            await nursery.start(self._tus.run, upload_send.clone())
            await nursery.start(self._cleanup.run, cleanup_receive)
            if self._previews is not None:  # previews
                await nursery.start(self._previews.run)
            if self.config.scheduled_cleanup:
                await nursery.start(self._cleanup.schedule, cleanup_send.clone())
            self._upload_mailbox = upload_send
            self._versioning_mailbox = version_send
            self._cleanup_mailbox = cleanup_send
            task_status.started()
            try:
                await trio.sleep_forever()
            finally:
                for mailbox in (upload_send, version_send, cleanup_send):
                    mailbox.close()

    # --- uploads -------------------------------------------------------------------------

    async def begin_upload(self, spec: UploadSpec) -> UploadHandle:
        """Start an upload session for a new asset (or, with ``target_asset_id``, a new
        version). The caller writes chunks and commits; see ``UploadHandle``."""
        if spec.target_asset_id is not None:
            policy.check_writable(spec.principal, await self.catalog.get(spec.target_asset_id))
        else:
            policy.require_writer(spec.principal)
        if spec.expected_bytes is not None and spec.expected_bytes > spec.max_bytes:
            raise PayloadTooLarge(f"the upload is larger than {spec.max_bytes} bytes")
        return await ask(self._mailbox(self._upload_mailbox), BeginUpload(spec))

    def upload_progress(self, customer_id: str, upload_id: str) -> UploadProgress | None:
        return self._uploads.progress(customer_id, upload_id)

    async def progress(self, principal: Principal, upload_id: str) -> UploadProgress:
        """A resumable upload's progress, or that of a multipart upload sent with this id
        (while it runs and for a while after) — for its uploader and the customer's admins."""
        try:
            session = await self._tus.get(principal, upload_id)
        except NotFound:
            session = None
        if session is not None:
            return UploadProgress(
                upload_id,
                session.customer_id,
                received_bytes=session.offset,
                total_bytes=session.length,
                state=session.state.value,
                asset_id=session.asset_id,
                user_id=session.user_id,
                error=session.error["reason"] if session.error else None,
            )
        found = self._uploads.recent_progress(principal.customer_id, upload_id)
        if found is None:
            # taken by another instance: what it logged of it
            found = await self._logged_progress(principal.customer_id, upload_id)
        if found is None or (found.user_id != principal.user_id and not policy.is_admin(principal)):
            raise NotFound("no such upload")
        return found

    async def _logged_progress(self, customer_id: str, upload_id: str) -> UploadProgress | None:
        logged = await self.event_log.last_upload_progress(customer_id, upload_id)
        if logged is None:
            return None
        at = parse_time(logged.event.at)
        if at is None or (utc_now() - at).total_seconds() > RECENT_SECONDS:
            return None  # as long as the instance that took it would say
        data = logged.event.data
        return UploadProgress(
            upload_id,
            customer_id,
            received_bytes=int(data.get("received_bytes") or 0),
            total_bytes=data.get("total_bytes"),
            state=str(data.get("state")),
            asset_id=data.get("asset_id"),
            user_id=logged.event.owner,
            error=data.get("error"),
        )

    # --- resumable (tus) uploads ---------------------------------------------------------

    async def create_upload_session(self, new: NewUpload) -> UploadSession:
        return await self._tus.create(new)

    async def upload_session(self, principal: Principal, upload_id: str) -> UploadSession:
        """``NotFound`` unless the caller started it or is an admin; ``Gone`` once terminated
        or expired; ``Forbidden`` unless the caller's token may (still) upload. tus's ``HEAD``:
        a commit whose instance died is taken over in the background."""
        return await self._tus.look(principal, upload_id)

    async def concatenate_uploads(self, new: NewUpload) -> tuple[UploadSession, Asset | None]:
        """tus concatenation: commit the partial uploads ``new.partials`` names as one asset
        (see ``engine.tus_concatenation``)."""
        return await self._tus.concatenate(new)

    async def append_upload(
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
        """Add bytes at ``offset``; the request that completes the upload returns once it is
        committed, with the asset (see ``engine.tus``). ``partial``: the client says this is a
        partial upload (tus concatenation), which it must be."""
        return await self._tus.append(
            principal,
            upload_id,
            offset,
            body,
            length=length,
            content_length=content_length,
            checksum=checksum,
            partial=partial,
        )

    async def terminate_upload(self, principal: Principal, upload_id: str) -> None:
        await self._tus.terminate(principal, upload_id)

    async def discard_upload(self, upload_id: str) -> None:
        """Remove a session without a trace (its creation request failed)."""
        await self._tus.discard(upload_id)

    # --- versions ------------------------------------------------------------------------

    async def restore_version(self, principal: Principal, asset_id: str, number: int) -> Asset:
        return await ask(
            self._mailbox(self._versioning_mailbox), RestoreVersion(asset_id, principal, number)
        )

    # --- reads ---------------------------------------------------------------------------

    async def get(
        self, principal: Principal | None, asset_id: str, *, include_deleted: bool = False
    ) -> Asset:
        asset = await self.catalog.get(asset_id)
        return policy.check_readable(principal, asset, include_deleted=include_deleted)

    async def content(
        self,
        principal: Principal | None,
        asset_id: str,
        version: int | None = None,
        *,
        public: bool = False,
    ) -> tuple[Asset, Version]:
        """The asset and the version whose bytes a download serves. With ``public`` (a
        download itself, not a link to one), a public asset's current version for any caller."""
        asset = await self.catalog.get(asset_id)
        if public:
            asset = policy.check_downloadable(principal, asset, version)
        else:
            asset = policy.check_readable(principal, asset)
        number = asset.current_version if version is None else version
        found = asset.version(number)
        if found is None:
            raise NotFound(f"version {number} does not exist")
        return asset, found

    async def linked_content(self, asset_id: str, number: int | None) -> tuple[Asset, Version]:
        """The content behind a download link the service signed (the HTTP layer checked the
        signature): no caller to check, but never a deleted asset or a pruned version.
        ``number`` ``None``: the current version, whichever it is now."""
        asset = await self.catalog.get(asset_id)
        if asset is None or asset.is_deleted:
            raise NotFound("no such asset")
        if number is None:
            number = asset.current_version
        found = asset.version(number)
        if found is None:
            raise NotFound(f"version {number} does not exist")
        return asset, found

    def read(
        self, asset: Asset, version: Version, offset: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        return self.store.read(
            bucket_of(asset, self.asset_types()), version.storage_key, offset, length
        )

    async def shows_inline(self, asset: Asset, version: Version) -> bool:
        """Whether a browser may show this version inline (``content_safety.InlineChecks``):
        by its type, or for SVG by the inspector's verdict on its stored bytes."""
        return await self._inline_checks.allows(asset, version, self.read)

    @functools.cached_property
    def _inline_checks(self) -> InlineChecks:
        return InlineChecks(self.inspector)

    def scoped(self, principal: Principal, query: AssetQuery) -> AssetQuery:
        """``query`` limited to what ``principal`` may see: its customer, no other user's
        private assets unless an admin, soft-deleted ones only for admins."""
        if query.customer_id != principal.customer_id:
            raise NotFound("no such customer")
        if query.deleted is not False:
            policy.require_admin(principal)
        viewer = None if policy.is_admin(principal) else principal.user_id
        return replace(query, viewer_user_id=viewer)

    async def list(self, principal: Principal, query: AssetQuery) -> Page:
        """List or search (``AssetQuery`` holds every filter and the order)."""
        try:
            return await self.catalog.list(self.scoped(principal, query))
        except ValueError as error:
            raise InvalidInput(str(error)) from None

    async def facets(self, principal: Principal, query: AssetQuery, field: str) -> list[Facet]:
        return await self.catalog.facets(self.scoped(principal, query), field)

    async def stats(self, principal: Principal, query: AssetQuery) -> Stats:
        return await self.catalog.stats(self.scoped(principal, query))

    # --- folders -------------------------------------------------------------------------

    async def folders(self, principal: Principal, asset_type: str) -> list[FolderInfo]:
        """The customer's folders of a type, each with the number of live assets directly in
        it that ``principal`` may see (another user's private assets count for admins only).
        A folder whose assets, its sub-folders' included, are all another user's private ones
        is not listed (its name would tell what they are about); an empty one is."""
        self._known_type(asset_type)
        folders = await self.catalog.folders(principal.customer_id, asset_type)
        if policy.is_admin(principal):
            return folders
        query = AssetQuery(customer_id=principal.customer_id, type=asset_type)
        every = (await self.catalog.stats(query)).by_folder
        visible = (await self.catalog.stats(self.scoped(principal, query))).by_folder
        under_every = _counts_under({path: t.count for path, t in every.items()})
        under_visible = _counts_under({path: t.count for path, t in visible.items()})
        return [
            FolderInfo(f.path, visible[f.path].count if f.path in visible else 0)
            for f in folders
            if under_visible.get(f.path, 0) > 0 or under_every.get(f.path, 0) == 0
        ]

    async def create_folder(
        self, principal: Principal, asset_type: str, path: str
    ) -> tuple[FolderInfo, bool]:
        """The folder (``path`` already normalised) and whether it is new."""
        self._known_type(asset_type)
        policy.require_writer(principal)
        created = await self.catalog.add_folder(principal.customer_id, asset_type, path)
        count = next(
            (f.count for f in await self.folders(principal, asset_type) if f.path == path), 0
        )
        return FolderInfo(path, count), created

    async def move(
        self, principal: Principal, asset_type: str, asset_ids: list[str], folder: str
    ) -> int:
        """Move assets into ``folder``, all or nothing: every id is checked (visible, writable,
        of ``asset_type``) before any is moved, and the error names the first that fails. As
        everywhere, an id the caller can't see is a 404 before its role is looked at."""
        self._known_type(asset_type)
        assets = []
        for asset_id in dict.fromkeys(asset_ids):
            try:
                assets.append(policy.check_readable(principal, await self.catalog.get(asset_id)))
            except NotFound:
                raise NotFound(f"asset {asset_id} does not exist") from None
        policy.require_writer(principal)
        for asset in assets:
            if asset.type != asset_type:
                raise InvalidInput(f"asset {asset.asset_id} is {asset.type}, not {asset_type}")
        if folder != "/":
            await self.catalog.add_folder(principal.customer_id, asset_type, folder)
        for asset in assets:
            if asset.metadata.folder != folder:
                await self.update_metadata(principal, asset.asset_id, {"folder": folder})
        return len(assets)

    def _known_type(self, asset_type: str) -> None:
        if asset_type not in self.asset_types():
            raise NotFound(f"no asset type {asset_type!r}")

    # --- signed URLs ---------------------------------------------------------------------

    async def presigned_url(
        self,
        asset: Asset,
        version: Version,
        *,
        signed_at: float,
        expires_at: float,
        headers: Mapping[str, str],
    ) -> str | None:
        """A URL of the blob store itself (S3 presigning), or ``None`` when the store has none
        and the service must sign its own. See ``BlobStore.presigned_url``."""
        return await self.store.presigned_url(
            bucket_of(asset, self.asset_types()),
            version.storage_key,
            signed_at=signed_at,
            expires_at=expires_at,
            headers=headers,
        )

    # --- changes to the record ------------------------------------------------------------

    async def update_metadata(
        self,
        principal: Principal,
        asset_id: str,
        changes: dict[str, Any],
        *,
        expected_revision: int | None = None,
    ) -> Asset:
        """Apply validated changes (``fields.metadata_changes``)."""
        was_published = False

        def apply(asset: Asset) -> None:
            nonlocal was_published
            was_published = is_published(asset)
            for key, value in changes.items():
                if key == "name":
                    asset.name = value
                elif key == "category":
                    asset.category = value
                elif key == "visibility":
                    asset.visibility = value
                else:
                    setattr(asset.metadata, key, value)

        asset = await self._update(principal, asset_id, apply, expected_revision=expected_revision)
        published = is_published(asset)
        if was_published != published or (published and asset.storage.url is None):
            asset = await self._sync_public(asset)
        if changes.get("folder", "/") != "/":
            await self.catalog.add_folder(asset.customer_id, asset.type, changes["folder"])
        self._publish("asset.updated", asset)
        return asset

    async def restore_deleted(self, principal: Principal, asset_id: str) -> Asset:
        """Undo a soft delete (admins)."""
        policy.check_readable(
            principal, await self.catalog.get(asset_id), include_deleted=policy.is_admin(principal)
        )
        policy.require_admin(principal)

        def undelete(asset: Asset) -> None:
            asset.deleted_at = None

        asset = await self._update(principal, asset_id, undelete, include_deleted=True)
        if is_published(asset):
            asset = await self._sync_public(asset)
        self._publish("asset.restored", asset)
        return asset

    async def soft_delete(self, principal: Principal, asset_id: str) -> Asset:
        def mark(asset: Asset) -> None:
            asset.deleted_at = utc_now()
            asset.link_epoch += 1  # the links signed so far end here, restored or not

        asset = await self._update(principal, asset_id, mark)
        if asset.visibility == Visibility.PUBLIC or asset.storage.url is not None:
            asset = await self._sync_public(asset)  # a deleted asset is never public
        self._publish("asset.deleted", asset)
        return asset

    async def purge(self, principal: Principal, asset_id: str) -> None:
        """Delete an asset for good now — every version's blob, then the record (admins)."""
        asset = policy.check_readable(
            principal, await self.catalog.get(asset_id), include_deleted=policy.is_admin(principal)
        )
        policy.require_admin(principal)
        await purge_asset(self._deps, asset)

    async def _update(
        self,
        principal: Principal,
        asset_id: str,
        mutate: Callable[[Asset], None],
        *,
        expected_revision: int | None = None,
        include_deleted: bool = False,
    ) -> Asset:
        """Compare-and-set loop: re-read and re-apply on a concurrent change, unless the caller
        pinned a revision (``If-Match``), which then fails with ``PreconditionFailed``. An
        asset the caller can't see is ``NotFound`` before its role is looked at. Edits of one
        asset take turns within this instance, so the loop only retries for other instances
        (64 clients editing 20 assets exhausted it: ``make load`` saw 409s)."""
        async with self._edit_turns.hold(asset_id):
            return await self._compare_and_set(
                principal, asset_id, mutate, expected_revision, include_deleted
            )

    async def _compare_and_set(
        self,
        principal: Principal,
        asset_id: str,
        mutate: Callable[[Asset], None],
        expected_revision: int | None,
        include_deleted: bool,
    ) -> Asset:
        for _ in range(CAS_ATTEMPTS):
            asset = policy.check_readable(
                principal, await self.catalog.get(asset_id), include_deleted=include_deleted
            )
            policy.require_writer(principal)
            if expected_revision is not None and asset.revision != expected_revision:
                raise PreconditionFailed(
                    f"the asset is at revision {asset.revision}, not {expected_revision}"
                )
            revision = asset.revision
            mutate(asset)
            asset.revision = revision + 1
            asset.updated_at = utc_now()
            if await self.catalog.replace(asset, revision):
                return asset
            if expected_revision is not None:
                raise PreconditionFailed("the asset changed meanwhile")
        raise Conflict("the asset changed too often; try again")

    # --- cleanup -------------------------------------------------------------------------

    async def run_cleanup(self, *, wait_for_lease: bool = True) -> CleanupReport:
        """One full pass now."""
        return await ask(
            self._mailbox(self._cleanup_mailbox), RunCleanup(wait_for_lease=wait_for_lease)
        )

    # --- what /metrics shows ---------------------------------------------------------------

    def queue_depths(self) -> dict[str, int]:
        """Messages waiting for each actor: queued in its mailbox (at most ``MAILBOX_SIZE``)
        plus callers blocked because the mailbox is full."""
        mailboxes = {
            "upload": self._upload_mailbox,
            "versioning": self._versioning_mailbox,
            "cleanup": self._cleanup_mailbox,
        }
        depths = {}
        if self._previews is not None:  # previews
            mailboxes["previews"] = self._previews.mailbox()
        for name, mailbox in mailboxes.items():
            stats = mailbox.statistics() if mailbox is not None else None
            depths[name] = stats.current_buffer_used + stats.tasks_waiting_send if stats else 0
        return depths

    def uploads_in_flight(self) -> int:
        return len(self._uploads.in_flight())

    def upload_totals(self) -> UploadTotals:
        return replace(self._uploads.totals)

    def cleanup_totals(self) -> CleanupTotals:
        """Every cleanup pass of this process added up."""
        return replace(self._cleanup.totals)

    # --- helpers -------------------------------------------------------------------------

    async def _sync_public(self, asset: Asset) -> Asset:
        return await sync_public(
            self.store, self.catalog, bucket_of(asset, self.asset_types()), asset
        )

    def _publish(self, name: str, asset: Asset) -> None:
        self.hub.publish(asset_event(name, asset))

    @staticmethod
    def _mailbox(channel: Mailbox | None) -> Mailbox:
        if channel is None:
            raise EngineStopped("the engine is not running")
        return channel


def _previewers(inspector: ContentInspector, asset_type: str, mime_type: str) -> list[Any]:
    """The inspector's previewers (an inspector without the method offers none)."""
    previewers = getattr(inspector, "previewers", None)
    return list(previewers(asset_type, mime_type)) if previewers is not None else []


@asynccontextmanager
async def open_engine(
    store: BlobStore,
    catalog: Catalog,
    inspector: ContentInspector,
    config: EngineConfig | None = None,
) -> AsyncIterator[AssetEngine]:
    """Open both backends, run the actors, and close everything on the way out."""
    engine = AssetEngine(store, catalog, inspector, config or EngineConfig())
    await store.open()
    try:
        await catalog.open()
        body_error: BaseException | None = None
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(engine._run)
                try:
                    yield engine
                except BaseException as error:
                    body_error = error
                    raise
                finally:
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The caller's own exception, not wrapped in the engine nursery's group.
            if body_error is not None and list(group.exceptions) == [body_error]:
                raise body_error from None
            raise
        finally:
            with trio.move_on_after(10, shield=True):
                await catalog.close()
    finally:
        with trio.move_on_after(10, shield=True):
            await store.close()


def _counts_under(counts: dict[str, int]) -> dict[str, int]:
    """For every folder, the assets in it and in its sub-folders (``/a/b``'s count to ``/a``
    and ``/``)."""
    totals: dict[str, int] = {}
    for path, count in counts.items():
        parts = path.strip("/").split("/") if path != "/" else []
        for depth in range(len(parts) + 1):
            ancestor = "/" + "/".join(parts[:depth])
            totals[ancestor] = totals.get(ancestor, 0) + count
    return totals
