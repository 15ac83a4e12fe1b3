"""The versioning actor: serialises every change to an asset's versions — a new version, the
restore of an older one, pruning past the retention limit — so that within one engine version
numbers never repeat or skip.

Across engines (several service instances) a version number is reserved in the catalog before
its blob is placed: the reservation is a lease named ``versions:{asset_id}``, so only its holder
picks the next number and writes ``{customer}/{asset}/v{n}``, and the compare-and-set on
``revision`` then publishes the version (retrying with the same number when only the record's
metadata changed meanwhile). Without the reservation two instances would pick the same number,
and the loser of the compare-and-set would already have overwritten the winner's blob. The
holder renews the reservation every ``RESERVATION_RENEW_EVERY`` seconds for as long as it works
(placing a big blob on S3 is a server-side copy of any length), so the lease need not outlast
the longest placement: a reservation outlives a crashed instance by at most ``RESERVATION_TTL``
(until then that asset's new versions are refused with 409, "try again"). The blob a crashed
holder may have placed is unreferenced; the cleanup's orphan sweep removes it (or the next
holder overwrites it)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trio

from . import policy
from ._actor import Reply, answer_with
from ._public import is_published, sync_public, unpublish
from ._upload import StagedContent
from .blobstore import BlobStore
from .catalog import Catalog
from .errors import Conflict, NotFound, UnsupportedContent
from .events import EventHub, asset_event
from .model import (
    TEMP_BUCKET,
    Asset,
    AssetType,
    Principal,
    Version,
    bucket_of,
    storage_key,
)

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
class AddVersion:
    asset_id: str
    principal: Principal
    staged: StagedContent
    reply: Reply


@dataclass(slots=True)
class RestoreVersion:
    asset_id: str
    principal: Principal
    number: int
    reply: Reply


class VersioningActor:
    #: runs the reservation keeper of the change in progress (opened by ``run``)
    _keepers: trio.Nursery
    #: previews: called with the record and the new version just before the commit
    before_commit: Callable[[Asset, Version], Awaitable[None]] | None = None

    def __init__(
        self,
        store: BlobStore,
        catalog: Catalog,
        hub: EventHub,
        asset_types: Callable[[], dict[str, AssetType]],
        max_versions: int,
        busy_assets: set[str],
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._hub = hub
        self._asset_types = asset_types
        self._max_versions = max_versions
        self._busy_assets = busy_assets
        #: who holds this engine's version reservations
        self._holder = f"versioning-{uuid.uuid4().hex}"

    async def run(
        self,
        mailbox: trio.MemoryReceiveChannel[Any],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        # The nursery runs the reservation keepers of the change in progress.
        async with mailbox, trio.open_nursery() as self._keepers:
            task_status.started()
            async for message in mailbox:
                match message:
                    case AddVersion(asset_id=asset_id, principal=who, staged=staged, reply=reply):
                        await answer_with(reply, lambda: self._add(asset_id, who, staged))
                    case RestoreVersion(asset_id=asset_id, principal=who, number=n, reply=reply):
                        await answer_with(reply, lambda: self._restore(asset_id, who, n))
                    case _:
                        logger.error("versioning actor: unexpected message %r", message)

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
        check: Callable[[Asset], Any],
        *,
        copy: bool = False,
    ) -> Asset:
        """Reserve the asset's next version number, place the content at its key, then
        compare-and-set the record (again with the same number if only metadata changed)."""
        self._busy_assets.add(asset_id)
        try:
            await self._reserve(asset_id)
            keeper: _Keeper | None = None
            placed: tuple[str, str] | None = None
            committed = lost = False
            try:
                keeper = await self._keepers.start(self._keep_reserved, asset_id)
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
        finally:
            self._busy_assets.discard(asset_id)
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
