"""A catalog of many assets, made fast, and the searches measured on it.

``make_assets`` builds realistic records (names from a vocabulary, Zipf-distributed tags,
folders, four types, a year of creation dates, a few private assets) with a fixed seed, so every
run and every adapter searches the same data. ``seed_sqlite`` writes them with the SQLite
adapter's own row and token functions in a few large transactions (the port's ``insert`` is one
transaction per asset: minutes for 100 000); ``seed_mongo`` uses ``insert_many`` with the Mongo
adapter's own document function. Both are checked against the port afterwards (``verify``), so a
change of those internals fails the bench instead of skewing it.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from asset_service.engine import search
from asset_service.engine.catalog import AssetQuery, Catalog
from asset_service.engine.model import (
    SEED_TYPES,
    Asset,
    Metadata,
    Storage,
    Version,
    Visibility,
    storage_key,
)
from asset_service.engine.search import SortOrder

CUSTOMER = "bench"
VIEWER = "u1"  # a non-admin user: searches carry the visibility filter
USERS = [f"u{n}" for n in range(1, 21)]
TYPES = [("audio", 0.40), ("image", 0.35), ("video", 0.10), ("document", 0.15)]
FORMATS = {
    "audio": [("mp3", "audio/mpeg"), ("wav", "audio/wav"), ("flac", "audio/flac")],
    "image": [("jpg", "image/jpeg"), ("png", "image/png"), ("webp", "image/webp")],
    "video": [("mp4", "video/mp4"), ("webm", "video/webm")],
    "document": [("pdf", "application/pdf"), ("txt", "text/plain")],
}
SYLLABLES = [
    "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "do", "re", "fa", "so", "la",
    "gu", "bi", "te", "no", "ha", "ki", "mu", "po", "ya", "el", "an", "or", "is", "um", "ex",
]  # fmt: skip
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def vocabulary(size: int, rng: random.Random) -> list[str]:
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < size:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def zipf_pick(rng: random.Random, items: Sequence[str], s: float = 1.1) -> str:
    """Item of rank k with probability ~ 1/k^s (a few very common, a long tail)."""
    n = len(items)
    # inverse transform on a continuous approximation; good enough for test data
    u = rng.random()
    rank = int((u * (n ** (1 - s) - 1) + 1) ** (1 / (1 - s))) if s != 1 else int(n**u)
    return items[min(max(rank, 1), n) - 1]


@dataclass
class Corpus:
    assets: list[Asset]
    words: list[str]
    tags: list[str]
    folders: list[str]


def make_assets(count: int, seed: int = 6) -> Corpus:
    rng = random.Random(seed)
    words = vocabulary(3000, rng)
    tags = [f"tag-{word}" for word in vocabulary(300, random.Random(seed + 1))]
    folders = (
        ["/"] + [f"/projects/p{n}" for n in range(30)] + [f"/clients/c{n}/raw" for n in range(15)]
    )
    type_names = [name for name, _ in TYPES]
    type_weights = [weight for _, weight in TYPES]
    assets: list[Asset] = []
    for index in range(count):
        kind = rng.choices(type_names, type_weights)[0]
        ext, mime = rng.choice(FORMATS[kind])
        name_words = [zipf_pick(rng, words) for _ in range(rng.randint(2, 4))]
        name = " ".join(name_words)
        filename = "_".join(name_words) + f".{ext}"
        created = EPOCH + timedelta(seconds=rng.randrange(365 * 86400), milliseconds=index % 1000)
        size = int(rng.lognormvariate(14, 2)) + 1
        duration = round(rng.uniform(1, 600), 3) if kind in ("audio", "video") else None
        asset_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        key = storage_key(CUSTOMER, asset_id, 1)
        checksum = f"{rng.getrandbits(256):064x}"
        bucket = SEED_TYPES[kind].bucket
        visibility = rng.choices(
            [Visibility.CUSTOMER, Visibility.PRIVATE, Visibility.PUBLIC], [0.8, 0.15, 0.05]
        )[0]
        asset_tags = sorted({zipf_pick(rng, tags) for _ in range(rng.randint(0, 5))})
        description = " ".join(zipf_pick(rng, words) for _ in range(rng.randint(0, 8))) or None
        version = Version(
            version=1,
            created_at=created,
            size=size,
            storage_key=key,
            checksum=checksum,
            mime_type=mime,
            original_filename=filename,
            duration=duration,
            extracted={"format": ext},
        )
        assets.append(
            Asset(
                asset_id=asset_id,
                customer_id=CUSTOMER,
                user_id=rng.choice(USERS),
                type=kind,
                name=name,
                original_filename=filename,
                mime_type=mime,
                size=size,
                storage=Storage(bucket, key),
                checksum=checksum,
                duration=duration,
                metadata=Metadata(
                    title=name.title() if rng.random() < 0.3 else None,
                    description=description,
                    tags=asset_tags,
                    folder=rng.choice(folders),
                ),
                versions=[version],
                created_at=created,
                updated_at=created,
                category=rng.choice([None, "music", "sfx", "stock", "brand"]),
                visibility=visibility,
                extracted={"format": ext},
            )
        )
    return Corpus(assets, words, tags, folders)


def batches(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- seeding -------------------------------------------------------------------------------


async def seed_sqlite(catalog: Catalog, assets: Sequence[Asset], batch: int = 10_000) -> float:
    """Insert ``assets`` into an open ``SqliteCatalog`` in transactions of ``batch`` rows, with
    the adapter's own row and token functions. Returns the seconds it took."""
    from asset_service.engine.adapters import sqlite as adapter

    started = time.perf_counter()
    insert_asset = (
        f"INSERT INTO assets (asset_id, {adapter._ASSET_COLUMNS}) VALUES ({adapter._PLACEHOLDERS})"
    )

    def write(conn: Any, rows: Sequence[Asset]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(insert_asset, [(a.asset_id, *adapter._row(a)) for a in rows])
            conn.executemany(
                "INSERT OR IGNORE INTO asset_tags (tag, asset_id) VALUES (?, ?)",
                [(tag, a.asset_id) for a in rows for tag in a.metadata.tags],
            )
            conn.executemany(
                "INSERT INTO asset_tokens (token, asset_id) VALUES (?, ?)",
                [(t, a.asset_id) for a in rows for t in sorted(search.asset_tokens(a))],
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    for rows in batches(assets, batch):
        await catalog._call(lambda conn, rows=rows: write(conn, rows))  # type: ignore[attr-defined]
    return time.perf_counter() - started


async def seed_mongo(catalog: Catalog, assets: Sequence[Asset], batch: int = 5_000) -> float:
    """Insert ``assets`` into an open ``MongoCatalog`` with ``insert_many`` and the adapter's
    own document function (falls back to the port's ``insert`` if that is gone)."""
    from asset_service.engine.adapters import mongo as adapter

    started = time.perf_counter()
    document = getattr(adapter, "_document", None)
    if document is None:
        for asset in assets:
            await catalog.insert(asset)
        return time.perf_counter() - started
    for rows in batches(assets, batch):
        docs = [document(asset) for asset in rows]
        await catalog._call(lambda db, docs=docs: db.assets.insert_many(docs))  # type: ignore[attr-defined]
    return time.perf_counter() - started


async def verify(catalog: Catalog, corpus: Corpus) -> None:
    """The seeded records read back through the port as written, and a search finds them."""
    for asset in (corpus.assets[0], corpus.assets[len(corpus.assets) // 2], corpus.assets[-1]):
        stored = await catalog.get(asset.asset_id)
        if stored is None or stored.to_document() != asset.to_document():
            raise RuntimeError(f"seeded asset {asset.asset_id} does not read back as written")
        word = search.words(asset.name)[0]
        page = await catalog.list(AssetQuery(customer_id=CUSTOMER, text=word, limit=1000))
        found = {item.asset_id for item in page.items}
        if asset.asset_id not in found and page.next_cursor is None:
            raise RuntimeError(f"seeded asset {asset.asset_id} is not found by searching {word!r}")


# --- the searches ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Search:
    name: str
    query: AssetQuery
    #: the same search as the query string of GET /api/assets/search
    http: str
    #: run the query first and continue from its cursor (a second page)
    second_page: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def searches(corpus: Corpus) -> list[Search]:
    """A mix of what clients ask: the newest page, word-prefix searches (common, rare, two
    words), tags, a folder listing sorted by name, a MIME family with a size bound sorted by
    size, and a second page."""
    common, rare = corpus.words[2], corpus.words[2500]
    second = corpus.words[40]
    tag, tags_any = corpus.tags[0], corpus.tags[5:8]
    folder = "/projects/p3"
    base = AssetQuery(customer_id=CUSTOMER, viewer_user_id=VIEWER)
    return [
        Search("newest", base, ""),
        Search("word prefix (common)", replace(base, text=common[:3]), f"q={common[:3]}"),
        Search("word (rare)", replace(base, text=rare), f"q={rare}"),
        Search("two words", replace(base, text=f"{common} {second}"), f"q={common}+{second}"),
        Search("tag", replace(base, tags=(tag,)), f"tags={tag}"),
        Search(
            "3 tags, any",
            replace(base, tags=tuple(tags_any), tag_mode="any"),
            f"tags={','.join(tags_any)}&tag_mode=any",
        ),
        Search(
            "type+folder by name",
            replace(base, type="audio", folder=folder, sort=SortOrder.parse("name")),
            f"type=audio&folder={folder}&sort=name",
        ),
        Search(
            "image/* >1MB by size",
            replace(base, mime_type="image/*", min_size=1_000_000, sort=SortOrder.parse("-size")),
            "mime=image/*&min_size=1000000&sort=-size",
        ),
        Search("newest, page 2", base, "", second_page=True),
    ]


async def run_search(catalog: Catalog, item: Search) -> tuple[float, int]:
    """One search through the port: (seconds, items on the page)."""
    query = item.query
    if item.second_page:
        first = await catalog.list(query)
        query = replace(query, cursor=first.next_cursor)
    started = time.perf_counter()
    page = await catalog.list(query)
    return time.perf_counter() - started, len(page.items)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]
