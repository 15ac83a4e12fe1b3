"""Sample assets for the catalog contract suites and the adapter tests: fully populated
records (every field set, Unicode, nested custom metadata) built with millisecond timestamps,
the precision of the stored form (``model.format_time``), so a round trip compares equal."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from asset_service.engine.catalog import AssetQuery, AssetSearch
from asset_service.engine.model import (
    Asset,
    Dimensions,
    Metadata,
    Storage,
    Version,
    Visibility,
    storage_key,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
_ids = itertools.count(1)


def make_asset(
    *,
    customer_id: str = "cust-1",
    type: str = "image",
    folder: str = "/",
    created: int | None = None,
    deleted: int | None = None,
    asset_id: str | None = None,
) -> Asset:
    """A fully populated asset; ``created``/``deleted`` are seconds after ``T0``."""
    number = next(_ids)
    asset_id = asset_id or f"asset-{number:04d}"
    created_at = T0 + timedelta(seconds=number if created is None else created)
    v1 = Version(
        version=1,
        created_at=created_at,
        size=1000,
        storage_key=storage_key(customer_id, asset_id, 1),
        checksum="sha256:" + "a" * 64,
        mime_type="image/png",
        original_filename="first.png",
        dimensions=Dimensions(640, 480),
        extracted={"exif": {"Make": "Canon"}},
    )
    v2 = Version(
        version=2,
        created_at=created_at + timedelta(milliseconds=1500),
        size=2048,
        storage_key=storage_key(customer_id, asset_id, 2),
        checksum="sha256:" + "b" * 64,
        mime_type="video/mp4",
        original_filename="second.mp4",
        duration=12.5,
        dimensions=Dimensions(1920, 1080),
    )
    return Asset(
        asset_id=asset_id,
        customer_id=customer_id,
        user_id="user-7",
        type=type,
        name=f"Asset {number} — ünïcode",
        original_filename="second.mp4",
        mime_type="video/mp4",
        size=2048,
        storage=Storage(bucket=f"{type}-assets", key=v2.storage_key),
        checksum=v2.checksum,
        duration=12.5,
        dimensions=Dimensions(1920, 1080),
        metadata=Metadata(
            title="A title",
            description="Line one\nline two",
            tags=["red", "blue"],
            folder=folder,
            custom={"project": "apollo", "rating": 4, "nested": {"list": [1, "two", None]}},
        ),
        versions=[v1, v2],
        created_at=created_at,
        updated_at=created_at + timedelta(seconds=2),
        deleted_at=None if deleted is None else T0 + timedelta(seconds=deleted),
        category="photos",
        current_version=2,
        visibility=Visibility.PRIVATE,
        revision=1,
        extracted={"codec": "h264"},
    )


async def ids(catalog: AssetSearch, **query: Any) -> list[str]:
    page = await catalog.list(AssetQuery(**{"customer_id": "cust-1", "limit": 1000, **query}))
    assert page.next_cursor is None
    return [asset.asset_id for asset in page.items]
