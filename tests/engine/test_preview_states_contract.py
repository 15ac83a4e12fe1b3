"""Contract of the catalog's record of previews (``PreviewStates``), run against every catalog
adapter: pending states stored before a commit are never overwritten by a repeat, a saved
state replaces its (asset, version, kind), pending versions are listed in order for the
preview actor's restart, and an asset's states go with it."""

from __future__ import annotations

import uuid
from dataclasses import replace

from asset_service.engine.catalog import Catalog
from asset_service.engine.preview_types import (
    PreviewState,
    PreviewStates,
    PreviewStatus,
    PreviewVariant,
)


def state(asset_id: str, version: int = 1, kind: str = "thumbnail") -> PreviewState:
    return PreviewState(asset_id, version, kind, "acme", "image/webp")


async def test_every_catalog_records_previews(catalog: Catalog):
    assert isinstance(catalog, PreviewStates)


async def test_expect_keeps_what_is_there_and_save_replaces(catalog: Catalog):
    assert isinstance(catalog, PreviewStates)
    asset_id = str(uuid.uuid4())
    await catalog.expect_previews([state(asset_id), state(asset_id, kind="poster")])
    ready = replace(
        state(asset_id),
        status=PreviewStatus.READY,
        variants=[PreviewVariant("256", f"acme/{asset_id}/v1.previews/t-256", 10, '"e"', 256, 171)],
    )
    await catalog.save_preview(ready)
    await catalog.expect_previews([state(asset_id)])  # a repeat does not undo the work
    found = await catalog.previews_of(asset_id, 1)
    assert [s.kind for s in found] == ["poster", "thumbnail"]
    assert found[1] == ready
    assert found[0].status == PreviewStatus.PENDING
    failed = replace(state(asset_id, kind="poster"), status=PreviewStatus.FAILED, reason="bad")
    await catalog.save_preview(failed)
    assert (await catalog.previews_of(asset_id, 1))[0].reason == "bad"
    assert await catalog.previews_of(asset_id, 2) == []


async def test_pending_versions_are_listed_in_order_and_paged(catalog: Catalog):
    assert isinstance(catalog, PreviewStates)
    ids = sorted(str(uuid.uuid4()) for _ in range(3))
    for asset_id in ids:
        await catalog.expect_previews(
            [state(asset_id, 1), state(asset_id, 1, "poster"), state(asset_id, 2)]
        )
    await catalog.save_preview(replace(state(ids[1], 2), status=PreviewStatus.READY))
    expected = [(ids[0], 1), (ids[0], 2), (ids[1], 1), (ids[2], 1), (ids[2], 2)]
    assert await catalog.pending_previews() == expected
    first = await catalog.pending_previews(limit=2)
    assert first == expected[:2]
    assert await catalog.pending_previews(first[-1], limit=10) == expected[2:]


async def test_deleting_forgets_a_version_or_the_asset(catalog: Catalog):
    assert isinstance(catalog, PreviewStates)
    asset_id, other = str(uuid.uuid4()), str(uuid.uuid4())
    await catalog.expect_previews([state(asset_id, 1), state(asset_id, 2), state(other)])
    await catalog.delete_previews(asset_id, 1)
    assert [s.version for s in await catalog.previews_of(asset_id)] == [2]
    await catalog.delete_previews(asset_id)
    assert await catalog.previews_of(asset_id) == []
    assert len(await catalog.previews_of(other)) == 1
