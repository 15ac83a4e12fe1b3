"""The previews as the HTTP layer and the CLI see them (``AssetEngine.previews``).

Reads check access like a download of the asset does. A preview the type offers but that has
no state yet (an asset stored before previews existed, or before its plugin gained the hook)
is stored as pending and queued at the first request, so it is answered ``202`` like any
other pending one. ``make_missing`` is ``asset-service previews --missing``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from . import policy
from .actor import ask
from .blobstore import BlobStore
from .catalog import Catalog
from .errors import EngineStopped, NotFound
from .model import Asset, AssetType, Principal, Version, bucket_of
from .preview_store import read_variant
from .preview_types import PreviewState, PreviewStates, PreviewStatus, PreviewVariant
from .previews import MakePreviewsNow, PreviewActor


@dataclass(frozen=True, slots=True)
class FoundPreview:
    asset: Asset
    version: Version
    state: PreviewState


@dataclass(slots=True)
class MissingReport:
    assets_seen: int = 0
    versions_done: int = 0
    ready: int = 0
    failed: int = 0


class PreviewAccess:
    def __init__(
        self,
        store: BlobStore,
        catalog: Catalog,
        states: PreviewStates | None,
        actor: PreviewActor | None,
        asset_types: Callable[[], dict[str, AssetType]],
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._states = states
        self._actor = actor
        self._asset_types = asset_types

    @property
    def enabled(self) -> bool:
        return self._actor is not None and self._states is not None

    async def of_version(self, asset: Asset, number: int | None = None) -> list[PreviewState]:
        """The states of a version (the current one by default) for the asset JSON: the
        stored ones, and a pending one for each offered kind not stored yet."""
        if not self.enabled:
            return []
        assert self._states is not None and self._actor is not None
        version = asset.version(asset.current_version if number is None else number)
        if version is None:
            return []
        stored = {
            s.kind: s for s in await self._states.previews_of(asset.asset_id, version.version)
        }
        for expected in self._actor.pending_states(asset, version):
            stored.setdefault(expected.kind, expected)
        return [stored[kind] for kind in sorted(stored)]

    async def find(
        self,
        principal: Principal | None,
        asset_id: str,
        kind: str,
        number: int | None,
        *,
        linked: bool = False,
        for_link: bool = False,
    ) -> FoundPreview:
        """The state of one preview. ``linked``: a signed link (no caller to check, but never
        a deleted asset); ``for_link``: to sign a link to it, which needs a caller who may read
        the asset (as a download link: a link outlives a change of visibility, so being public
        is not enough); otherwise access as for a download. ``NotFound`` when previews are off
        or the type offers no such kind."""
        asset = await self._catalog.get(asset_id)
        if linked:
            if asset is None or asset.is_deleted:
                raise NotFound("no such asset")
        elif for_link:
            if principal is None:  # the HTTP layer asks for a token first: never reached
                raise NotFound("no such asset")
            asset = policy.check_readable(principal, asset)
        else:
            asset = policy.check_downloadable(principal, asset)
        version = asset.version(asset.current_version if number is None else number)
        if version is None:
            raise NotFound(f"version {number} does not exist")
        if not self.enabled:
            raise NotFound("previews are turned off here (ASSET_PREVIEWS=off)")
        assert self._states is not None and self._actor is not None
        offered = {p.kind: p for p in self._actor.offered(asset.type, version.mime_type)}
        stored = {s.kind: s for s in await self._states.previews_of(asset_id, version.version)}
        if kind not in offered and kind not in stored:
            kinds = ", ".join(sorted(offered)) or "none"
            raise NotFound(
                f"a {version.mime_type} {asset.type} asset has no {kind!r} preview "
                f"(its previews: {kinds})"
            )
        state = stored.get(kind)
        if state is None:
            # Offered but never expected (stored before previews existed): make it now.
            await self._actor.expect(asset, version)
            self._actor.tell(asset_id, version.version)
            state = next(s for s in self._actor.pending_states(asset, version) if s.kind == kind)
        elif state.status == PreviewStatus.PENDING:
            self._actor.tell(asset_id, version.version)  # repeated messages are dropped
        return FoundPreview(asset, version, state)

    async def read(self, found: FoundPreview, variant: PreviewVariant) -> bytes:
        bucket = bucket_of(found.asset, self._asset_types())
        return await read_variant(self._store, bucket, variant)

    async def make_missing(self, batch: int = 200) -> AsyncIterator[tuple[Asset, MissingReport]]:
        """Make every missing preview of every stored version, asset by asset (in id order,
        so an interrupted run that is started again goes quickly over what is done: done
        versions have no pending state). Yields after each asset, for a progress bar."""
        if not self.enabled:
            raise NotFound("previews are turned off here (ASSET_PREVIEWS=off)")
        assert self._states is not None and self._actor is not None
        report = MissingReport()
        after: str | None = None
        while ids := await self._states.asset_ids(after, batch):
            for asset_id in ids:
                after = asset_id
                asset = await self._catalog.get(asset_id)
                if asset is None or asset.is_deleted:
                    continue
                report.assets_seen += 1
                for version in asset.versions:
                    if await self._missing(asset, version):
                        await self._actor.expect(asset, version)
                        states = await self._ask(asset_id, version.version)
                        report.versions_done += 1
                        report.ready += sum(s.status == PreviewStatus.READY for s in states)
                        report.failed += sum(s.status == PreviewStatus.FAILED for s in states)
                yield asset, report

    async def count_assets(self) -> int:
        """How many assets ``make_missing`` will walk (for the progress bar's total)."""
        if self._states is None:
            return 0
        total, after = 0, None
        while ids := await self._states.asset_ids(after, 1000):
            total += len(ids)
            after = ids[-1]
        return total

    async def _missing(self, asset: Asset, version: Version) -> bool:
        assert self._states is not None and self._actor is not None
        stored = {
            s.kind: s for s in await self._states.previews_of(asset.asset_id, version.version)
        }
        return any(
            p.kind not in stored or stored[p.kind].status == PreviewStatus.PENDING
            for p in self._actor.offered(asset.type, version.mime_type)
        )

    async def _ask(self, asset_id: str, number: int) -> list[PreviewState]:
        assert self._actor is not None
        mailbox = self._actor.mailbox()
        if mailbox is None:
            raise EngineStopped("the engine is not running")
        return await ask(mailbox, MakePreviewsNow(asset_id, number))
