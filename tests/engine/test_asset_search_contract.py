"""The ``AssetSearch`` contract — listing, search, facets and stats — run against every catalog
adapter (``conftest.CATALOGS``): the same query gives the same answer on each.

Listing: filters, deletion states, tenancy, keyset pagination that stays stable while assets
arrive, bad cursors refused. Search: a small library of audio, images and documents is stored
once per test; each query's expected answer is computed here by brute force over that library
with the rules of ``engine.search``, and the adapter must agree — order and pagination
included.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from asset_service.engine import search
from asset_service.engine.catalog import AssetQuery, Catalog, Facet, Page, Totals
from asset_service.engine.model import Asset, Metadata, Storage, Version, Visibility
from asset_service.engine.search import SortOrder

from .catalog_samples import ids, make_asset

#: not on nx-27017 (``conftest.CATALOGS``): its aggregations and array range queries differ
RUNS_ON_NX = False

T0 = datetime(2025, 3, 1, 9, 0, 0, tzinfo=UTC)

# (name, type, folder, tags, category, size, duration, mime, format, title, user, visibility)
LIBRARY = [
    (
        "Morning Jazz",
        "audio",
        "/music/jazz",
        ("jazz", "live"),
        "music",
        5000,
        180.5,
        "audio/mpeg",
        "mp3",
        "Café session",
        "alice",
        "customer",
    ),
    (
        "Evening jazz",
        "audio",
        "/music/jazz",
        ("jazz",),
        "music",
        7000,
        240.0,
        "audio/flac",
        "flac",
        None,
        "alice",
        "customer",
    ),
    (
        "Rock anthem",
        "audio",
        "/music/rock",
        ("rock", "live"),
        "music",
        3000,
        200.0,
        "audio/mpeg",
        "mp3",
        "Stadium",
        "bob",
        "customer",
    ),
    (
        "Podcast 12",
        "audio",
        "/podcasts/2026",
        ("talk",),
        "podcast",
        9000,
        1800.25,
        "audio/ogg",
        "ogg",
        "Épisode douze",
        "bob",
        "private",
    ),
    ("Jingle", "audio", "/", (), None, 100, None, "audio/wav", "wav", None, "alice", "customer"),
    (
        "Beach photo",
        "image",
        "/photos",
        ("holiday", "sea"),
        "travel",
        2000,
        None,
        "image/png",
        "png",
        "Sunset",
        "alice",
        "customer",
    ),
    (
        "jazz poster",
        "image",
        "/photos/posters",
        ("jazz",),
        "design",
        1500,
        None,
        "image/jpeg",
        "jpeg",
        None,
        "alice",
        "public",
    ),
    (
        "Contract",
        "document",
        "/legal",
        ("signed",),
        "legal",
        800,
        None,
        "application/pdf",
        "pdf",
        "Lease agreement",
        "bob",
        "customer",
    ),
]


def build(number: int, row: tuple, customer: str = "acme") -> Asset:
    name, kind, folder, tags, category, size, duration, mime, fmt, title, user, vis = row
    asset_id = f"00000000-0000-4000-8000-{number:012d}"
    created = T0 + timedelta(hours=number)
    key = f"{customer}/{asset_id}/v1"
    return Asset(
        asset_id=asset_id,
        customer_id=customer,
        user_id=user,
        type=kind,
        name=name,
        original_filename=f"{name.lower().replace(' ', '_')}.{fmt}",
        mime_type=mime,
        size=size,
        duration=duration,
        storage=Storage(f"{kind}-assets", key),
        checksum=f"{number:064x}",
        metadata=Metadata(title=title, tags=list(tags), folder=folder),
        versions=[Version(1, created, size, key, f"{number:064x}", mime, "f")],
        created_at=created,
        updated_at=created + timedelta(minutes=10 * (8 - number)),
        category=category,
        visibility=Visibility(vis),
        extracted={"format": fmt},
    )


@pytest.fixture
async def library(catalog: Catalog) -> list[Asset]:
    assets = [build(n, row) for n, row in enumerate(LIBRARY)]
    for asset in assets:
        await catalog.insert(asset)
    # Another customer's identical library must never show up.
    for n, row in enumerate(LIBRARY):
        await catalog.insert(build(100 + n, row, customer="globex"))
    deleted = dataclasses.replace(build(50, LIBRARY[0]), deleted_at=T0 + timedelta(days=1))
    await catalog.insert(deleted)
    return [*assets, deleted]


def expected(library: list[Asset], query: AssetQuery) -> list[str]:
    """Brute force over the library with the documented rules."""
    order = query.sort
    words = search.query_words(query.text or "")

    def matches(a: Asset) -> bool:
        tokens = search.asset_tokens(a)
        checks = [
            a.customer_id == query.customer_id,
            query.type is None or a.type == query.type,
            query.deleted is None or a.is_deleted == query.deleted,
            all(any(t.startswith(w) for t in tokens) for w in words),
            query.category is None or a.category == query.category,
            query.min_size is None or a.size >= query.min_size,
            query.max_size is None or a.size <= query.max_size,
            query.min_duration is None or (a.duration or -1) >= query.min_duration,
            query.max_duration is None
            or (a.duration is not None and a.duration <= query.max_duration),
            query.created_after is None or a.created_at >= query.created_after,
            query.updated_before is None or a.updated_at <= query.updated_before,
            query.viewer_user_id is None
            or a.visibility is not Visibility.PRIVATE
            or a.user_id == query.viewer_user_id,
        ]
        if query.folder is not None:
            f = a.metadata.folder
            base = query.folder.rstrip("/")
            checks.append(
                f == (base or "/")
                if not query.recursive
                else (not base or f == base or f.startswith(base + "/"))
            )
        if query.tags:
            have = set(a.metadata.tags)
            checks.append(
                bool(have & set(query.tags)) if query.tag_mode == "any" else set(query.tags) <= have
            )
        if query.mime_type is not None:
            m = query.mime_type
            checks.append(a.mime_type.startswith(m[:-1]) if m.endswith("/*") else a.mime_type == m)
        return all(checks)

    found = [a for a in library if matches(a)]
    found.sort(key=lambda a: (order.key(a), a.asset_id), reverse=order.descending)
    return [a.asset_id for a in found]


async def all_pages(catalog: Catalog, query: AssetQuery) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(50):
        page = await catalog.list(dataclasses.replace(query, cursor=cursor))
        ids += [a.asset_id for a in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return ids
    raise AssertionError("pagination did not end")


QUERIES = {
    "text-prefix": dict(text="jaz"),
    "text-accents-and-case": dict(text="CAFE"),
    "text-every-word": dict(text="jazz morn"),
    "text-filename": dict(text="mp3"),
    "text-title-accent": dict(text="episode"),
    "tags-all": dict(tags=("jazz", "live")),
    "tags-any": dict(tags=("rock", "talk"), tag_mode="any"),
    "folder-exact": dict(folder="/music"),
    "folder-recursive": dict(folder="/music", recursive=True),
    "folder-root-recursive": dict(folder="/", recursive=True),
    "type-and-category": dict(type="audio", category="music"),
    "mime-family": dict(mime_type="image/*"),
    "mime-exact": dict(mime_type="audio/mpeg"),
    "size-range": dict(min_size=1000, max_size=5000),
    "duration-range": dict(min_duration=190, max_duration=1000),
    "created-after": dict(created_after=T0 + timedelta(hours=4)),
    "updated-before": dict(updated_before=T0 + timedelta(hours=3)),
    "deleted-only": dict(deleted=True),
    "live-and-deleted": dict(deleted=None),
    "private-hidden-from-alice": dict(viewer_user_id="alice"),
    "private-shown-to-bob": dict(viewer_user_id="bob", type="audio"),
    "sort-name": dict(sort=SortOrder.parse("name")),
    "sort-size-desc": dict(sort=SortOrder.parse("-size")),
    "sort-duration": dict(sort=SortOrder.parse("duration")),
    "sort-duration-desc": dict(sort=SortOrder.parse("-duration"), type="audio"),
    "sort-updated": dict(sort=SortOrder.parse("updated_at")),
    "no-match": dict(text="zzz"),
}


@pytest.mark.parametrize("filters", QUERIES.values(), ids=QUERIES.keys())
@pytest.mark.parametrize("limit", [2, 50])
async def test_search_matches_the_documented_rules(catalog, library, filters, limit):
    query = AssetQuery(customer_id="acme", limit=limit, **filters)
    assert await all_pages(catalog, query) == expected(library, query)


async def test_a_cursor_of_another_sort_is_refused(catalog, library):
    page = await catalog.list(AssetQuery(customer_id="acme", limit=2, sort=SortOrder.parse("name")))
    with pytest.raises(ValueError):
        await catalog.list(
            AssetQuery(customer_id="acme", sort=SortOrder.parse("size"), cursor=page.next_cursor)
        )


def test_a_sort_is_parsed_once_into_a_typed_order():
    assert SortOrder.parse("-size") == SortOrder("size", descending=True)
    assert str(SortOrder.parse("name")) == "name"
    assert AssetQuery(customer_id="acme").sort == SortOrder("created_at", descending=True)
    with pytest.raises(ValueError, match="sort must be one of"):
        SortOrder.parse("colour")
    with pytest.raises(ValueError, match="sort must be one of"):
        SortOrder("colour", descending=False)


async def test_search_follows_edits(catalog, library):
    asset = library[0]
    edited = dataclasses.replace(
        asset,
        metadata=dataclasses.replace(asset.metadata, tags=["blues"], title="Night"),
        revision=asset.revision + 1,
    )
    assert await catalog.replace(edited, asset.revision)
    assert await all_pages(catalog, AssetQuery(customer_id="acme", text="cafe")) == []
    assert await all_pages(catalog, AssetQuery(customer_id="acme", tags=("blues",))) == [
        asset.asset_id
    ]
    await catalog.delete(asset.asset_id)
    assert await all_pages(catalog, AssetQuery(customer_id="acme", tags=("blues",))) == []


async def test_tag_and_category_facets(catalog, library):
    tags = await catalog.facets(AssetQuery(customer_id="acme", type="audio"), "tags")
    assert tags == [Facet("jazz", 2), Facet("live", 2), Facet("rock", 1), Facet("talk", 1)]
    categories = await catalog.facets(AssetQuery(customer_id="acme"), "category")
    assert categories == [
        Facet("music", 3),
        Facet("design", 1),
        Facet("legal", 1),
        Facet("podcast", 1),
        Facet("travel", 1),
    ]
    hidden = await catalog.facets(AssetQuery(customer_id="acme", viewer_user_id="alice"), "tags")
    assert Facet("talk", 1) not in hidden


async def test_stats_by_format_and_folder(catalog, library):
    stats = await catalog.stats(AssetQuery(customer_id="acme", type="audio"))
    assert stats.total == Totals(5, 24100, 180.5 + 240.0 + 200.0 + 1800.25)
    assert stats.by_format["mp3"] == Totals(2, 8000, 380.5)
    assert stats.by_format["wav"] == Totals(1, 100, 0.0)
    assert stats.by_folder["/music/jazz"] == Totals(2, 12000, 420.5)
    assert set(stats.by_folder) == {"/music/jazz", "/music/rock", "/podcasts/2026", "/"}
    empty = await catalog.stats(AssetQuery(customer_id="nobody"))
    assert empty.total == Totals(0, 0, 0.0)
    assert empty.by_format == {}


async def test_known_answers(catalog, library):
    """Spot checks written by hand, so the brute-force oracle is itself checked."""

    async def names(**filters) -> list[str]:
        ids = await all_pages(catalog, AssetQuery(customer_id="acme", **filters))
        by_id = {a.asset_id: a.name for a in library}
        return [by_id[i] for i in ids]

    assert await names(text="jaz", sort=SortOrder.parse("name")) == [
        "Evening jazz",
        "jazz poster",
        "Morning Jazz",
    ]
    assert await names(text="cafe") == ["Morning Jazz"]
    assert await names(text="episode") == ["Podcast 12"]
    assert await names(tags=("jazz", "live")) == ["Morning Jazz"]
    assert await names(folder="/music", recursive=True, sort=SortOrder.parse("size")) == [
        "Rock anthem",
        "Morning Jazz",
        "Evening jazz",
    ]
    assert await names(sort=SortOrder.parse("-duration"), type="audio") == [
        "Podcast 12",
        "Evening jazz",
        "Rock anthem",
        "Morning Jazz",
        "Jingle",
    ]
    assert "Podcast 12" not in await names(viewer_user_id="alice")
    assert len(await names(deleted=None)) == len(LIBRARY) + 1


# --- listing and pagination ----------------------------------------------------------------


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


async def test_listing_follows_a_replaced_record(catalog: Catalog) -> None:
    asset = make_asset(folder="/old")
    await catalog.insert(asset)
    moved = dataclasses.replace(asset, revision=2)
    moved.metadata = dataclasses.replace(asset.metadata, folder="/new")
    assert await catalog.replace(moved, expected_revision=1) is True
    assert await ids(catalog, folder="/new") == [asset.asset_id]
    assert await ids(catalog, folder="/old") == []
    trashed = dataclasses.replace(
        moved, deleted_at=moved.created_at + timedelta(days=1), revision=3
    )
    assert await catalog.replace(trashed, expected_revision=2) is True
    assert await ids(catalog) == []
    assert await ids(catalog, deleted=True) == [asset.asset_id]
