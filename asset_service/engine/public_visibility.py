"""Public visibility in the blob store: a public asset's current version is published
(``BlobStore.set_public``) so that stores able to serve it directly do, and the URL is recorded
in ``asset.storage.url``; every other version — and every version of an asset that is not public
or is deleted — is unpublished. The service's own download route serves public assets whatever
the store does, so a failure here is logged and never fails the change that led to it.

A store serving the public copy itself (MinIO, from the bucket's origin) answers with the
``Content-Type`` and ``Content-Disposition`` published with it (``public_headers``): inline for
media only (raster images, audio, video), an attachment for everything else — SVG included,
since nothing checks it on that path. What else the download route sends (``nosniff``, the
Content-Security-Policy) an S3 server can't be told to send per object."""

from __future__ import annotations

import logging

from .blobstore import BlobStore
from .catalog import AssetRecords
from .content_safety import PUBLIC_INLINE_FAMILIES, base_type, content_disposition
from .model import Asset, Version, Visibility

logger = logging.getLogger(__name__)

CAS_ATTEMPTS = 8


def is_published(asset: Asset) -> bool:
    """Whether the store should serve the asset without credentials."""
    return asset.visibility == Visibility.PUBLIC and not asset.is_deleted


def public_headers(version: Version) -> dict[str, str]:
    """The headers a public copy of ``version`` is served with by the store itself."""
    # Only media: the store's origin sends neither nosniff nor a CSP, so PDF and plain text
    # (which the service itself shows inline, under its CSP) are attachments there, as is SVG,
    # which nothing checks on that path.
    inline = base_type(version.mime_type).startswith(PUBLIC_INLINE_FAMILIES)
    return {
        "Content-Type": version.mime_type,
        "Content-Disposition": content_disposition(version.original_filename, inline=inline),
    }


def _current_key(asset: Asset) -> str | None:
    current = asset.version(asset.current_version)
    return current.storage_key if current is not None else None


async def sync_public(store: BlobStore, catalog: AssetRecords, bucket: str, asset: Asset) -> Asset:
    """Publish or unpublish ``asset``'s versions after a committed change, and record the public
    URL (a compare-and-set of its own when it changed). Returns the asset as stored."""
    publish = is_published(asset)
    current = _current_key(asset)
    url: str | None = None
    try:
        for version in asset.versions:
            if not (publish and version.storage_key == current):
                await store.set_public(bucket, version.storage_key, False)
        published = asset.version(asset.current_version)
        if publish and published is not None:
            url = await store.set_public(
                bucket, published.storage_key, True, public_headers(published)
            )
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
