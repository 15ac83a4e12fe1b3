"""What only the SQLite catalog promises: its file settings, schema versioning, reopening."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from asset_service.engine.adapters.sqlite import MIGRATIONS, SCHEMA_VERSION, SqliteCatalog
from asset_service.engine.catalog import AssetQuery

from .catalog_samples import make_asset


def pragma(path: Path, name: str) -> object:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


async def test_wal_mode_is_on(sqlite_catalog: SqliteCatalog) -> None:
    assert pragma(sqlite_catalog.path, "journal_mode") == "wal"


async def test_schema_version_is_recorded(sqlite_catalog: SqliteCatalog) -> None:
    assert len(MIGRATIONS) == SCHEMA_VERSION
    assert pragma(sqlite_catalog.path, "user_version") == SCHEMA_VERSION


async def test_reopening_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    asset = make_asset(folder="/kept")
    first = SqliteCatalog(path)
    await first.open()
    await first.insert(asset)
    await first.add_folder(asset.customer_id, asset.type, "/kept/inner")
    await first.close()

    second = SqliteCatalog(path)
    await second.open()  # migrations already applied: nothing runs twice
    try:
        assert await second.get(asset.asset_id) == asset
        page = await second.list(AssetQuery(customer_id=asset.customer_id, folder="/kept"))
        assert page.items == [asset]
        assert [f.path for f in await second.folders(asset.customer_id, asset.type)] == [
            "/",
            "/kept",
            "/kept/inner",
        ]
    finally:
        await second.close()
    assert pragma(path, "user_version") == SCHEMA_VERSION


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ConnectionError, match="newer"):
        await SqliteCatalog(path).open()


async def test_unusable_path_is_a_connection_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(ConnectionError):
        await SqliteCatalog(blocker / "catalog.sqlite3").open()
    (tmp_path / "not-a-db").write_bytes(b"this is not a database file, just text" * 100)
    with pytest.raises(ConnectionError):
        await SqliteCatalog(tmp_path / "not-a-db").open()


async def test_use_before_open_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        await SqliteCatalog(tmp_path / "catalog.sqlite3").get("x")


async def test_malformed_folder_is_refused(sqlite_catalog: SqliteCatalog) -> None:
    for path in ("a/b", "/a//b", ""):
        with pytest.raises(ValueError):
            await sqlite_catalog.add_folder("cust-1", "image", path)
