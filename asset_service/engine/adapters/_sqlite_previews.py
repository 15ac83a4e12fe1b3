"""``PreviewStates`` on SQLite: a ``previews`` table keyed by (asset, version, kind), the state
as JSON beside its status. Mixed into ``SqliteCatalog`` (it shares its connection)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..preview_types import PreviewState, PreviewStatus

T = TypeVar("T")

#: the schema step ``SqliteCatalog``'s migrations end with
PREVIEWS_MIGRATION: list[str | Callable[[sqlite3.Connection], None]] = [
    """CREATE TABLE previews (
        asset_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (asset_id, version, kind)
    ) WITHOUT ROWID""",
    "CREATE INDEX previews_pending ON previews (status, asset_id, version)",
]


def _row(state: PreviewState) -> tuple[Any, ...]:
    return (
        state.asset_id,
        state.version,
        state.kind,
        state.status.value,
        json.dumps(state.to_document()),
    )


class SqlitePreviewStates:
    _call: Callable[..., Any]

    async def expect_previews(self, states: Sequence[PreviewState]) -> None:
        rows = [_row(state) for state in states]

        def insert(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR IGNORE INTO previews (asset_id, version, kind, status, document)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )

        if rows:
            await self._call(insert)

    async def save_preview(self, state: PreviewState) -> None:
        row = _row(state)
        await self._call(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO previews (asset_id, version, kind, status, document)"
                " VALUES (?, ?, ?, ?, ?)",
                row,
            )
        )

    async def previews_of(self, asset_id: str, version: int | None = None) -> list[PreviewState]:
        def read(conn: sqlite3.Connection) -> list[Any]:
            if version is None:
                return conn.execute(
                    "SELECT document FROM previews WHERE asset_id = ? ORDER BY version, kind",
                    (asset_id,),
                ).fetchall()
            return conn.execute(
                "SELECT document FROM previews WHERE asset_id = ? AND version = ? ORDER BY kind",
                (asset_id, version),
            ).fetchall()

        return [PreviewState.from_document(json.loads(row[0])) for row in await self._call(read)]

    async def pending_previews(
        self, after: tuple[str, int] | None = None, limit: int = 200
    ) -> list[tuple[str, int]]:
        start = after or ("", -1)

        def read(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT DISTINCT asset_id, version FROM previews"
                " WHERE status = ? AND (asset_id, version) > (?, ?)"
                " ORDER BY asset_id, version LIMIT ?",
                (PreviewStatus.PENDING.value, *start, limit),
            ).fetchall()

        return [(row[0], int(row[1])) for row in await self._call(read)]

    async def delete_previews(self, asset_id: str, version: int | None = None) -> None:
        if version is None:
            sql, args = "DELETE FROM previews WHERE asset_id = ?", (asset_id,)
        else:
            sql = "DELETE FROM previews WHERE asset_id = ? AND version = ?"
            args = (asset_id, version)  # type: ignore[assignment]
        await self._call(lambda conn: conn.execute(sql, args))

    async def asset_ids(self, after: str | None = None, limit: int = 500) -> list[str]:
        def read(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(
                "SELECT asset_id FROM assets WHERE asset_id > ? ORDER BY asset_id LIMIT ?",
                (after or "", limit),
            ).fetchall()

        return [row[0] for row in await self._call(read)]
