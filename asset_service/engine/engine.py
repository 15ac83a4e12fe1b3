"""``AssetEngine``: the one object the HTTP layer and the CLI talk to.

``open_engine(...)`` starts a nursery running the upload, versioning and cleanup actors (and
the cleanup schedule) and yields the engine; leaving the block stops taking new work, cancels
what is in flight (each upload removes its own temp blob) and closes the channels. Reads go
straight to the catalog; writes that change versions go through the versioning actor; metadata
edits and soft deletes are compare-and-set on the record's ``revision``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import trio

from . import policy
from ._actor import ask
from ._cleanup import CleanupActor, CleanupPolicy, CleanupReport, CleanupTotals, RunCleanup
from ._public import is_published, public_headers, sync_public, unpublish
from ._resumable import Checksum, NewUpload, ResumableUploads
from ._upload import (
    BeginUpload,
    StagedContent,
    UploadActor,
    UploadHandle,
    UploadProgress,
    UploadSpec,
    UploadTotals,
)
from ._versioning import AddVersion, RestoreVersion, VersioningActor
from .blobstore import BlobStore
from .catalog import AssetQuery, Catalog, Facet, FolderInfo, Page, Stats
from .errors import (
    Conflict,
    EngineStopped,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
)
from .events import EventHub, asset_event
from .fields import NewAssetFields
from .inspection import ContentInspector
from .model import (
    TEMP_BUCKET,
    Asset,
    AssetType,
    Metadata,
    Principal,
    Storage,
    UploadSession,
    Version,
    Visibility,
    bucket_of,
    new_asset_id,
    storage_key,
    utc_now,
)

logger = logging.getLogger(__name__)

MAILBOX_SIZE = 16
CAS_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class EngineConfig:
    max_upload_bytes: int = 5 * 1024**3
    max_versions: int = 10
    temp_ttl: float = 3600.0
    trash_retention: float = 30 * 86400.0
    cleanup_interval: float = 600.0
    #: run the cleanup schedule in this engine (the CLI's one-shot pass does not)
    scheduled_cleanup: bool = True
    #: seconds a resumable (tus) upload lives without receiving bytes
    upload_session_ttl: float = 86400.0
    #: resumable (tus) uploads a customer may have open at once (partial uploads count)
    max_open_uploads: int = 100


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
        self.instance_id = uuid.uuid4().hex
        self._busy_assets: set[str] = set()
        self._edit_turns = KeyedLocks()
        self._uploads = UploadActor(store, inspector, self.hub, self._promote)
        self._resumable = ResumableUploads(
            store,
            catalog,
            self.hub,
            self.begin_upload,
            self._uploads.totals,
            ttl=config.upload_session_ttl,
            max_bytes=config.max_upload_bytes,
            max_open=config.max_open_uploads,
        )
        self._versioning = VersioningActor(
            store, catalog, self.hub, self.asset_types, config.max_versions, self._busy_assets
        )
        self._cleanup = CleanupActor(
            store,
            catalog,
            self.hub,
            self.asset_types,
            CleanupPolicy(config.temp_ttl, config.trash_retention, config.cleanup_interval),
            self.instance_id,
            lambda: self._uploads.in_flight() | self._resumable.busy_keys(),
            self._busy_assets,
            self._resumable.busy_sessions,
        )
        self._upload_mailbox: trio.MemorySendChannel[Any] | None = None
        self._versioning_mailbox: trio.MemorySendChannel[Any] | None = None
        self._cleanup_mailbox: trio.MemorySendChannel[Any] | None = None

    def asset_types(self) -> dict[str, AssetType]:
        return self.inspector.asset_types()

    async def _run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        for bucket in sorted({TEMP_BUCKET, *(t.bucket for t in self.asset_types().values())}):
            await self.store.ensure_bucket(bucket)
        upload_send, upload_receive = trio.open_memory_channel[Any](MAILBOX_SIZE)
        version_send, version_receive = trio.open_memory_channel[Any](MAILBOX_SIZE)
        cleanup_send, cleanup_receive = trio.open_memory_channel[Any](MAILBOX_SIZE)
        async with trio.open_nursery() as nursery:
            await nursery.start(self._uploads.run, upload_receive)
            await nursery.start(self._resumable.run)
            await nursery.start(self._versioning.run, version_receive)
            await nursery.start(self._cleanup.run, cleanup_receive)
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
        return await ask(self._mailbox(self._upload_mailbox), lambda r: BeginUpload(spec, r))

    def upload_progress(self, customer_id: str, upload_id: str) -> UploadProgress | None:
        return self._uploads.progress(customer_id, upload_id)

    async def progress(self, principal: Principal, upload_id: str) -> UploadProgress:
        """A resumable upload's progress, or that of a multipart upload sent with this id
        (while it runs and for a while after) — for its uploader and the customer's admins."""
        try:
            session = await self._resumable.get(principal, upload_id)
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
        if found is None or (found.user_id != principal.user_id and not policy.is_admin(principal)):
            raise NotFound("no such upload")
        return found

    # --- resumable (tus) uploads ---------------------------------------------------------

    async def create_upload_session(self, new: NewUpload) -> UploadSession:
        return await self._resumable.create(new)

    async def upload_session(self, principal: Principal, upload_id: str) -> UploadSession:
        """``NotFound`` unless the caller started it or is an admin; ``Gone`` once terminated
        or expired; ``Forbidden`` unless the caller's token may (still) upload."""
        return await self._resumable.get_writable(principal, upload_id)

    async def concatenate_uploads(self, new: NewUpload) -> tuple[UploadSession, Asset | None]:
        """tus concatenation: commit the partial uploads ``new.partials`` names as one asset
        (see ``engine._concatenation``)."""
        return await self._resumable.concatenate(new)

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
        committed, with the asset (see ``engine._resumable``). ``partial``: the client says
        this is a partial upload (tus concatenation), which it must be."""
        return await self._resumable.append(
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
        await self._resumable.terminate(principal, upload_id)

    async def discard_upload(self, upload_id: str) -> None:
        """Remove a session without a trace (its creation request failed)."""
        await self._resumable.discard(upload_id)

    async def _promote(
        self, spec: UploadSpec, staged: StagedContent, fields: NewAssetFields | None
    ) -> Asset:
        """Called by the upload actor once content is staged: a new asset, or a new version."""
        if spec.target_asset_id is not None:
            return await ask(
                self._mailbox(self._versioning_mailbox),
                lambda r: AddVersion(spec.target_asset_id, spec.principal, staged, r),
            )
        return await self._create_asset(spec, staged, fields or NewAssetFields())

    async def _create_asset(
        self, spec: UploadSpec, staged: StagedContent, fields: NewAssetFields
    ) -> Asset:
        asset_type = self.asset_types()[staged.detected.type]
        asset_id = new_asset_id()
        who = spec.principal
        key = storage_key(who.customer_id, asset_id, 1)
        version = staged.as_version(1, key)
        now = version.created_at
        extracted = dict(version.extracted)
        asset = Asset(
            asset_id=asset_id,
            customer_id=who.customer_id,
            user_id=who.user_id,
            type=asset_type.name,
            name=fields.name or staged.original_filename,
            original_filename=staged.original_filename,
            mime_type=staged.detected.mime_type,
            size=staged.size,
            duration=staged.description.duration,
            dimensions=staged.description.dimensions,
            storage=Storage(bucket=asset_type.bucket, key=key),
            checksum=staged.checksum,
            metadata=Metadata(
                title=fields.title,
                description=fields.description,
                tags=list(fields.tags),
                folder=fields.folder,
                custom=dict(fields.custom),
            ),
            versions=[version],
            created_at=now,
            updated_at=now,
            category=fields.category,
            current_version=1,
            visibility=fields.visibility,
            extracted=extracted,
        )
        self._busy_assets.add(asset_id)
        try:
            await self.store.move(TEMP_BUCKET, staged.temp_key, asset_type.bucket, key)
            try:
                if is_published(asset):
                    try:
                        asset.storage.url = await self.store.set_public(
                            asset_type.bucket, key, True, public_headers(version)
                        )
                    except Exception:
                        logger.exception("could not publish asset %s", asset_id)
                await self.catalog.insert(asset)
            except BaseException:
                with trio.move_on_after(30, shield=True):
                    if is_published(asset):
                        await unpublish(self.store, asset_type.bucket, key)
                    await self.store.delete(asset_type.bucket, key)
                raise
        finally:
            self._busy_assets.discard(asset_id)
        if fields.folder != "/":
            await self.catalog.add_folder(who.customer_id, asset.type, fields.folder)
        # The upload actor announces ``asset.created`` after the upload's final progress.
        return asset

    # --- versions ------------------------------------------------------------------------

    async def restore_version(self, principal: Principal, asset_id: str, number: int) -> Asset:
        return await ask(
            self._mailbox(self._versioning_mailbox),
            lambda r: RestoreVersion(asset_id, principal, number, r),
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
        download itself, not a link to one), a public asset's for any caller."""
        asset = await self.catalog.get(asset_id)
        if public:
            asset = policy.check_downloadable(principal, asset)
        else:
            asset = policy.check_readable(principal, asset)
        number = asset.current_version if version is None else version
        found = asset.version(number)
        if found is None:
            raise NotFound(f"version {number} does not exist")
        return asset, found

    async def linked_content(self, asset_id: str, number: int) -> tuple[Asset, Version]:
        """The content behind a download link the service signed (the HTTP layer checked the
        signature): no caller to check, but never a deleted asset or a pruned version."""
        asset = await self.catalog.get(asset_id)
        if asset is None or asset.is_deleted:
            raise NotFound("no such asset")
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
        it that ``principal`` may see (another user's private assets count for admins only)."""
        self._known_type(asset_type)
        folders = await self.catalog.folders(principal.customer_id, asset_type)
        if policy.is_admin(principal):
            return folders
        query = AssetQuery(customer_id=principal.customer_id, type=asset_type)
        visible = (await self.catalog.stats(self.scoped(principal, query))).by_folder
        return [
            FolderInfo(f.path, visible[f.path].count if f.path in visible else 0) for f in folders
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
        self, asset: Asset, version: Version, expires: float, filename: str
    ) -> str | None:
        """A URL of the blob store itself (S3 presigning), or ``None`` when the store has none
        and the service must sign its own."""
        return await self.store.presigned_url(
            bucket_of(asset, self.asset_types()), version.storage_key, expires, filename
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
        await self._cleanup.purge(asset)

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
            self._mailbox(self._cleanup_mailbox),
            lambda r: RunCleanup(r, wait_for_lease=wait_for_lease),
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
    def _mailbox(channel: trio.MemorySendChannel[Any] | None) -> trio.MemorySendChannel[Any]:
        if channel is None:
            raise EngineStopped("the engine is not running")
        return channel


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
