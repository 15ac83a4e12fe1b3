"""The SQLite catalog chooses the plan of a search itself (``_list_sql``): a selective word or
tag drives the query, a broad one is checked while the sort index is walked. Both plans must
give the same pages; here each is forced on the same data and compared, page by page."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from asset_service.engine.adapters import sqlite as adapter
from asset_service.engine.adapters.sqlite import SqliteCatalog
from asset_service.engine.catalog import AssetQuery
from asset_service.engine.model import Visibility
from asset_service.engine.search import SortOrder

from .catalog_samples import make_asset

WORDS = ["alpha", "alpine", "beta", "gamma", "delta", "alps"]
TAGS = ["red", "green", "blue"]


@pytest.fixture
async def seeded(tmp_path: Path):
    rng = random.Random(3)
    catalog = SqliteCatalog(tmp_path / "catalog.db")
    await catalog.open()
    for n in range(120):
        asset = make_asset(
            customer_id=rng.choice(["c1", "c1", "c2"]),
            type=rng.choice(["image", "audio"]),
            folder=rng.choice(["/", "/a", "/a/b"]),
            created=rng.randrange(1000),
            deleted=500 if rng.random() < 0.1 else None,
        )
        asset.name = " ".join(rng.sample(WORDS, 2)) + f" {n}"
        asset.size = rng.randrange(10_000)
        asset.user_id = rng.choice(["u1", "u2"])
        asset.visibility = rng.choice(list(Visibility))
        asset.metadata.tags = rng.sample(TAGS, rng.randint(0, 2))
        await catalog.insert(asset)
    yield catalog
    await catalog.close()


QUERIES = [
    {"text": "alp"},
    {"text": "alpha beta"},
    {"text": "gam", "sort": SortOrder.parse("name")},
    {"tags": ("red",), "sort": SortOrder.parse("-size")},
    {"tags": ("red", "blue"), "tag_mode": "any", "viewer_user_id": "u1"},
    {"tags": ("red", "green"), "text": "del", "sort": SortOrder.parse("size")},
    {"text": "alpine", "type": "audio", "folder": "/a", "sort": SortOrder.parse("-updated_at")},
    {"text": "be", "folder": "/a", "recursive": True, "sort": SortOrder.parse("-duration")},
    {"type": "image", "folder": "/a", "sort": SortOrder.parse("name")},
    {"text": "zzz"},
]


async def all_pages(catalog: SqliteCatalog, query: AssetQuery) -> list[list[str]]:
    pages: list[list[str]] = []
    while True:
        page = await catalog.list(query)
        pages.append([asset.asset_id for asset in page.items])
        if page.next_cursor is None:
            return pages
        query = replace(query, cursor=page.next_cursor)


@pytest.mark.parametrize("filters", QUERIES, ids=[str(q) for q in QUERIES])
async def test_both_plans_give_the_same_pages(seeded, monkeypatch, filters):
    query = AssetQuery(customer_id="c1", limit=7, **filters)
    monkeypatch.setattr(adapter, "SELECTIVE_MATCHES", 10**9)  # every term drives
    driven = await all_pages(seeded, query)
    monkeypatch.setattr(adapter, "SELECTIVE_MATCHES", 0)  # every term is a probe
    probed = await all_pages(seeded, query)
    assert driven == probed
    monkeypatch.undo()
    assert await all_pages(seeded, query) == driven
