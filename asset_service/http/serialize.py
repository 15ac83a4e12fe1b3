"""The asset as the API shows it: the seed's record."""

from __future__ import annotations

from typing import Any

from asset_service.engine import Asset, UploadProgress


def asset_json(asset: Asset) -> dict[str, Any]:
    document = asset.to_document()
    document.pop("link_epoch", None)  # the service's own bookkeeping (signed links)
    # Per-version extraction results repeat the top-level ones for the current version and
    # can be large (EXIF, tags): the versions endpoint is the place to look at versions.
    for version in document["versions"]:
        version.pop("extracted", None)
    return document


def progress_json(progress: UploadProgress) -> dict[str, Any]:
    """An upload's progress as ``GET /api/uploads/{id}`` (and GraphQL's ``uploads``) show it."""
    body: dict[str, Any] = {
        "upload_id": progress.upload_id,
        "received_bytes": progress.received_bytes,
        "total_bytes": progress.total_bytes,
        "state": progress.state,
        "asset_id": progress.asset_id,
    }
    if progress.error:
        body["error"] = progress.error
    return body
