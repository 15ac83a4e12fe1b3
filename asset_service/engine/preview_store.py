"""Where preview blobs live and how they are written, read and removed.

A preview is a derived blob in its version's bucket, beside the version's own key:
``{customer}/{asset}/v{n}.previews/{kind}-{variant}`` (a separate segment, so the version key
``…/v{n}`` itself stays a plain blob on every store). The cleanup's orphan sweep recognises
these keys (``PREVIEW_KEY``) and removes those whose version is gone from the record.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import trio

from .blobstore import BlobStore
from .model import Asset
from .preview_types import PreviewStates, PreviewVariant, RenderedPreview

#: a preview blob's key, as the cleanup's orphan sweep recognises it
PREVIEW_KEY = re.compile(
    r"^(?P<customer>[^/]+)/(?P<asset>[0-9a-f-]{36})/v(?P<number>\d+)\.previews/[a-z0-9_-]+$"
)
_NAME = re.compile(r"^[a-z0-9_]{1,40}$")
CHUNK = 1024 * 1024


def preview_key(version_key: str, kind: str, variant: str) -> str:
    if not (_NAME.match(kind) and _NAME.match(variant)):
        raise ValueError(f"preview kind and variant must be short lower-case words: {kind!r}")
    return f"{version_key}.previews/{kind}-{variant}"


def previews_prefix(asset: Asset) -> str:
    return f"{asset.customer_id}/{asset.asset_id}/"


def _read_chunks(path: Path) -> tuple[list[bytes], str]:
    digest = hashlib.sha256()
    chunks = []
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            chunks.append(chunk)
    return chunks, digest.hexdigest()


async def store_variants(
    store: BlobStore,
    bucket: str,
    version_key: str,
    kind: str,
    rendered: Sequence[RenderedPreview],
) -> list[PreviewVariant]:
    """Write each rendered file (small: a few hundred KiB at most) under its preview key."""
    variants = []
    for item in rendered:
        key = preview_key(version_key, kind, item.variant)
        chunks, digest = await trio.to_thread.run_sync(_read_chunks, item.path)
        writer = await store.open_writer(bucket, key)
        try:
            for chunk in chunks:
                await writer.write(chunk)
            size = await writer.complete()
        except BaseException:
            with trio.CancelScope(shield=True):
                await writer.abort()
            raise
        variants.append(
            PreviewVariant(item.variant, key, size, f'"{digest[:32]}"', item.width, item.height)
        )
    return variants


async def read_variant(store: BlobStore, bucket: str, variant: PreviewVariant) -> bytes:
    """A preview's bytes (small enough to hold: a picture or a peaks document)."""
    return b"".join([chunk async for chunk in store.read(bucket, variant.storage_key)])


async def delete_previews(
    store: BlobStore, states: PreviewStates | None, bucket: str, asset: Asset
) -> None:
    """Every preview blob of an asset, then its states (part of a purge)."""
    async for blob in store.list(bucket, previews_prefix(asset)):
        if PREVIEW_KEY.match(blob.key):
            await store.delete(bucket, blob.key)
    if states is not None:
        await states.delete_previews(asset.asset_id)
