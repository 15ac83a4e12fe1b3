"""Public visibility in the blob store: a public asset's current version has a public copy the
store serves without credentials (S3: ``public/{key}``, URL in ``storage.url``); nothing else
does. On the filesystem store nothing is published and ``storage.url`` stays empty — the
service serves public assets itself. Runs over every engine pair."""

from __future__ import annotations

from asset_service.engine import NewAssetFields
from asset_service.engine.adapters.s3 import MinioBlobStore
from asset_service.engine.model import Visibility

from .conftest import ADMIN, EDITOR
from .test_upload_actor import upload


async def public_keys(engine, bucket: str) -> list[str]:
    return sorted([blob.key async for blob in engine.store.list(bucket, "public/")])


async def test_public_copies_follow_visibility_versions_and_deletion(open_test_engine):
    async with open_test_engine() as engine:
        s3 = isinstance(engine.store, MinioBlobStore)
        fields = NewAssetFields(visibility=Visibility.PUBLIC)
        asset = await upload(engine, [b"TXT:hello"], fields)
        bucket = asset.storage.bucket
        v1 = f"acme/{asset.asset_id}/v1"
        if s3:
            assert asset.storage.url == engine.store.public_url(bucket, v1)
            assert await public_keys(engine, bucket) == [f"public/{v1}"]
        else:
            assert asset.storage.url is None
        assert await engine.catalog.get(asset.asset_id) == asset

        # Away from public: the copy goes, the URL too.
        asset = await engine.update_metadata(
            EDITOR, asset.asset_id, {"visibility": Visibility.CUSTOMER}
        )
        assert asset.storage.url is None
        assert await public_keys(engine, bucket) == []
        assert (await engine.catalog.get(asset.asset_id)).storage.url is None

        # Back to public, then a new version: only the current version is public.
        asset = await engine.update_metadata(
            EDITOR, asset.asset_id, {"visibility": Visibility.PUBLIC}
        )
        assert (asset.storage.url is not None) == s3
        asset = await upload(engine, [b"TXT:second"], target_asset_id=asset.asset_id)
        v2 = f"acme/{asset.asset_id}/v2"
        stored = await engine.catalog.get(asset.asset_id)
        if s3:
            assert stored.storage.url == engine.store.public_url(bucket, v2)
            assert await public_keys(engine, bucket) == [f"public/{v2}"]
            got = b"".join([c async for c in engine.store.read(bucket, f"public/{v2}")])
            assert got == b"TXT:second"
        else:
            assert stored.storage.url is None

        # Restoring v1 publishes the new current version (v3) instead.
        await engine.restore_version(EDITOR, asset.asset_id, 1)
        stored = await engine.catalog.get(asset.asset_id)
        v3 = f"acme/{asset.asset_id}/v3"
        if s3:
            assert stored.storage.url == engine.store.public_url(bucket, v3)
            assert await public_keys(engine, bucket) == [f"public/{v3}"]

        # A deleted asset is never public; restoring it republishes it.
        deleted = await engine.soft_delete(EDITOR, asset.asset_id)
        assert deleted.storage.url is None
        assert await public_keys(engine, bucket) == []
        restored = await engine.restore_deleted(ADMIN, asset.asset_id)
        if s3:
            assert restored.storage.url == engine.store.public_url(bucket, v3)
            assert await public_keys(engine, bucket) == [f"public/{v3}"]

        # Purging removes the public copy with the blobs.
        await engine.purge(ADMIN, asset.asset_id)
        assert await public_keys(engine, bucket) == []
        assert [blob.key async for blob in engine.store.list(bucket)] == []


async def test_metadata_edits_of_non_public_assets_publish_nothing(open_test_engine):
    async with open_test_engine() as engine:
        asset = await upload(engine, [b"TXT:hello"])
        asset = await engine.update_metadata(EDITOR, asset.asset_id, {"title": "T"})
        assert asset.storage.url is None and asset.revision == 2
        assert await public_keys(engine, asset.storage.bucket) == []


async def test_the_orphan_scan_leaves_public_copies_alone(open_test_engine):
    async with open_test_engine(temp_ttl=0.0) as engine:
        fields = NewAssetFields(visibility=Visibility.PUBLIC)
        asset = await upload(engine, [b"TXT:hello"], fields)
        report = await engine.run_cleanup()
        assert report.orphans_removed == 0
        expected = [f"public/acme/{asset.asset_id}/v1"] if asset.storage.url else []
        assert await public_keys(engine, asset.storage.bucket) == expected
