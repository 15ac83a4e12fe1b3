"""The ``AssetRecords`` contract, run against every catalog adapter (``conftest.CATALOGS``):
a record round-trips whole, ``replace`` is compare-and-set on the revision, and the cleanup's
``deleted_before`` finds the trash oldest first across customers."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from asset_service.engine.catalog import AssetRecords
from asset_service.engine.model import Asset, Storage

from .catalog_samples import T0, make_asset


async def test_insert_get_round_trip(catalog: AssetRecords) -> None:
    asset = make_asset(folder="/a/b")
    await catalog.insert(asset)
    stored = await catalog.get(asset.asset_id)
    assert stored == asset
    assert stored is not asset
    assert await catalog.get("no-such-asset") is None


async def test_round_trip_of_sparse_asset(catalog: AssetRecords) -> None:
    asset = Asset(
        asset_id="sparse",
        customer_id="cust-1",
        user_id="u",
        type="document",
        name="n",
        original_filename="n.pdf",
        mime_type="application/pdf",
        size=0,
        storage=Storage("document-assets", "cust-1/sparse/v1"),
        checksum="sha256:0",
        created_at=T0,
        updated_at=T0,
    )
    await catalog.insert(asset)
    assert await catalog.get("sparse") == asset


async def test_deleted_asset_is_still_got(catalog: AssetRecords) -> None:
    asset = make_asset(deleted=100)
    await catalog.insert(asset)
    assert await catalog.get(asset.asset_id) == asset


async def test_duplicate_insert_raises_key_error(catalog: AssetRecords) -> None:
    asset = make_asset()
    await catalog.insert(asset)
    other = dataclasses.replace(asset, name="impostor", customer_id="cust-2")
    with pytest.raises(KeyError):
        await catalog.insert(other)
    assert await catalog.get(asset.asset_id) == asset


async def test_replace_is_compare_and_set(catalog: AssetRecords) -> None:
    asset = make_asset(folder="/old")
    await catalog.insert(asset)

    changed = dataclasses.replace(asset, name="renamed", revision=2)
    changed.metadata = dataclasses.replace(asset.metadata, folder="/new")
    assert await catalog.replace(changed, expected_revision=1) is True
    assert await catalog.get(asset.asset_id) == changed

    stale = dataclasses.replace(asset, name="lost update", revision=2)
    assert await catalog.replace(stale, expected_revision=1) is False
    assert await catalog.get(asset.asset_id) == changed


async def test_replace_missing_is_false(catalog: AssetRecords) -> None:
    missing = make_asset()
    assert await catalog.replace(missing, expected_revision=1) is False
    assert await catalog.get(missing.asset_id) is None


async def test_delete(catalog: AssetRecords) -> None:
    keep, drop = make_asset(), make_asset()
    await catalog.insert(keep)
    await catalog.insert(drop)
    await catalog.delete(drop.asset_id)
    assert await catalog.get(drop.asset_id) is None
    assert await catalog.get(keep.asset_id) == keep
    await catalog.delete(drop.asset_id)  # missing: not an error
    await catalog.delete("never-existed")


async def test_deleted_before(catalog: AssetRecords) -> None:
    live = make_asset()
    late = make_asset(deleted=300)
    early = make_asset(deleted=100, customer_id="cust-2")
    middle = make_asset(deleted=200)
    for asset in (live, late, early, middle):
        await catalog.insert(asset)

    cutoff = T0 + timedelta(seconds=250)
    assert await catalog.deleted_before(cutoff) == [early, middle]  # oldest first, all customers
    assert await catalog.deleted_before(cutoff, limit=1) == [early]
    assert await catalog.deleted_before(T0) == []
    assert await catalog.deleted_before(T0 + timedelta(seconds=100)) == [early]  # inclusive
    assert [a.asset_id for a in await catalog.deleted_before(T0 + timedelta(days=1))] == [
        early.asset_id,
        middle.asset_id,
        late.asset_id,
    ]
