"""The MongoDB catalog, on ``pymongo`` (synchronous; MongoDB's successor to Motor).

Every call runs in a Trio worker thread under a ``CapacityLimiter``; the client has
``serverSelectionTimeoutMS`` and ``timeoutMS`` set, since a thread call can't be interrupted.

Collections:

- ``assets`` — the seed's schema field for field: each document is ``Asset.to_document()``
  (timestamps as ISO 8601 strings in UTC with milliseconds, so they sort as text exactly as in
  the SQLite catalog), plus MongoDB's own ``_id`` and ``_search``, what search needs beside
  the record (``engine.search``: the word tokens as an indexed array — not ``$text``, which
  differs from SQLite's semantics and which mongomock lacks — the folded name, the tags once
  each, the format, the duration as it sorts). Neither is ever handed out;
- ``folders`` — ``{customer_id, type, path}``, one per folder created explicitly;
- ``leases`` — ``{_id: name, holder, expires_at}`` for the cleanup actor and version
  reservations;
- ``events``, ``event_sequence`` — the event log (``_mongo_events.py``);
- ``uploads`` — resumable (tus) upload sessions: ``UploadSession.to_document()`` with
  ``_id`` = ``upload_id``; ``replace_upload`` is ``replace_one({_id, revision: expected})``.

Cross-instance invariants are single-document atomic operations: ``replace`` is
``replace_one({asset_id, revision: expected})``; a lease is one conditional upsert, where the
unique ``_id`` turns a lost race into a ``DuplicateKeyError``.

Tests run it on ``mongomock`` (an injected client): mongomock's find-and-modify is not atomic
across threads, so a test sharing one mongomock client between catalogs shares one
``CapacityLimiter(1)`` too. Real MongoDB needs no such thing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import pymongo
import trio
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import (
    ConfigurationError,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
)
from pymongo.uri_parser import parse_uri

from .. import search
from ..catalog import (
    AssetQuery,
    Catalog,
    Facet,
    FolderInfo,
    Page,
    Stats,
    Totals,
    folder_and_parents,
)
from ..lifecycle import OpenCount
from ..model import Asset, UploadSession, format_time
from ._mongo_events import EVENT_INDEXES, MongoEventLog
from ._mongo_previews import PREVIEW_INDEXES, MongoPreviewStates

T = TypeVar("T")

DEFAULT_DATABASE = "assets"
SERVER_SELECTION_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_MS = 5000
#: the whole-operation deadline of every call (pymongo's client-side operation timeout)
OPERATION_TIMEOUT_MS = 30000

#: MongoDB error codes for credentials refused or not allowed to do what the catalog needs
_AUTH_CODES = frozenset({13, 18})

#: what a read never hands out: MongoDB's own id and the search fields
_PROJECTION = {"_id": False, "_search": False}

#: the stored field each sort compares (``engine.search.SORT_FIELDS``)
_SORT_FIELDS = {
    "created_at": "created_at",
    "updated_at": "updated_at",
    "name": "_search.name",
    "size": "size",
    "duration": "_search.duration",
}

ASSET_INDEXES = [
    IndexModel([("asset_id", ASCENDING)], unique=True, name="asset_id_unique"),
    # Listing: a customer's assets of a type in a folder, newest first; asset_id completes the
    # order, so keyset pages are served from the index.
    IndexModel(
        [
            ("customer_id", ASCENDING),
            ("type", ASCENDING),
            ("metadata.folder", ASCENDING),
            ("created_at", DESCENDING),
            ("asset_id", DESCENDING),
        ],
        name="listing_by_type_folder",
    ),
    IndexModel(
        [("customer_id", ASCENDING), ("created_at", DESCENDING), ("asset_id", DESCENDING)],
        name="listing_by_customer",
    ),
    IndexModel([("customer_id", ASCENDING), ("metadata.tags", ASCENDING)], name="tags"),
    IndexModel([("customer_id", ASCENDING), ("_search.tokens", ASCENDING)], name="search_tokens"),
    IndexModel([("customer_id", ASCENDING), ("updated_at", ASCENDING)], name="by_updated"),
    IndexModel([("customer_id", ASCENDING), ("_search.name", ASCENDING)], name="by_name"),
    IndexModel([("customer_id", ASCENDING), ("size", ASCENDING)], name="by_size"),
    IndexModel([("checksum", ASCENDING)], name="checksum"),
    IndexModel([("deleted_at", ASCENDING), ("asset_id", ASCENDING)], name="trash"),
]
UPLOAD_INDEXES = [
    IndexModel([("expires_at", ASCENDING), ("upload_id", ASCENDING)], name="upload_expiry"),
    IndexModel([("state", ASCENDING), ("committing_since", ASCENDING)], name="upload_committing"),
]
FOLDER_INDEXES = [
    IndexModel(
        [("customer_id", ASCENDING), ("type", ASCENDING), ("path", ASCENDING)],
        unique=True,
        name="folder_unique",
    ),
]


def database_name(url: str) -> str:
    """The database an ``ASSET_CATALOG`` URL names (``mongodb://host/NAME``), ``assets`` if
    none. Raises ``ValueError`` for a URL pymongo would refuse (``mongodb+srv://`` URLs are
    only checked when connecting: that needs DNS)."""
    if url.startswith("mongodb://"):
        try:
            parse_uri(url, validate=True, warn=False)
        except (ConfigurationError, ValueError) as error:
            raise ValueError(f"not a valid MongoDB URL: {error}") from None
    elif not url.startswith("mongodb+srv://"):
        raise ValueError("not a mongodb:// or mongodb+srv:// URL")
    name = unquote(urlsplit(url).path.lstrip("/"))
    return name or DEFAULT_DATABASE


class MongoCatalog(MongoEventLog, MongoPreviewStates, Catalog):
    def __init__(
        self,
        url: str,
        *,
        database: str | None = None,
        client_factory: Callable[[], Any] | None = None,
        limiter: trio.CapacityLimiter | None = None,
        max_threads: int = 16,
        server_selection_timeout_ms: int | None = None,
        timeout_ms: int | None = None,
    ) -> None:
        """``client_factory`` builds the client instead of ``pymongo.MongoClient(url, …)`` (a
        ``mongomock.MongoClient`` in tests); a client it returns is not closed by ``close``.
        ``url`` is still what names the backend in messages, and the database unless
        ``database`` is given."""
        self.url = url
        self.database_name = database or database_name(url)
        self._client_factory = client_factory
        self._limiter = limiter or trio.CapacityLimiter(max_threads)
        # Timeouts: the arguments, else what the URL says (``?timeoutMS=…``), else ours.
        in_url = _url_options(url)
        self.client_options: dict[str, Any] = {
            "serverSelectionTimeoutMS": server_selection_timeout_ms
            or in_url.get("serverselectiontimeoutms")
            or SERVER_SELECTION_TIMEOUT_MS,
            "connectTimeoutMS": in_url.get("connecttimeoutms") or CONNECT_TIMEOUT_MS,
            "timeoutMS": timeout_ms or in_url.get("timeoutms") or OPERATION_TIMEOUT_MS,
            "appname": in_url.get("appname") or "asset-service",
        }
        self._client: Any = None
        self._owns_client = False
        self._db: Any = None
        self._open_count = OpenCount()

    def __repr__(self) -> str:
        return f"MongoCatalog({_redacted(self.url)}, database={self.database_name!r})"

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(partial(fn, *args), limiter=self._limiter)

    async def _call(self, fn: Callable[[Any], T]) -> T:
        db = self._db
        if db is None:
            raise RuntimeError("catalog is not open")
        return await self._run(fn, db)

    # --- lifecycle -----------------------------------------------------------------------

    def _make_client(self) -> Any:
        if self._client_factory is not None:
            return self._client_factory()
        return pymongo.MongoClient(self.url, tz_aware=True, connect=False, **self.client_options)

    def _open_database(self) -> tuple[Any, Any]:
        client = self._make_client()
        try:
            # With ``timeoutMS`` set, pymongo waits that long for a server (not
            # ``serverSelectionTimeoutMS``): the first contact gets the shorter deadline, so an
            # unreachable server stops the service within seconds.
            with pymongo.timeout(float(self.client_options["serverSelectionTimeoutMS"]) / 1000):
                client.admin.command("ping")
            db = client.get_database(self.database_name)
            db.assets.create_indexes(ASSET_INDEXES)
            db.folders.create_indexes(FOLDER_INDEXES)
            db.uploads.create_indexes(UPLOAD_INDEXES)
            db.previews.create_indexes(PREVIEW_INDEXES)  # the PreviewStates port
            db.events.create_indexes(EVENT_INDEXES)  # the EventLog port
        except BaseException:
            if self._client_factory is None:
                client.close()
            raise
        return client, db

    async def open(self) -> None:
        await self._open_count.open(self._connect)

    async def _connect(self) -> None:
        where = f"MongoDB catalog at {_redacted(self.url)}"
        try:
            self._client, self._db = await self._run(self._open_database)
        except OperationFailure as error:
            if error.code in _AUTH_CODES:
                raise ConnectionError(
                    f"{where} refused the credentials or their rights: {error.details}"
                ) from None
            raise ConnectionError(f"{where} failed: {error}") from None
        except PyMongoError as error:
            raise ConnectionError(f"{where} is unreachable: {_first_line(error)}") from None
        self._owns_client = self._client_factory is None

    async def close(self) -> None:
        await self._open_count.close(self._disconnect)

    async def _disconnect(self) -> None:
        client, owned = self._client, self._owns_client
        self._client = self._db = None
        if client is not None and owned:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(client.close)

    # --- records -------------------------------------------------------------------------

    async def insert(self, asset: Asset) -> None:
        document = _document(asset)
        try:
            await self._call(lambda db: db.assets.insert_one(document))
        except DuplicateKeyError:
            raise KeyError(asset.asset_id) from None

    async def get(self, asset_id: str) -> Asset | None:
        found = await self._call(lambda db: db.assets.find_one({"asset_id": asset_id}, _PROJECTION))
        return _asset(found) if found is not None else None

    async def replace(self, asset: Asset, expected_revision: int) -> bool:
        document = _document(asset)

        def replace(db: Any) -> bool:
            result = db.assets.replace_one(
                {"asset_id": asset.asset_id, "revision": expected_revision}, document
            )
            return result.matched_count == 1

        return await self._call(replace)

    async def delete(self, asset_id: str) -> None:
        await self._call(lambda db: db.assets.delete_one({"asset_id": asset_id}))

    async def list(self, query: AssetQuery) -> Page:
        if query.limit < 1:
            raise ValueError("limit must be at least 1")
        order = query.sort
        field = _SORT_FIELDS[order.field]
        clauses = _filters(query)
        if query.cursor is not None:
            value, after_id = search.decode_cursor(query.cursor, order)
            beyond = "$lt" if order.descending else "$gt"
            clauses.append(
                {
                    "$or": [
                        {field: {beyond: value}},
                        {field: value, "asset_id": {beyond: after_id}},
                    ]
                }
            )
        direction = DESCENDING if order.descending else ASCENDING

        def find(db: Any) -> list[dict[str, Any]]:
            cursor = (
                db.assets.find(_selector(clauses), {"_id": False})
                .sort([(field, direction), ("asset_id", direction)])
                .limit(query.limit + 1)  # one more than asked tells whether a page follows
            )
            return list(cursor)

        found = await self._call(find)
        page = found[: query.limit]
        next_cursor = None
        if len(found) > query.limit:
            last = page[-1]
            next_cursor = search.encode_cursor(order, _field(last, field), last["asset_id"])
        return Page([_asset(doc) for doc in page], next_cursor)

    async def facets(self, query: AssetQuery, field: str) -> list[Facet]:
        if field == "tags":
            pipeline = [
                {"$match": _selector(_filters(query))},
                {"$unwind": "$_search.tags"},
                {"$group": {"_id": "$_search.tags", "count": {"$sum": 1}}},
            ]
        elif field == "category":
            clauses = [*_filters(query), {"category": {"$ne": None}}]
            pipeline = [
                {"$match": _selector(clauses)},
                {"$group": {"_id": "$category", "count": {"$sum": 1}}},
            ]
        else:
            raise ValueError(f"no facets for {field!r}")
        rows = await self._call(lambda db: list(db.assets.aggregate(pipeline)))
        return sorted(
            (Facet(row["_id"], int(row["count"])) for row in rows),
            key=lambda f: (-f.count, f.name),
        )

    async def stats(self, query: AssetQuery) -> Stats:
        match = {"$match": _selector(_filters(query))}
        sums = {
            "count": {"$sum": 1},
            "size": {"$sum": "$size"},
            "duration": {"$sum": "$_search.duration_sum"},
        }

        def read(db: Any) -> tuple[list[Any], ...]:
            return tuple(
                list(db.assets.aggregate([match, {"$group": {"_id": key, **sums}}]))
                for key in (None, "$_search.format", "$metadata.folder")
            )

        total, by_format, by_folder = await self._call(read)

        def totals(row: dict[str, Any]) -> Totals:
            return Totals(int(row["count"]), int(row["size"]), float(row["duration"]))

        return Stats(
            totals(total[0]) if total else Totals(0, 0, 0.0),
            {row["_id"]: totals(row) for row in by_format},
            {row["_id"]: totals(row) for row in by_folder},
        )

    async def deleted_before(self, cutoff: datetime, limit: int = 500) -> list[Asset]:
        selector = {"deleted_at": {"$ne": None, "$lte": format_time(cutoff)}}

        def find(db: Any) -> list[dict[str, Any]]:
            cursor = (
                db.assets.find(selector, _PROJECTION)
                .sort([("deleted_at", ASCENDING), ("asset_id", ASCENDING)])
                .limit(limit)
            )
            return list(cursor)

        return [_asset(doc) for doc in await self._call(find)]

    # --- folders -------------------------------------------------------------------------

    async def add_folder(self, customer_id: str, asset_type: str, path: str) -> bool:
        paths = folder_and_parents(path)
        if not paths:
            return False  # the root always exists

        def add(db: Any) -> bool:
            added = False
            for folder in paths:
                key = {"customer_id": customer_id, "type": asset_type, "path": folder}
                try:
                    result = db.folders.update_one(key, {"$setOnInsert": key}, upsert=True)
                    added = result.upserted_id is not None
                except DuplicateKeyError:
                    added = False  # a concurrent add of the same folder won
            return added  # the last one is the folder asked for

        return await self._call(add)

    async def folders(self, customer_id: str, asset_type: str) -> list[FolderInfo]:
        def read(db: Any) -> tuple[list[str], dict[str, int]]:
            stored = [
                doc["path"]
                for doc in db.folders.find(
                    {"customer_id": customer_id, "type": asset_type}, {"_id": False, "path": True}
                )
            ]
            counts = {
                row["_id"]: int(row["count"])
                for row in db.assets.aggregate(
                    [
                        {
                            "$match": {
                                "customer_id": customer_id,
                                "type": asset_type,
                                "deleted_at": None,
                            }
                        },
                        {"$group": {"_id": "$metadata.folder", "count": {"$sum": 1}}},
                    ]
                )
            }
            return stored, counts

        stored, count_of = await self._call(read)
        # The root is always listed; a folder that only holds assets brings its parents along.
        paths = {"/"}
        for folder in stored + list(count_of):
            try:
                paths.update(folder_and_parents(folder))
            except ValueError:
                paths.add(folder)  # list what is stored even if malformed
        return [FolderInfo(path, count_of.get(path, 0)) for path in sorted(paths)]

    # --- leases --------------------------------------------------------------------------

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        def acquire(db: Any) -> bool:
            now = time.time()
            try:
                # One atomic upsert: take over only a lease that is ours or has run out. When
                # another holder's lease is live the filter matches nothing and the upsert's
                # insert collides with the existing _id.
                db.leases.update_one(
                    {"_id": name, "$or": [{"holder": holder}, {"expires_at": {"$lte": now}}]},
                    {"$set": {"holder": holder, "expires_at": now + ttl}},
                    upsert=True,
                )
            except DuplicateKeyError:
                return False
            return True

        return await self._call(acquire)

    async def release_lease(self, name: str, holder: str) -> None:
        await self._call(lambda db: db.leases.delete_one({"_id": name, "holder": holder}))

    # --- resumable upload sessions -----------------------------------------------------------

    async def insert_upload(self, session: UploadSession) -> None:
        document = {"_id": session.upload_id, **session.to_document()}
        try:
            await self._call(lambda db: db.uploads.insert_one(document))
        except DuplicateKeyError:
            raise KeyError(session.upload_id) from None

    async def get_upload(self, upload_id: str) -> UploadSession | None:
        found = await self._call(lambda db: db.uploads.find_one({"_id": upload_id}))
        return _upload(found) if found is not None else None

    async def replace_upload(self, session: UploadSession, expected_revision: int) -> bool:
        document = session.to_document()

        def replace(db: Any) -> bool:
            result = db.uploads.replace_one(
                {"_id": session.upload_id, "revision": expected_revision}, document
            )
            return result.matched_count == 1

        return await self._call(replace)

    async def delete_upload(self, upload_id: str, expected_revision: int | None = None) -> bool:
        selector: dict[str, Any] = {"_id": upload_id}
        if expected_revision is not None:
            selector["revision"] = expected_revision
        result = await self._call(lambda db: db.uploads.delete_one(selector))
        return result.deleted_count == 1

    async def count_open_uploads(self, customer_id: str, now: datetime) -> int:
        selector = {
            "customer_id": customer_id,
            "state": {"$in": ["receiving", "committing"]},
            "expires_at": {"$gt": format_time(now)},
        }
        return int(await self._call(lambda db: db.uploads.count_documents(selector)))

    async def expired_uploads(self, cutoff: datetime, limit: int = 200) -> list[UploadSession]:
        def find(db: Any) -> list[dict[str, Any]]:
            return list(
                db.uploads.find({"expires_at": {"$lte": format_time(cutoff)}})
                .sort([("expires_at", ASCENDING), ("upload_id", ASCENDING)])
                .limit(limit)
            )

        return [_upload(found) for found in await self._call(find)]

    async def committing_uploads(
        self, started_before: datetime, limit: int = 50
    ) -> list[UploadSession]:
        selector = {
            "state": "committing",
            # ``None`` also matches a record written before the field existed
            "$or": [
                {"committing_since": {"$lte": format_time(started_before)}},
                {"committing_since": None},
            ],
        }

        def find(db: Any) -> list[dict[str, Any]]:
            return list(
                db.uploads.find(selector)
                .sort([("committing_since", ASCENDING), ("upload_id", ASCENDING)])
                .limit(limit)
            )

        return [_upload(found) for found in await self._call(find)]


def _document(asset: Asset) -> dict[str, Any]:
    """The stored form: the record and its search fields. A fresh dict every time:
    ``insert_one`` adds ``_id`` to what it is given."""
    document = asset.to_document()
    format_ = asset.extracted.get("format")
    document["_search"] = {
        "tokens": sorted(search.asset_tokens(asset)),
        "tags": sorted(set(asset.metadata.tags)),
        "name": search.name_key(asset),
        # As SQLite groups them: a missing format is "unknown".
        "format": "unknown" if format_ is None else format_,
        # -1 sorts a missing duration first ascending, last descending; 0 adds nothing.
        "duration": -1.0 if asset.duration is None else float(asset.duration),
        "duration_sum": 0.0 if asset.duration is None else float(asset.duration),
    }
    return document


def _upload(document: dict[str, Any]) -> UploadSession:
    document.pop("_id", None)
    return UploadSession.from_document(document)


def _asset(document: dict[str, Any]) -> Asset:
    document.pop("_search", None)
    return Asset.from_document(document)


def _field(document: dict[str, Any], dotted: str) -> Any:
    value: Any = document
    for part in dotted.split("."):
        value = value[part]
    return value


def _selector(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _filters(query: AssetQuery) -> list[dict[str, Any]]:
    """A MongoDB clause for every filter of ``query`` (not the cursor), with the semantics of
    the SQLite catalog's WHERE clauses, one for one."""
    clauses: list[dict[str, Any]] = [{"customer_id": query.customer_id}]
    add = clauses.append
    if query.type is not None:
        add({"type": query.type})
    if query.folder is not None:
        base = query.folder.rstrip("/")
        if not query.recursive:
            add({"metadata.folder": base or "/"})
        elif base:
            # A range, as in SQLite: '0' follows '/', so [base + '/', base + '0') is exactly
            # "starts with base/" — no regex (nor escaping) needed.
            add(
                {
                    "$or": [
                        {"metadata.folder": base},
                        {"metadata.folder": {"$gte": base + "/", "$lt": base + "0"}},
                    ]
                }
            )
    if query.deleted is not None:
        add({"deleted_at": {"$ne": None}} if query.deleted else {"deleted_at": None})
    for word in search.query_words(query.text or ""):
        # $elemMatch: one token must be in the range (a bare range on an array could be met
        # by two different tokens).
        add({"_search.tokens": {"$elemMatch": {"$gte": word, "$lt": word + search.PREFIX_END}}})
    if query.tags:
        operator = "$in" if query.tag_mode == "any" else "$all"
        add({"metadata.tags": {operator: list(query.tags)}})
    if query.category is not None:
        add({"category": query.category})
    if query.mime_type is not None:
        if query.mime_type.endswith("/*"):
            family = query.mime_type[:-1]
            add({"mime_type": {"$gte": family, "$lt": family[:-1] + "0"}})
        else:
            add({"mime_type": query.mime_type})
    if query.checksum is not None:
        add({"checksum": query.checksum})
    if query.min_size is not None:
        add({"size": {"$gte": query.min_size}})
    if query.max_size is not None:
        add({"size": {"$lte": query.max_size}})
    # A missing duration matches no duration bound (SQL's NULL comparisons): the type check
    # says so for mongomock as for MongoDB.
    if query.min_duration is not None:
        add({"duration": {"$type": "number", "$gte": query.min_duration}})
    if query.max_duration is not None:
        add({"duration": {"$type": "number", "$lte": query.max_duration}})
    for field, bound, operator in (
        ("created_at", query.created_after, "$gte"),
        ("created_at", query.created_before, "$lte"),
        ("updated_at", query.updated_after, "$gte"),
        ("updated_at", query.updated_before, "$lte"),
    ):
        if bound is not None:
            add({field: {operator: format_time(bound)}})
    if query.viewer_user_id is not None:
        add({"$or": [{"visibility": {"$ne": "private"}}, {"user_id": query.viewer_user_id}]})
    return clauses


def _url_options(url: str) -> dict[str, str]:
    """The URL's query options, names lower-cased (MongoDB's are case-insensitive)."""
    query = urlsplit(url).query
    return {name.lower(): value for name, value in parse_qsl(query) if value}


def _redacted(url: str) -> str:
    """The URL without its password."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    credentials, _, host = rest.partition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def _first_line(error: BaseException) -> str:
    text = str(error)
    # ServerSelectionTimeoutError appends a long topology description: keep the reason.
    return text.split(", Timeout:")[0].split(" (configured timeouts")[0].split("\n")[0]
