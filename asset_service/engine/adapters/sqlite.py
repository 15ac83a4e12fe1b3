"""The embedded catalog: one SQLite file, stdlib ``sqlite3``.

The record itself is stored as the JSON of ``Asset.to_document()``; the columns beside it exist
only to filter, sort and compare-and-set. One connection serves the process: a
``CapacityLimiter(1)`` is both the worker-thread limiter and the lock around it, so every call
is one thread hop and statements never interleave. Other processes sharing the file are handled
by WAL, ``busy_timeout`` and ``BEGIN IMMEDIATE`` for multi-statement writes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import trio

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
from ..model import Asset, UploadSession, format_time
from ._sqlite_events import EVENTS_MIGRATION, SqliteEventLog
from ._sqlite_previews import PREVIEWS_MIGRATION, SqlitePreviewStates

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000


def _backfill_search_columns(conn: sqlite3.Connection) -> None:
    """Step 2 added columns and tables derived from the document: compute them for the rows
    that existed before."""
    for asset_id, document in conn.execute("SELECT asset_id, document FROM assets").fetchall():
        asset = _asset(document)
        conn.execute(
            f"UPDATE assets SET {', '.join(f'{c} = ?' for c in _SEARCH_COLUMNS)}"
            " WHERE asset_id = ?",
            (*_search_row(asset), asset_id),
        )
        _write_terms(conn, asset)


#: Schema steps, applied in order; ``PRAGMA user_version`` records how many have run. Append
#: new steps, never edit old ones: existing databases have already run them. A step is SQL, or
#: a function of the connection for data that SQL can't compute.
MIGRATIONS: list[list[str | Callable[[sqlite3.Connection], None]]] = [
    [
        """CREATE TABLE assets (
            asset_id TEXT PRIMARY KEY,
            customer_id TEXT NOT NULL,
            type TEXT NOT NULL,
            folder TEXT NOT NULL,
            created_at TEXT NOT NULL,
            deleted_at TEXT,
            revision INTEGER NOT NULL,
            checksum TEXT NOT NULL,
            document TEXT NOT NULL
        )""",
        # asset_id completes the listing order, so keyset pages are served from the index.
        """CREATE INDEX assets_listing
            ON assets (customer_id, type, folder, created_at, asset_id)""",
        "CREATE INDEX assets_deleted ON assets (deleted_at)",
        "CREATE INDEX assets_checksum ON assets (checksum)",
        """CREATE TABLE folders (
            customer_id TEXT NOT NULL,
            type TEXT NOT NULL,
            path TEXT NOT NULL,
            PRIMARY KEY (customer_id, type, path)
        ) WITHOUT ROWID""",
        """CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            expires_at REAL NOT NULL
        )""",
    ],
    [
        # Search (engine.search): sortable and filterable fields beside the document, and the
        # tags and word tokens in tables of their own so a lookup is an index range scan.
        "ALTER TABLE assets ADD COLUMN user_id TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE assets ADD COLUMN visibility TEXT NOT NULL DEFAULT 'customer'",
        "ALTER TABLE assets ADD COLUMN name_key TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE assets ADD COLUMN updated_at TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE assets ADD COLUMN size INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE assets ADD COLUMN duration REAL",
        "ALTER TABLE assets ADD COLUMN category TEXT",
        "ALTER TABLE assets ADD COLUMN mime_type TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE assets ADD COLUMN format TEXT",
        """CREATE TABLE asset_tags (
            tag TEXT NOT NULL,
            asset_id TEXT NOT NULL,
            PRIMARY KEY (tag, asset_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX asset_tags_asset ON asset_tags (asset_id)",
        """CREATE TABLE asset_tokens (
            token TEXT NOT NULL,
            asset_id TEXT NOT NULL,
            PRIMARY KEY (token, asset_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX asset_tokens_asset ON asset_tokens (asset_id)",
        "CREATE INDEX assets_customer_updated ON assets (customer_id, updated_at)",
        "CREATE INDEX assets_customer_name ON assets (customer_id, name_key)",
        _backfill_search_columns,
    ],
    [
        # Resumable (tus) upload sessions: the record as JSON, with what compare-and-set and
        # the cleanup's expiry sweep look at beside it.
        """CREATE TABLE uploads (
            upload_id TEXT PRIMARY KEY,
            expires_at TEXT NOT NULL,
            revision INTEGER NOT NULL,
            document TEXT NOT NULL
        )""",
        "CREATE INDEX uploads_expiry ON uploads (expires_at, upload_id)",
    ],
    [
        # Search at 100 000 assets (bench/, BENCHMARKS.md): the default order (newest first)
        # and the size order walk an index and stop after a page instead of sorting every
        # asset of the customer (100 ms -> 0.1 ms).
        "CREATE INDEX assets_customer_created ON assets (customer_id, created_at, asset_id)",
        "CREATE INDEX assets_customer_size ON assets (customer_id, size, asset_id)",
    ],
    PREVIEWS_MIGRATION,  # previews: the PreviewStates port (_sqlite_previews.py)
    EVENTS_MIGRATION,  # the EventLog port (_sqlite_events.py)
]
SCHEMA_VERSION = len(MIGRATIONS)

_SEARCH_COLUMNS = (
    "user_id",
    "visibility",
    "name_key",
    "updated_at",
    "size",
    "duration",
    "category",
    "mime_type",
    "format",
)
_ASSET_COLUMNS = ", ".join(
    (
        "customer_id",
        "type",
        "folder",
        "created_at",
        "deleted_at",
        "revision",
        "checksum",
        "document",
        *_SEARCH_COLUMNS,
    )
)
_PLACEHOLDERS = ",".join("?" * (len(_ASSET_COLUMNS.split(", ")) + 1))


def _search_row(asset: Asset) -> tuple[Any, ...]:
    return (
        asset.user_id,
        asset.visibility.value,
        search.name_key(asset),
        format_time(asset.updated_at),
        asset.size,
        asset.duration,
        asset.category,
        asset.mime_type,
        asset.extracted.get("format"),
    )


def _row(asset: Asset) -> tuple[Any, ...]:
    doc = asset.to_document()
    return (
        asset.customer_id,
        asset.type,
        asset.metadata.folder,
        doc["created_at"],
        doc["deleted_at"],
        asset.revision,
        asset.checksum,
        json.dumps(doc, separators=(",", ":"), ensure_ascii=False),
        *_search_row(asset),
    )


def _write_terms(conn: sqlite3.Connection, asset: Asset) -> None:
    """The asset's tags and search tokens, replacing what was there."""
    conn.execute("DELETE FROM asset_tags WHERE asset_id = ?", (asset.asset_id,))
    conn.execute("DELETE FROM asset_tokens WHERE asset_id = ?", (asset.asset_id,))
    conn.executemany(
        "INSERT OR IGNORE INTO asset_tags (tag, asset_id) VALUES (?, ?)",
        [(tag, asset.asset_id) for tag in asset.metadata.tags],
    )
    conn.executemany(
        "INSERT INTO asset_tokens (token, asset_id) VALUES (?, ?)",
        [(token, asset.asset_id) for token in sorted(search.asset_tokens(asset))],
    )


#: SQL for each sort field; a missing duration sorts as -1 (engine.search.SORT_FIELDS)
_SORT_SQL = {
    "created_at": "created_at",
    "updated_at": "updated_at",
    "name": "name_key",
    "size": "size",
    "duration": "COALESCE(duration, -1.0)",
}


def _match_terms(query: AssetQuery) -> list[tuple[str, list[Any]]]:
    """The word and tag filters of ``query``: each a subquery selecting the ``asset_id`` of the
    assets it matches, with its parameters."""
    terms: list[tuple[str, list[Any]]] = [
        (
            "SELECT asset_id FROM asset_tokens WHERE token >= ? AND token < ?",
            [word, word + search.PREFIX_END],
        )
        for word in search.query_words(query.text or "")
    ]
    if query.tags:
        if query.tag_mode == "any":
            marks = ",".join("?" * len(query.tags))
            terms.append(
                (f"SELECT asset_id FROM asset_tags WHERE tag IN ({marks})", list(query.tags))
            )
        else:
            terms += [
                ("SELECT asset_id FROM asset_tags WHERE tag = ?", [tag]) for tag in query.tags
            ]
    return terms


def _where(
    query: AssetQuery, *, probe: str = "asset_id", driver: int | None = None
) -> tuple[list[str], list[Any]]:
    """The WHERE clauses and parameters of every filter in ``query`` (not the cursor). Word and
    tag filters become ``{probe} IN (subquery)``, except the one at index ``driver`` of
    ``_match_terms`` (``list`` joins that one instead)."""
    where = ["customer_id = ?"]
    params: list[Any] = [query.customer_id]

    def add(clause: str, *values: Any) -> None:
        where.append(clause)
        params.extend(values)

    if query.type is not None:
        add("type = ?", query.type)
    if query.folder is not None:
        base = query.folder.rstrip("/")
        if not query.recursive:
            add("folder = ?", base or "/")
        elif base:
            # A range, not LIKE: LIKE is case-insensitive and would need escaping.
            # '0' follows '/', so [base + '/', base + '0') is exactly "starts with base/".
            add("(folder = ? OR (folder >= ? AND folder < ?))", base, base + "/", base + "0")
    if query.deleted is not None:
        where.append("deleted_at IS NOT NULL" if query.deleted else "deleted_at IS NULL")
    for index, (subquery, values) in enumerate(_match_terms(query)):
        if index != driver:
            add(f"{probe} IN ({subquery})", *values)
    if query.category is not None:
        add("category = ?", query.category)
    if query.mime_type is not None:
        if query.mime_type.endswith("/*"):
            family = query.mime_type[:-1]
            add("mime_type >= ? AND mime_type < ?", family, family[:-1] + "0")
        else:
            add("mime_type = ?", query.mime_type)
    if query.checksum is not None:
        add("checksum = ?", query.checksum)
    if query.min_size is not None:
        add("size >= ?", query.min_size)
    if query.max_size is not None:
        add("size <= ?", query.max_size)
    if query.min_duration is not None:
        add("duration >= ?", query.min_duration)
    if query.max_duration is not None:
        add("duration <= ?", query.max_duration)
    for column, bound, op in (
        ("created_at", query.created_after, ">="),
        ("created_at", query.created_before, "<="),
        ("updated_at", query.updated_after, ">="),
        ("updated_at", query.updated_before, "<="),
    ):
        if bound is not None:
            add(f"{column} {op} ?", format_time(bound))
    if query.viewer_user_id is not None:
        add("(visibility != 'private' OR user_id = ?)", query.viewer_user_id)
    return where, params


#: a word or tag filter matching fewer rows than this drives the query (its matches are looked
#: up and sorted); one matching more is checked row by row while an index is walked in the
#: requested order, which stops after a page (bench/, BENCHMARKS.md: search at 100 000 assets)
SELECTIVE_MATCHES = 1000


def _list_sql(
    conn: sqlite3.Connection,
    query: AssetQuery,
    order: search.SortOrder,
    key: str,
    terms: list[tuple[str, list[Any]]],
    cursor: tuple[Any, str] | None,
) -> tuple[str, list[Any]]:
    """The page query, with its plan chosen here rather than by SQLite's planner, which has
    no statistics to tell a word matching 20 assets from one matching 30 000 (it walked the
    sort index for both: 20 ms for the rare word; with ANALYZE it looked up every match for
    both: 115 ms for the common one).

    - A selective word or tag (fewer than ``SELECTIVE_MATCHES`` rows, counted up to that
      bound) drives: its matches are joined to ``assets`` (``CROSS JOIN`` keeps that order)
      and sorted; the other filters are checked on them.
    - Otherwise every word and tag filter is a probe (``+asset_id IN``: the ``+`` keeps the
      planner from driving with it) and SQLite walks the index of the sort order, stopping
      after a page. A non-recursive type and folder listing sorted by anything but creation
      walks its own index (``assets_listing``) and sorts the folder instead (``+key``)."""
    driver: int | None = None
    if terms:
        counts = [
            conn.execute(
                f"SELECT COUNT(*) FROM ({subquery} LIMIT {SELECTIVE_MATCHES})", values
            ).fetchone()[0]
            for subquery, values in terms
        ]
        best = min(range(len(terms)), key=counts.__getitem__)
        if counts[best] < SELECTIVE_MATCHES:
            driver = best
    where, params = _where(
        query, probe="asset_id" if driver is not None else "+asset_id", driver=driver
    )
    if cursor is not None:
        where.append(f"({key}, asset_id) {'<' if order.descending else '>'} (?, ?)")
        params += list(cursor)
    direction = "DESC" if order.descending else "ASC"
    order_key = key
    listing = query.type is not None and query.folder is not None and not query.recursive
    if driver is None and listing and order.field != "created_at":
        order_key = f"+{key}"
    source = "assets"
    if driver is not None:
        subquery, values = terms[driver]
        source = (
            f"(SELECT DISTINCT asset_id FROM ({subquery})) AS m CROSS JOIN assets USING (asset_id)"
        )
        params = [*values, *params]
    sql = (
        f"SELECT {key}, asset_id, document FROM {source} WHERE {' AND '.join(where)}"
        f" ORDER BY {order_key} {direction}, asset_id {direction} LIMIT ?"
    )
    params.append(query.limit + 1)  # one more than asked tells whether a next page exists
    return sql, params


def _asset(document: str) -> Asset:
    return Asset.from_document(json.loads(document))


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front, so a concurrent writer in another process waits
    # (busy_timeout) at BEGIN instead of failing with SQLITE_BUSY halfway through.
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _connect(path: Path) -> sqlite3.Connection:
    """Open, switch to WAL and migrate; tried again for ``BUSY_TIMEOUT_MS`` while the file is
    locked. Processes opening one new file at once (workers at start) can meet SQLITE_BUSY
    where SQLite does not call the busy handler (the switch of a new file to WAL), and fail
    within milliseconds instead of waiting."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return _connect_once(path)
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)  # a worker thread's, not the event loop's


def _connect_once(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: autocommit; multi-statement writes say BEGIN themselves.
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise sqlite3.OperationalError(f"cannot enable WAL (journal_mode is {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
        _migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    with _transaction(conn):
        # Read inside the write transaction: two processes opening a new file at once must
        # not both run the same step.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"schema version {version} is newer than this code knows ({SCHEMA_VERSION})"
            )
        for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in step:
                if callable(statement):
                    statement(conn)
                else:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")


class SqliteCatalog(SqliteEventLog, SqlitePreviewStates, Catalog):
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._limiter = trio.CapacityLimiter(1)

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise RuntimeError("catalog is not open")
        return await trio.to_thread.run_sync(fn, conn, limiter=self._limiter)

    async def open(self) -> None:
        if self._conn is not None:
            return
        try:
            self._conn = await trio.to_thread.run_sync(_connect, self.path, limiter=self._limiter)
        except (sqlite3.Error, OSError) as exc:
            raise ConnectionError(f"cannot open catalog {self.path}: {exc}") from exc

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return

        def close() -> None:
            try:
                conn.execute("PRAGMA optimize")  # recommended just before closing
            finally:
                conn.close()

        # Shielded: closing during shutdown-by-cancellation must still release the file.
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(close, limiter=self._limiter)

    async def insert(self, asset: Asset) -> None:
        def insert(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                conn.execute(
                    f"INSERT INTO assets (asset_id, {_ASSET_COLUMNS}) VALUES ({_PLACEHOLDERS})",
                    (asset.asset_id, *_row(asset)),
                )
                _write_terms(conn, asset)

        try:
            await self._call(insert)
        except sqlite3.IntegrityError:
            raise KeyError(asset.asset_id) from None

    async def get(self, asset_id: str) -> Asset | None:
        def get(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT document FROM assets WHERE asset_id = ?", (asset_id,)
            ).fetchone()
            return row[0] if row else None

        document = await self._call(get)
        return _asset(document) if document is not None else None

    async def replace(self, asset: Asset, expected_revision: int) -> bool:
        assignments = ", ".join(f"{column} = ?" for column in _ASSET_COLUMNS.split(", "))

        def replace(conn: sqlite3.Connection) -> bool:
            with _transaction(conn):
                cursor = conn.execute(
                    f"UPDATE assets SET {assignments} WHERE asset_id = ? AND revision = ?",
                    (*_row(asset), asset.asset_id, expected_revision),
                )
                if cursor.rowcount != 1:
                    return False
                _write_terms(conn, asset)
                return True

        return await self._call(replace)

    async def delete(self, asset_id: str) -> None:
        def delete(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                for table in ("assets", "asset_tags", "asset_tokens"):
                    conn.execute(f"DELETE FROM {table} WHERE asset_id = ?", (asset_id,))

        await self._call(delete)

    async def list(self, query: AssetQuery) -> Page:
        if query.limit < 1:
            raise ValueError("limit must be at least 1")
        order = query.sort
        key = _SORT_SQL[order.field]
        cursor: tuple[Any, str] | None = None
        if query.cursor is not None:
            cursor = search.decode_cursor(query.cursor, order)
        terms = _match_terms(query)

        def select(conn: sqlite3.Connection) -> list[Any]:
            sql, params = _list_sql(conn, query, order, key, terms, cursor)
            return conn.execute(sql, params).fetchall()

        rows = await self._call(select)
        page = rows[: query.limit]
        next_cursor = None
        if len(rows) > query.limit:
            next_cursor = search.encode_cursor(order, page[-1][0], page[-1][1])
        return Page([_asset(row[2]) for row in page], next_cursor)

    async def facets(self, query: AssetQuery, field: str) -> list[Facet]:
        where, params = _where(query)
        if field == "tags":
            sql = (
                "SELECT t.tag, COUNT(*) FROM asset_tags t JOIN assets a USING (asset_id)"
                f" WHERE {' AND '.join(where)} GROUP BY t.tag"
            )
        elif field == "category":
            sql = (
                f"SELECT category, COUNT(*) FROM assets WHERE {' AND '.join(where)}"
                " AND category IS NOT NULL GROUP BY category"
            )
        else:
            raise ValueError(f"no facets for {field!r}")
        rows = await self._call(lambda conn: conn.execute(sql, params).fetchall())
        return sorted(
            (Facet(name, count) for name, count in rows), key=lambda f: (-f.count, f.name)
        )

    async def stats(self, query: AssetQuery) -> Stats:
        where, params = _where(query)
        sums = "COUNT(*), COALESCE(SUM(size), 0), COALESCE(SUM(duration), 0.0)"
        clause = " AND ".join(where)

        def read(conn: sqlite3.Connection) -> tuple[Any, list[Any], list[Any]]:
            total = conn.execute(f"SELECT {sums} FROM assets WHERE {clause}", params).fetchone()
            by_format = conn.execute(
                f"SELECT COALESCE(format, 'unknown'), {sums} FROM assets WHERE {clause} GROUP BY 1",
                params,
            ).fetchall()
            by_folder = conn.execute(
                f"SELECT folder, {sums} FROM assets WHERE {clause} GROUP BY folder", params
            ).fetchall()
            return total, by_format, by_folder

        total, by_format, by_folder = await self._call(read)
        return Stats(
            Totals(*total),
            {row[0]: Totals(*row[1:]) for row in by_format},
            {row[0]: Totals(*row[1:]) for row in by_folder},
        )

    async def deleted_before(self, cutoff: datetime, limit: int = 500) -> list[Asset]:
        def deleted_before(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT document FROM assets WHERE deleted_at IS NOT NULL AND deleted_at <= ?"
                " ORDER BY deleted_at, asset_id LIMIT ?",
                (format_time(cutoff), limit),
            ).fetchall()

        return [_asset(row[0]) for row in await self._call(deleted_before)]

    async def add_folder(self, customer_id: str, asset_type: str, path: str) -> bool:
        paths = folder_and_parents(path)
        if not paths:
            return False  # the root always exists

        def add(conn: sqlite3.Connection) -> bool:
            added = False
            with _transaction(conn):
                for folder in paths:
                    cursor = conn.execute(
                        "INSERT OR IGNORE INTO folders (customer_id, type, path) VALUES (?,?,?)",
                        (customer_id, asset_type, folder),
                    )
                    added = cursor.rowcount == 1  # the last one is the folder asked for
            return added

        return await self._call(add)

    async def folders(self, customer_id: str, asset_type: str) -> list[FolderInfo]:
        def read(conn: sqlite3.Connection) -> tuple[list[Any], list[Any]]:
            stored = conn.execute(
                "SELECT path FROM folders WHERE customer_id = ? AND type = ?",
                (customer_id, asset_type),
            ).fetchall()
            counts = conn.execute(
                "SELECT folder, COUNT(*) FROM assets"
                " WHERE customer_id = ? AND type = ? AND deleted_at IS NULL GROUP BY folder",
                (customer_id, asset_type),
            ).fetchall()
            return stored, counts

        stored, counts = await self._call(read)
        count_of = {folder: count for folder, count in counts}
        # The root is always listed; a folder that only holds assets brings its parents along.
        paths = {"/"}
        for folder in [row[0] for row in stored] + list(count_of):
            try:
                paths.update(folder_and_parents(folder))
            except ValueError:
                paths.add(folder)  # list what is stored even if malformed
        return [FolderInfo(path, count_of.get(path, 0)) for path in sorted(paths)]

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        def acquire(conn: sqlite3.Connection) -> bool:
            now = time.time()
            # One statement, so it is atomic across processes too: insert, or take over only
            # if the lease is ours already or has run out.
            cursor = conn.execute(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE"
                " SET holder = excluded.holder, expires_at = excluded.expires_at"
                " WHERE leases.holder = excluded.holder OR leases.expires_at <= ?",
                (name, holder, now + ttl, now),
            )
            return cursor.rowcount == 1

        return await self._call(acquire)

    async def release_lease(self, name: str, holder: str) -> None:
        await self._call(
            lambda conn: conn.execute(
                "DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder)
            )
        )

    # --- resumable upload sessions -----------------------------------------------------------

    async def insert_upload(self, session: UploadSession) -> None:
        row = _upload_row(session)
        try:
            await self._call(
                lambda conn: conn.execute(
                    "INSERT INTO uploads (upload_id, expires_at, revision, document)"
                    " VALUES (?, ?, ?, ?)",
                    (session.upload_id, *row),
                )
            )
        except sqlite3.IntegrityError:
            raise KeyError(session.upload_id) from None

    async def get_upload(self, upload_id: str) -> UploadSession | None:
        row = await self._call(
            lambda conn: conn.execute(
                "SELECT document FROM uploads WHERE upload_id = ?", (upload_id,)
            ).fetchone()
        )
        return _upload(row[0]) if row else None

    async def replace_upload(self, session: UploadSession, expected_revision: int) -> bool:
        row = _upload_row(session)
        cursor = await self._call(
            lambda conn: conn.execute(
                "UPDATE uploads SET expires_at = ?, revision = ?, document = ?"
                " WHERE upload_id = ? AND revision = ?",
                (*row, session.upload_id, expected_revision),
            )
        )
        return cursor.rowcount == 1

    async def delete_upload(self, upload_id: str, expected_revision: int | None = None) -> bool:
        if expected_revision is None:
            sql, params = "DELETE FROM uploads WHERE upload_id = ?", (upload_id,)
        else:
            sql = "DELETE FROM uploads WHERE upload_id = ? AND revision = ?"
            params = (upload_id, expected_revision)  # type: ignore[assignment]
        cursor = await self._call(lambda conn: conn.execute(sql, params))
        return cursor.rowcount == 1

    async def count_open_uploads(self, customer_id: str, now: datetime) -> int:
        row = await self._call(
            lambda conn: conn.execute(
                "SELECT count(*) FROM uploads WHERE expires_at > ?"
                " AND json_extract(document, '$.customer_id') = ?"
                " AND json_extract(document, '$.state') IN ('receiving', 'committing')",
                (format_time(now), customer_id),
            ).fetchone()
        )
        return int(row[0])

    async def expired_uploads(self, cutoff: datetime, limit: int = 200) -> list[UploadSession]:
        rows = await self._call(
            lambda conn: conn.execute(
                "SELECT document FROM uploads WHERE expires_at <= ?"
                " ORDER BY expires_at, upload_id LIMIT ?",
                (format_time(cutoff), limit),
            ).fetchall()
        )
        return [_upload(row[0]) for row in rows]

    async def committing_uploads(
        self, started_before: datetime, limit: int = 50
    ) -> list[UploadSession]:
        # Few sessions commit at a time, and a pass runs every half minute: a scan of the
        # sessions (as ``count_open_uploads`` does) needs no index of its own.
        rows = await self._call(
            lambda conn: conn.execute(
                "SELECT document FROM uploads"
                " WHERE json_extract(document, '$.state') = 'committing'"
                " AND coalesce(json_extract(document, '$.committing_since'), '') <= ?"
                " ORDER BY coalesce(json_extract(document, '$.committing_since'), ''), upload_id"
                " LIMIT ?",
                (format_time(started_before), limit),
            ).fetchall()
        )
        return [_upload(row[0]) for row in rows]


def _upload_row(session: UploadSession) -> tuple[Any, ...]:
    doc = session.to_document()
    return (
        doc["expires_at"],
        session.revision,
        json.dumps(doc, separators=(",", ":"), ensure_ascii=False),
    )


def _upload(document: str) -> UploadSession:
    return UploadSession.from_document(json.loads(document))
