"""The versioning actor: owns what an asset's content is — creating an asset (its version 1),
adding a version, restoring an older one, pruning past the retention limit.

Changes to existing assets are handled one at a time, and across instances a version number is
reserved in the catalog (the lease ``versions:{asset_id}``, renewed while the work runs) before
its blob is placed, so ``v{n}`` is never written twice. A creation runs as a task of its own: its
asset id is new and nobody else's. The reservation's timings and crash behaviour are described in
``docs/architecture.md``."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import outcome
import trio

from . import policy
from .actor import Inbox, Request
from .dependencies import EngineDeps
from .errors import Conflict, NotFound, UnsupportedContent
from .events import asset_event
from .fields import NewAssetFields
from .inspection import Description, Detected
from .model import (
    TEMP_BUCKET,
    Asset,
    Metadata,
    Principal,
    Storage,
    Version,
    bucket_of,
    new_asset_id,
    storage_key,
    utc_now,
)
from .public_visibility import is_published, public_headers, sync_public, unpublish

logger = logging.getLogger(__name__)

CAS_ATTEMPTS = 8
#: how long a version reservation outlives an instance that crashed while holding it. A live
#: holder renews it every RESERVATION_RENEW_EVERY seconds however long its work takes; the TTL
#: leaves room for two renewals in a row to time out (the catalogs' operation timeout is 30 s)
#: before another instance could take the number and write the same ``v{n}``.
RESERVATION_TTL = 90.0
RESERVATION_RENEW_EVERY = 10.0
#: how long a change waits for another instance's reservation of the same asset before a 409
#: ("try again"): a holder that is alive gives it back within moments
RESERVATION_WAIT = 30.0


def reservation_name(asset_id: str) -> str:
    return f"versions:{asset_id}"


class ReservationLost(Conflict):
    """Another instance took this asset's version reservation (ours had run out)."""


@dataclass(slots=True)
class _Keeper:
    """The task renewing one reservation. ``stop`` waits until it is gone: a renewal already
    running in a worker thread would otherwise land after the release and take the lease
    again."""

    scope: trio.CancelScope
    done: trio.Event

    async def stop(self) -> None:
        self.scope.cancel()
        await self.done.wait()


@dataclass(slots=True)
class StagedContent:
    """A complete, inspected upload, ready to be promoted: in the temp bucket under
    ``temp_key``, or — a new asset on a store that is not local (S3) — already at its final key
    (``placed``)."""

    upload_id: str
    temp_key: str
    size: int
    checksum: str
    detected: Detected
    description: Description
    original_filename: str
    #: ``(bucket, key)`` where the content already is, complete: version 1's own key (its id,
    #: ``CreateAsset.asset_id``, of the upload's own making), so nothing is copied (the
    #: creation removes it if it fails)
    placed: tuple[str, str] | None = None

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


# --- messages ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateAsset(Request[Asset]):
    """Make staged content version 1 of a new asset; answered with the asset."""

    principal: Principal
    staged: StagedContent
    fields: NewAssetFields
    #: fixed beforehand (a tus commit): if an asset with this id exists already with the same
    #: content, an earlier attempt made it, and it is the answer (see ``_existing``)
    asset_id: str | None = None


@dataclass(frozen=True, slots=True)
class AddVersion(Request[Asset]):
    """Make staged content the next version of an asset; answered with the asset."""

    asset_id: str
    principal: Principal
    staged: StagedContent


@dataclass(frozen=True, slots=True)
class RestoreVersion(Request[Asset]):
    """Copy an older version to become the next one; answered with the asset."""

    asset_id: str
    principal: Principal
    number: int


class VersioningActor:
    #: runs the creations and the reservation keeper of the change in progress (opened by
    #: ``run``)
    _tasks: trio.Nursery
    #: previews: called with the record and its new version just before either is committed
    #: (a creation's insert, a new or restored version's replace), so a crash after the
    #: commit finds the previews pending
    before_commit: Callable[[Asset, Version], Awaitable[None]] | None = None

    def __init__(self, deps: EngineDeps) -> None:
        self._store = deps.store
        self._catalog = deps.catalog
        self._hub = deps.hub
        self._asset_types = deps.asset_types
        self._max_versions = deps.config.max_versions
        self._in_flight = deps.in_flight
        #: who holds this engine's version reservations
        self._holder = f"versioning-{uuid.uuid4().hex}"

    async def run(
        self, inbox: Inbox, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Changes to existing assets' versions are handled one at a time, in order. A creation
        runs as a task of its own at once: its asset is new, nobody else can address it, and a
        long placement (a server-side copy on S3) must not hold up the next message."""
        async with inbox, trio.open_nursery() as self._tasks:
            task_status.started()
            async for envelope in inbox:
                match envelope.request:
                    case CreateAsset() as create:
                        self._tasks.start_soon(envelope.answer_with, partial(self._create, create))
                    case AddVersion(asset_id=asset_id, principal=who, staged=staged):
                        await envelope.answer_with(lambda: self._add(asset_id, who, staged))
                    case RestoreVersion(asset_id=asset_id, principal=who, number=n):
                        await envelope.answer_with(lambda: self._restore(asset_id, who, n))
                    case request:
                        logger.error("versioning actor: unexpected request %r", request)
                        envelope.answer(outcome.Error(TypeError(f"not a request: {request!r}")))

    async def _create(self, create: CreateAsset) -> Asset:
        """Place the content as version 1 of a new asset, then insert the record (a crash in
        between leaves an orphan blob for the cleanup, never a record without content).
        Content already ``placed`` at its final key is not moved, and is removed if the
        creation fails before the record is in."""
        staged = create.staged
        inserted = False
        try:
            asset = await self._insert_new(create)
            inserted = True
        finally:
            if staged.placed is not None and not inserted:
                with trio.move_on_after(30, shield=True):
                    await self._store.delete(*staged.placed)
        if create.fields.folder != "/":
            await self._catalog.add_folder(
                create.principal.customer_id, asset.type, create.fields.folder
            )
        # The upload actor announces ``asset.created`` after the upload's final progress.
        return asset

    async def _insert_new(self, create: CreateAsset) -> Asset:
        policy.require_writer(create.principal)
        staged, fields, who = create.staged, create.fields, create.principal
        asset_type = self._asset_types()[staged.detected.type]
        asset_id = create.asset_id or new_asset_id()
        if create.asset_id is not None and staged.placed is None:
            # Content placed at its final key came with an id of the upload's own making: no
            # earlier attempt can have used it.
            existing = await self._existing(create)
            if existing is not None:
                return existing
        key = storage_key(who.customer_id, asset_id, 1)
        if staged.placed is not None and staged.placed != (asset_type.bucket, key):
            raise RuntimeError(f"content placed at {staged.placed}, not at {key}")
        version = staged.as_version(1, key)
        now = version.created_at
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
            extracted=dict(version.extracted),
        )
        with self._in_flight.assets.holding(asset_id):
            if staged.placed is None:
                await self._store.move(TEMP_BUCKET, staged.temp_key, asset_type.bucket, key)
            try:
                if is_published(asset):
                    try:
                        asset.storage.url = await self._store.set_public(
                            asset_type.bucket, key, True, public_headers(version)
                        )
                    except Exception:
                        logger.exception("could not publish asset %s", asset_id)
                if self.before_commit is not None:  # previews: pending before the commit
                    await self.before_commit(asset, version)
                await self._catalog.insert(asset)
            except KeyError:
                # Only a fixed id can be taken: an earlier attempt of this very commit, whose
                # blob at ``key`` holds the same content — it stays, and so does its record.
                existing = await self._existing(create)
                if existing is None:
                    raise
                return existing
            except BaseException:
                with trio.move_on_after(30, shield=True):
                    if is_published(asset):
                        await unpublish(self._store, asset_type.bucket, key)
                    await self._store.delete(asset_type.bucket, key)
                raise
        return asset

    async def _existing(self, create: CreateAsset) -> Asset | None:
        """The asset an earlier attempt of this creation made under its fixed id, if any. The
        same id with other content or another owner is never answered with."""
        assert create.asset_id is not None
        asset = await self._catalog.get(create.asset_id)
        if asset is None:
            return None
        first = asset.version(1)  # ``None`` once pruned: the id was this upload's all the same
        if asset.customer_id != create.principal.customer_id or (
            first is not None and first.checksum != create.staged.checksum
        ):
            raise Conflict("the asset id fixed for this upload belongs to other content")
        # The staged copy is not needed: the upload actor removes what is left in the temp
        # bucket.
        return asset

    async def _add(self, asset_id: str, principal: Principal, staged: StagedContent) -> Asset:
        source = (TEMP_BUCKET, staged.temp_key)

        async def check_type(asset: Asset) -> None:
            if staged.detected.type != asset.type:
                raise UnsupportedContent(
                    f"a new version of a {asset.type} asset must be {asset.type} content, "
                    f"but the bytes are {staged.detected.type} ({staged.detected.mime_type})"
                )

        return await self._commit_version(
            asset_id, principal, source, staged.as_version, check_type
        )

    async def _restore(self, asset_id: str, principal: Principal, number: int) -> Asset:
        asset = policy.check_writable(principal, await self._catalog.get(asset_id))
        old = asset.version(number)
        if old is None:
            raise NotFound(f"version {number} does not exist (or was pruned)")
        source = (bucket_of(asset, self._asset_types()), old.storage_key)

        async def no_check(asset: Asset) -> None:
            return None

        return await self._commit_version(
            asset_id, principal, source, old.renumbered, no_check, copy=True
        )

    async def _commit_version(
        self,
        asset_id: str,
        principal: Principal,
        source: tuple[str, str],
        version_from: Callable[[int, str], Version],
        check: Callable[[Asset], Awaitable[None]],
        *,
        copy: bool = False,
    ) -> Asset:
        """Reserve the asset's next version number, place the content at its key, then
        compare-and-set the record (again with the same number if only metadata changed)."""
        with self._in_flight.assets.holding(asset_id):
            await self._reserve(asset_id)
            keeper: _Keeper | None = None
            placed: tuple[str, str] | None = None
            committed = lost = False
            try:
                keeper = await self._tasks.start(self._keep_reserved, asset_id)
                for _ in range(CAS_ATTEMPTS):
                    asset = policy.check_writable(principal, await self._catalog.get(asset_id))
                    await check(asset)
                    bucket = bucket_of(asset, self._asset_types())
                    number = max([asset.current_version, *(v.version for v in asset.versions)]) + 1
                    key = storage_key(asset.customer_id, asset.asset_id, number)
                    if placed is None:
                        await self._renew(asset_id)
                        if copy:
                            await self._store.copy(*source, bucket, key)
                        else:
                            await self._store.move(*source, bucket, key)
                        placed = (bucket, key)
                    elif placed != (bucket, key):
                        # Versions appeared that we did not add while we held the reservation:
                        # ``placed`` is someone else's key now. Leave it alone.
                        raise ReservationLost(
                            "another instance added a version meanwhile; try again"
                        )
                    version = version_from(number, key)
                    expected = asset.revision
                    pruned = self._apply(asset, version)
                    await self._renew(asset_id)
                    if self.before_commit is not None:  # previews: pending before the commit
                        await self.before_commit(asset, version)
                    if await self._catalog.replace(asset, expected):
                        committed = True
                        break
                else:
                    raise Conflict("the asset changed too often while adding a version; try again")
            except ReservationLost:
                lost = True
                raise
            finally:
                with trio.move_on_after(60, shield=True):
                    if keeper is not None:
                        await keeper.stop()
                    if placed is not None and not committed and not lost:
                        await self._store.delete(*placed)
                    await self._catalog.release_lease(reservation_name(asset_id), self._holder)
        for old in pruned:
            await unpublish(self._store, bucket, old.storage_key)
            await self._store.delete(bucket, old.storage_key)
        if is_published(asset):
            asset = await sync_public(self._store, self._catalog, bucket, asset)
        self._hub.publish(asset_event("version.created", asset, version=version.version))
        return asset

    async def _reserve(self, asset_id: str) -> None:
        """Take the asset's version reservation, waiting (bounded) while another instance
        holds it."""
        delay = 0.01
        with trio.move_on_after(RESERVATION_WAIT):
            while not await self._catalog.acquire_lease(
                reservation_name(asset_id), self._holder, RESERVATION_TTL
            ):
                await trio.sleep(delay)
                delay = min(delay * 2, 0.5)
            return
        raise Conflict("another instance is changing this asset's versions; try again")

    async def _keep_reserved(self, asset_id: str, *, task_status: trio.TaskStatus[_Keeper]) -> None:
        """Renew the reservation until stopped. A failed renewal is left to the next step's
        ``_renew`` to notice: this task must never fail, or the actor's nursery would."""
        done = trio.Event()
        try:
            with trio.CancelScope() as scope:
                task_status.started(_Keeper(scope, done))
                while True:
                    await trio.sleep(RESERVATION_RENEW_EVERY)
                    try:
                        if not await self._catalog.acquire_lease(
                            reservation_name(asset_id), self._holder, RESERVATION_TTL
                        ):
                            return
                    except Exception:
                        logger.warning("renewing the version reservation of %s failed", asset_id)
        finally:
            done.set()

    async def _renew(self, asset_id: str) -> None:
        """Extend the reservation before each step that relies on it."""
        if not await self._catalog.acquire_lease(
            reservation_name(asset_id), self._holder, RESERVATION_TTL
        ):
            raise ReservationLost("this asset's version reservation ran out; try again")

    def _apply(self, asset: Asset, version: Version) -> list[Version]:
        """Make ``version`` current; returns the versions pruned past the retention limit."""
        asset.versions.append(version)
        asset.current_version = version.version
        asset.size = version.size
        asset.checksum = version.checksum
        asset.mime_type = version.mime_type
        asset.original_filename = version.original_filename
        asset.duration = version.duration
        asset.dimensions = version.dimensions
        asset.extracted = dict(version.extracted)
        asset.storage.key = version.storage_key
        asset.updated_at = version.created_at
        asset.revision += 1
        pruned: list[Version] = []
        while len(asset.versions) > self._max_versions:
            pruned.append(asset.versions.pop(0))
        return pruned
