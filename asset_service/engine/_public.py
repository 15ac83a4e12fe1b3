"""Public visibility in the blob store: a public asset's current version is published
(``BlobStore.set_public``) so that stores able to serve it directly do, and the URL is recorded
in ``asset.storage.url``; every other version — and every version of an asset that is not public
or is deleted — is unpublished. The service's own download route serves public assets whatever
the store does, so a failure here is logged and never fails the change that led to it."""

from __future__ import annotations

import logging

from .blobstore import BlobStore
from .catalog import Catalog
from .model import Asset, Visibility

logger = logging.getLogger(__name__)

CAS_ATTEMPTS = 8


def is_published(asset: Asset) -> bool:
    """Whether the store should serve the asset without credentials."""
    return asset.visibility == Visibility.PUBLIC and not asset.is_deleted


def _current_key(asset: Asset) -> str | None:
    current = asset.version(asset.current_version)
    return current.storage_key if current is not None else None


async def sync_public(store: BlobStore, catalog: Catalog, bucket: str, asset: Asset) -> Asset:
    """Publish or unpublish ``asset``'s versions after a committed change, and record the public
    URL (a compare-and-set of its own when it changed). Returns the asset as stored."""
    publish = is_published(asset)
    current = _current_key(asset)
    url: str | None = None
    try:
        for version in asset.versions:
            if not (publish and version.storage_key == current):
                await store.set_public(bucket, version.storage_key, False)
        if publish and current is not None:
            url = await store.set_public(bucket, current, True)
    except Exception:
        logger.exception("could not update the public copies of asset %s", asset.asset_id)
        return asset
    for _ in range(CAS_ATTEMPTS):
        if asset.storage.url == url:
            return asset
        expected = asset.revision
        asset.storage.url = url
        asset.revision = expected + 1
        if await catalog.replace(asset, expected):
            return asset
        fresh = await catalog.get(asset.asset_id)
        if fresh is None or is_published(fresh) != publish or _current_key(fresh) != current:
            # Changed meanwhile in a way that makes its own call here.
            return fresh if fresh is not None else asset
        asset = fresh
    logger.warning("could not record the public URL of asset %s", asset.asset_id)
    return asset


async def unpublish(store: BlobStore, bucket: str, key: str) -> None:
    """Remove one blob's public copy, logging a failure."""
    try:
        await store.set_public(bucket, key, False)
    except Exception:
        logger.exception("could not remove the public copy of %s/%s", bucket, key)
