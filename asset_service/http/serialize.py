"""The asset as the API shows it: the seed's record."""

from __future__ import annotations

from typing import Any

from asset_service.engine import Asset


def asset_json(asset: Asset) -> dict[str, Any]:
    document = asset.to_document()
    # Per-version extraction results repeat the top-level ones for the current version and
    # can be large (EXIF, tags): the versions endpoint is the place to look at versions.
    for version in document["versions"]:
        version.pop("extracted", None)
    return document
