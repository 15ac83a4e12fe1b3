"""The versioning actor: serialises every change to an asset's versions — a new version, the
restore of an older one, pruning past the retention limit — so that within one engine version
numbers never repeat or skip. Across engines (several service instances) the catalog's
compare-and-set on ``revision`` decides, and the loser retries with the next number."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from . import policy
from ._actor import Reply, answer_with
from ._upload import StagedContent
from .blobstore import BlobStore
from .catalog import Catalog
from .errors import Conflict, NotFound, UnsupportedContent
from .events import Event, EventHub
from .model import (
    TEMP_BUCKET,
    Asset,
    AssetType,
    Principal,
    Version,
    bucket_of,
    storage_key,
    utc_now,
)

logger = logging.getLogger(__name__)

CAS_ATTEMPTS = 8


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

    async def run(
        self,
        mailbox: trio.MemoryReceiveChannel[Any],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with mailbox:
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

        def version_from(number: int, key: str) -> Version:
            return Version(
                version=number,
                created_at=utc_now(),
                size=staged.size,
                storage_key=key,
                checksum=staged.checksum,
                mime_type=staged.detected.mime_type,
                original_filename=staged.original_filename,
                duration=staged.description.duration,
                dimensions=staged.description.dimensions,
                extracted={"format": staged.detected.format, **staged.description.extracted},
            )

        async def check_type(asset: Asset) -> None:
            if staged.detected.type != asset.type:
                raise UnsupportedContent(
                    f"a new version of a {asset.type} asset must be {asset.type} content, "
                    f"but the bytes are {staged.detected.type} ({staged.detected.mime_type})"
                )

        return await self._commit_version(asset_id, principal, source, version_from, check_type)

    async def _restore(self, asset_id: str, principal: Principal, number: int) -> Asset:
        asset = policy.check_writable(principal, await self._catalog.get(asset_id))
        old = asset.version(number)
        if old is None:
            raise NotFound(f"version {number} does not exist (or was pruned)")
        source = (bucket_of(asset, self._asset_types()), old.storage_key)

        def version_from(new_number: int, key: str) -> Version:
            return Version(
                version=new_number,
                created_at=utc_now(),
                size=old.size,
                storage_key=key,
                checksum=old.checksum,
                mime_type=old.mime_type,
                original_filename=old.original_filename,
                duration=old.duration,
                dimensions=old.dimensions,
                extracted=dict(old.extracted),
            )

        async def no_check(asset: Asset) -> None:
            return None

        return await self._commit_version(
            asset_id, principal, source, version_from, no_check, copy=True
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
        """Place the content at the next version's key and compare-and-set the record; on a
        lost race, move it to the next free number and try again."""
        self._busy_assets.add(asset_id)
        placed: tuple[str, str] | None = None
        committed = False
        try:
            for _ in range(CAS_ATTEMPTS):
                asset = policy.check_writable(principal, await self._catalog.get(asset_id))
                await check(asset)
                bucket = bucket_of(asset, self._asset_types())
                number = max([asset.current_version, *(v.version for v in asset.versions)]) + 1
                key = storage_key(asset.customer_id, asset.asset_id, number)
                if placed != (bucket, key):
                    if placed is not None:
                        await self._store.move(*placed, bucket, key)
                    elif copy:
                        await self._store.copy(*source, bucket, key)
                    else:
                        await self._store.move(*source, bucket, key)
                    placed = (bucket, key)
                version = version_from(number, key)
                expected = asset.revision
                pruned = self._apply(asset, version)
                if await self._catalog.replace(asset, expected):
                    committed = True
                    break
            else:
                raise Conflict("the asset changed too often while adding a version; try again")
        finally:
            if placed is not None and not committed:
                with trio.move_on_after(30, shield=True):
                    await self._store.delete(*placed)
            self._busy_assets.discard(asset_id)
        for old in pruned:
            await self._store.delete(bucket, old.storage_key)
        self._hub.publish(
            Event(
                "version.created",
                asset.customer_id,
                {"asset_id": asset.asset_id, "version": version.version},
            )
        )
        return asset

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
