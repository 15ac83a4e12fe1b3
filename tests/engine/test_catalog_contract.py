"""The ``Catalog`` contract, run against every adapter (see ``conftest.CATALOGS``).

Written only against the port. Timestamps are built with millisecond precision, the precision
of the stored form (``model.format_time``), so a round trip compares equal.
"""

from __future__ import annotations

import base64
import dataclasses
import inspect
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from asset_service.engine.catalog import AssetQuery, Catalog, FolderInfo, Page
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


async def ids(catalog: Catalog, **query: Any) -> list[str]:
    page = await catalog.list(AssetQuery(**{"customer_id": "cust-1", "limit": 1000, **query}))
    assert page.next_cursor is None
    return [asset.asset_id for asset in page.items]


async def test_adapter_implements_whole_port(catalog: Catalog) -> None:
    cls = type(catalog)
    assert not cls.__abstractmethods__
    for name in Catalog.__abstractmethods__:
        ours, port = getattr(cls, name), getattr(Catalog, name)
        assert ours is not port, name
        assert inspect.iscoroutinefunction(ours), name


async def test_insert_get_round_trip(catalog: Catalog) -> None:
    asset = make_asset(folder="/a/b")
    await catalog.insert(asset)
    stored = await catalog.get(asset.asset_id)
    assert stored == asset
    assert stored is not asset
    assert await catalog.get("no-such-asset") is None


async def test_round_trip_of_sparse_asset(catalog: Catalog) -> None:
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


async def test_deleted_asset_is_still_got(catalog: Catalog) -> None:
    asset = make_asset(deleted=100)
    await catalog.insert(asset)
    assert await catalog.get(asset.asset_id) == asset


async def test_duplicate_insert_raises_key_error(catalog: Catalog) -> None:
    asset = make_asset()
    await catalog.insert(asset)
    other = dataclasses.replace(asset, name="impostor", customer_id="cust-2")
    with pytest.raises(KeyError):
        await catalog.insert(other)
    assert await catalog.get(asset.asset_id) == asset


async def test_replace_is_compare_and_set(catalog: Catalog) -> None:
    asset = make_asset(folder="/old")
    await catalog.insert(asset)

    changed = dataclasses.replace(asset, name="renamed", revision=2)
    changed.metadata = dataclasses.replace(asset.metadata, folder="/new")
    assert await catalog.replace(changed, expected_revision=1) is True
    assert await catalog.get(asset.asset_id) == changed

    stale = dataclasses.replace(asset, name="lost update", revision=2)
    assert await catalog.replace(stale, expected_revision=1) is False
    assert await catalog.get(asset.asset_id) == changed

    # The filtered columns follow the record.
    assert await ids(catalog, folder="/new") == [asset.asset_id]
    assert await ids(catalog, folder="/old") == []
    trashed = dataclasses.replace(changed, deleted_at=T0 + timedelta(days=1), revision=3)
    assert await catalog.replace(trashed, expected_revision=2) is True
    assert await ids(catalog) == []
    assert await ids(catalog, deleted=True) == [asset.asset_id]


async def test_replace_missing_is_false(catalog: Catalog) -> None:
    assert await catalog.replace(make_asset(), expected_revision=1) is False
    assert await ids(catalog, deleted=None) == []


async def test_delete(catalog: Catalog) -> None:
    keep, drop = make_asset(), make_asset()
    await catalog.insert(keep)
    await catalog.insert(drop)
    await catalog.delete(drop.asset_id)
    assert await catalog.get(drop.asset_id) is None
    assert await catalog.get(keep.asset_id) == keep
    await catalog.delete(drop.asset_id)  # missing: not an error
    await catalog.delete("never-existed")


@pytest.fixture
async def listing(catalog: Catalog) -> dict[str, Asset]:
    """Assets of two customers across types, folders and deletion states."""
    specs: dict[str, dict[str, Any]] = {
        "root": {"folder": "/"},
        "a": {"folder": "/a"},
        "a-b": {"folder": "/a/b"},
        "a-b-c": {"folder": "/a/b/c"},
        # Siblings sharing the prefix "/a", sorting just before and after "/a/".
        "ab": {"folder": "/ab"},
        "a-dash": {"folder": "/a-x"},
        "a0": {"folder": "/a0"},
        "A": {"folder": "/A"},  # folders are case-sensitive
        "a-deleted": {"folder": "/a", "deleted": 500},
        "video-a": {"folder": "/a", "type": "video"},
        "other-a": {"folder": "/a", "customer_id": "cust-2"},
        "other-root": {"folder": "/", "customer_id": "cust-2"},
    }
    assets = {}
    for created, (name, spec) in enumerate(specs.items()):
        asset = make_asset(asset_id=name, created=created, **spec)
        await catalog.insert(asset)
        assets[name] = asset
    return assets


def newest_first(assets: dict[str, Asset], *names: str) -> list[str]:
    chosen = [assets[name] for name in names]
    chosen.sort(key=lambda a: (a.created_at, a.asset_id), reverse=True)
    return [a.asset_id for a in chosen]


async def test_list_filters(catalog: Catalog, listing: dict[str, Asset]) -> None:
    live_images = ["root", "a", "a-b", "a-b-c", "ab", "a-dash", "a0", "A"]
    assert await ids(catalog) == newest_first(listing, *live_images, "video-a")
    assert await ids(catalog, type="image") == newest_first(listing, *live_images)
    assert await ids(catalog, type="video") == ["video-a"]
    assert await ids(catalog, type="audio") == []

    assert await ids(catalog, type="image", folder="/a") == ["a"]
    assert await ids(catalog, folder="/a") == newest_first(listing, "a", "video-a")
    assert await ids(catalog, type="image", folder="/") == ["root"]
    assert await ids(catalog, type="image", folder="/a", recursive=True) == newest_first(
        listing, "a", "a-b", "a-b-c"
    )
    assert await ids(catalog, type="image", folder="/a/b", recursive=True) == newest_first(
        listing, "a-b", "a-b-c"
    )
    assert await ids(catalog, type="image", folder="/", recursive=True) == newest_first(
        listing, *live_images
    )
    assert await ids(catalog, folder="/nowhere", recursive=True) == []


async def test_list_deleted_states(catalog: Catalog, listing: dict[str, Asset]) -> None:
    assert await ids(catalog, folder="/a", type="image") == ["a"]
    assert await ids(catalog, folder="/a", type="image", deleted=True) == ["a-deleted"]
    assert await ids(catalog, folder="/a", type="image", deleted=None) == newest_first(
        listing, "a", "a-deleted"
    )


async def test_list_never_crosses_customers(catalog: Catalog, listing: dict[str, Asset]) -> None:
    mine = await ids(catalog, deleted=None)
    assert "other-a" not in mine and "other-root" not in mine
    assert await ids(catalog, customer_id="cust-2") == newest_first(
        listing, "other-a", "other-root"
    )
    assert await ids(catalog, customer_id="cust-3", deleted=None) == []
    page = await catalog.list(AssetQuery(customer_id="cust-2", limit=1))
    # A cursor from one customer's listing does not open another's.
    rest = await catalog.list(AssetQuery(customer_id="cust-1", limit=1000, cursor=page.next_cursor))
    assert all(asset.customer_id == "cust-1" for asset in rest.items)


async def test_list_orders_ties_by_asset_id(catalog: Catalog) -> None:
    for asset_id in ("tie-b", "tie-a", "tie-c"):
        await catalog.insert(make_asset(asset_id=asset_id, created=50))
    await catalog.insert(make_asset(asset_id="tie-older", created=49))
    assert await ids(catalog) == ["tie-c", "tie-b", "tie-a", "tie-older"]
    first = await catalog.list(AssetQuery(customer_id="cust-1", limit=2))
    second = await catalog.list(AssetQuery(customer_id="cust-1", limit=2, cursor=first.next_cursor))
    assert ids_in_order(first) == ["tie-c", "tie-b"]
    assert ids_in_order(second) == ["tie-a", "tie-older"]


def ids_in_order(*pages: Page) -> list[str]:
    return [asset.asset_id for page in pages for asset in page.items]


async def collect_pages(
    catalog: Catalog, query: AssetQuery, between: Callable[[int], Any] | None = None
) -> list[Page]:
    pages = [await catalog.list(query)]
    while pages[-1].next_cursor is not None:
        if between is not None:
            await between(len(pages))
        query = dataclasses.replace(query, cursor=pages[-1].next_cursor)
        pages.append(await catalog.list(query))
        assert len(pages) < 100, "pagination does not end"
    return pages


async def test_pagination_covers_every_asset_once(catalog: Catalog) -> None:
    assets = [make_asset(created=i) for i in range(7)]
    for asset in assets:
        await catalog.insert(asset)
    pages = await collect_pages(catalog, AssetQuery(customer_id="cust-1", limit=3))
    assert [len(page.items) for page in pages] == [3, 3, 1]
    assert ids_in_order(*pages) == [a.asset_id for a in reversed(assets)]
    assert pages[-1].next_cursor is None
    assert pages[1].items[0] == assets[3]  # full records, not just ids


async def test_pagination_exact_multiple_has_no_empty_last_page(catalog: Catalog) -> None:
    for i in range(6):
        await catalog.insert(make_asset(created=i))
    pages = await collect_pages(catalog, AssetQuery(customer_id="cust-1", limit=3))
    assert [len(page.items) for page in pages] == [3, 3]


async def test_pagination_is_stable_while_assets_arrive(catalog: Catalog) -> None:
    assets = [make_asset(created=i) for i in range(7)]
    for asset in assets:
        await catalog.insert(asset)
    newcomers: list[str] = []

    async def arrive(page_number: int) -> None:
        newcomer = make_asset(created=1000 + page_number)  # newer than anything listed
        newcomers.append(newcomer.asset_id)
        await catalog.insert(newcomer)

    pages = await collect_pages(catalog, AssetQuery(customer_id="cust-1", limit=3), arrive)
    assert ids_in_order(*pages) == [a.asset_id for a in reversed(assets)]
    assert len(newcomers) == 2
    assert set(await ids(catalog)) == {a.asset_id for a in assets} | set(newcomers)


async def test_pagination_keeps_filters(catalog: Catalog, listing: dict[str, Asset]) -> None:
    query = AssetQuery(customer_id="cust-1", type="image", folder="/a", recursive=True, limit=1)
    pages = await collect_pages(catalog, query)
    assert ids_in_order(*pages) == newest_first(listing, "a", "a-b", "a-b-c")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not a cursor!",
        "%%%",
        base64.urlsafe_b64encode(b"\xff\xfe garbage").decode(),
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'{"created_at": "x"}').decode(),
        base64.urlsafe_b64encode(b'["2024-05-01T12:00:00.000Z"]').decode(),
    ],
)
async def test_bad_cursor_raises_value_error(catalog: Catalog, cursor: str) -> None:
    await catalog.insert(make_asset())
    with pytest.raises(ValueError):
        await catalog.list(AssetQuery(customer_id="cust-1", cursor=cursor))


async def test_deleted_before(catalog: Catalog) -> None:
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


async def test_folders(catalog: Catalog) -> None:
    assert await catalog.folders("cust-1", "image") == [FolderInfo("/", 0)]

    assert await catalog.add_folder("cust-1", "image", "/a/b/c") is True
    assert await catalog.add_folder("cust-1", "image", "/a/b/c") is False
    assert await catalog.add_folder("cust-1", "image", "/a/b") is False  # made as a parent
    assert await catalog.add_folder("cust-1", "image", "/x") is True
    assert await catalog.add_folder("cust-1", "image", "/") is False  # the root always exists
    assert await catalog.add_folder("cust-2", "image", "/other") is True
    assert await catalog.add_folder("cust-1", "video", "/clips") is True

    for folder in ("/a/b", "/a/b", "/", "/x"):
        await catalog.insert(make_asset(folder=folder))
    await catalog.insert(make_asset(folder="/a/b", deleted=10))  # not counted
    await catalog.insert(make_asset(folder="/only/assets"))  # never added as a folder
    await catalog.insert(make_asset(folder="/a", type="video"))  # another type

    assert await catalog.folders("cust-1", "image") == [
        FolderInfo("/", 1),
        FolderInfo("/a", 0),
        FolderInfo("/a/b", 2),
        FolderInfo("/a/b/c", 0),
        FolderInfo("/only", 0),
        FolderInfo("/only/assets", 1),
        FolderInfo("/x", 1),
    ]
    assert await catalog.folders("cust-1", "video") == [
        FolderInfo("/", 0),
        FolderInfo("/a", 1),
        FolderInfo("/clips", 0),
    ]
    assert await catalog.folders("cust-2", "image") == [FolderInfo("/", 0), FolderInfo("/other", 0)]


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Wall-clock time as the adapters read it (``time.time``), moved by hand."""
    fake = FakeClock(1_700_000_000.0)
    monkeypatch.setattr(time, "time", fake)
    return fake


async def test_lease_take_refuse_renew_expire(catalog: Catalog, clock: FakeClock) -> None:
    assert await catalog.acquire_lease("cleanup", "one", ttl=10) is True
    clock.now += 5
    assert await catalog.acquire_lease("cleanup", "two", ttl=10) is False
    assert await catalog.acquire_lease("cleanup", "one", ttl=10) is True  # renewed to +15
    clock.now += 8  # past the first expiry, before the renewed one
    assert await catalog.acquire_lease("cleanup", "two", ttl=10) is False
    clock.now += 2.5  # renewed lease has run out
    assert await catalog.acquire_lease("cleanup", "two", ttl=10) is True
    assert await catalog.acquire_lease("cleanup", "one", ttl=10) is False
    # Leases are independent by name.
    assert await catalog.acquire_lease("other-job", "one", ttl=10) is True


async def test_lease_release(catalog: Catalog, clock: FakeClock) -> None:
    assert await catalog.acquire_lease("cleanup", "one", ttl=60) is True
    await catalog.release_lease("cleanup", "two")  # not the holder: no effect
    assert await catalog.acquire_lease("cleanup", "two", ttl=60) is False
    await catalog.release_lease("cleanup", "one")
    assert await catalog.acquire_lease("cleanup", "two", ttl=60) is True
    await catalog.release_lease("never-taken", "one")  # not an error


async def test_close_is_idempotent(catalog: Catalog) -> None:
    await catalog.close()
    await catalog.close()
