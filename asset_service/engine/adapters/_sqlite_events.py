"""``EventLog`` on SQLite: an ``events`` table whose ``AUTOINCREMENT`` key is the event's id.

Every append is one write transaction, so ids are taken in commit order and a reader (each
instance polls every ``EngineConfig.event_poll_interval``) never sees a later id before an
earlier one. Mixed into ``SqliteCatalog`` (it shares its connection and its thread).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from ..event_log import (
    LoggedEvent,
    event_document,
    event_from_document,
    format_event_id,
    upload_id_of,
)
from ..events import Event

#: the schema step of the event log in ``SqliteCatalog``'s migrations
EVENTS_MIGRATION: list[str | Callable[[sqlite3.Connection], None]] = [
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        logged_at REAL NOT NULL,
        customer_id TEXT NOT NULL,
        upload_id TEXT,
        document TEXT NOT NULL
    )""",
    "CREATE INDEX events_logged_at ON events (logged_at)",
    "CREATE INDEX events_upload ON events (customer_id, upload_id, id) WHERE upload_id IS NOT NULL",
]


def _logged(row: Any) -> LoggedEvent:
    return LoggedEvent(format_event_id(row[0]), event_from_document(json.loads(row[1])))


class SqliteEventLog:
    _call: Callable[..., Any]

    async def append_events(self, events: Sequence[Event], now: float) -> list[str]:
        rows = [
            (now, e.customer_id, upload_id_of(e), json.dumps(event_document(e))) for e in events
        ]

        def append(conn: sqlite3.Connection) -> list[str]:
            conn.execute("BEGIN IMMEDIATE")
            try:
                ids = [
                    conn.execute(
                        "INSERT INTO events (logged_at, customer_id, upload_id, document)"
                        " VALUES (?, ?, ?, ?)",
                        row,
                    ).lastrowid
                    for row in rows
                ]
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return [format_event_id(number) for number in ids if number is not None]

        return await self._call(append) if rows else []

    async def events_after(self, after: int, limit: int) -> list[LoggedEvent]:
        rows = await self._call(
            lambda conn: conn.execute(
                "SELECT id, document FROM events WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit),
            ).fetchall()
        )
        return [_logged(row) for row in rows]

    async def latest_event_id(self) -> int:
        row = await self._call(lambda conn: conn.execute("SELECT MAX(id) FROM events").fetchone())
        return int(row[0] or 0)

    async def has_event(self, number: int) -> bool:
        row = await self._call(
            lambda conn: conn.execute("SELECT 1 FROM events WHERE id = ?", (number,)).fetchone()
        )
        return row is not None

    async def last_upload_progress(self, customer_id: str, upload_id: str) -> LoggedEvent | None:
        row = await self._call(
            lambda conn: conn.execute(
                "SELECT id, document FROM events WHERE customer_id = ? AND upload_id = ?"
                " ORDER BY id DESC LIMIT 1",
                (customer_id, upload_id),
            ).fetchone()
        )
        return _logged(row) if row is not None else None

    async def prune_events(self, before: float, keep_last: int) -> int:
        def prune(conn: sqlite3.Connection) -> int:
            # the newest ``keep_last`` stay whatever their age: the id below which to look
            row = conn.execute(
                "SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?", (keep_last,)
            ).fetchone()
            if row is None:
                return 0
            return conn.execute(
                "DELETE FROM events WHERE id <= ? AND logged_at < ?", (row[0], before)
            ).rowcount

        return await self._call(prune)
