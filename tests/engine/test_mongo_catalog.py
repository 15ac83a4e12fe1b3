"""What only the MongoDB catalog promises, beyond the port's contracts: the stored shape (the
seed's ``assets`` schema field for field), its indexes, its client's timeouts, clear errors at
start, and a wire-level smoke test against ``nx-27017`` (a real wire-protocol server that
corrupts some data — docs/decisions.md — so only connect, insert, find and duplicate key here).
"""

from __future__ import annotations

import time

import mongomock
import pymongo
import pytest
import trio

from asset_service.engine.adapters.mongo import (
    ASSET_INDEXES,
    DEFAULT_DATABASE,
    MongoCatalog,
    database_name,
)
from asset_service.engine.model import Asset

from .catalog_samples import make_asset
from .conftest import mongomock_catalog_on


def test_database_name_comes_from_the_url() -> None:
    assert database_name("mongodb://mongo:27017/library") == "library"
    assert database_name("mongodb://u:p@a:1,b:2/lib?replicaSet=rs0") == "lib"
    assert database_name("mongodb://mongo:27017") == DEFAULT_DATABASE
    assert database_name("mongodb+srv://cluster.example.com/prod") == "prod"
    for bad in ("mongodb://mongo:port/db", "postgres://db/x"):
        with pytest.raises(ValueError):
            database_name(bad)


def test_the_client_has_timeouts_and_the_url_can_change_them() -> None:
    catalog = MongoCatalog("mongodb://user:pw@mongo:27017/assets")
    client = catalog._make_client()  # connect=False: nothing is contacted
    try:
        assert client.options.server_selection_timeout == 5.0
        assert client.options.timeout == 30.0
        assert client.options.pool_options.connect_timeout == 5.0
    finally:
        client.close()
    tuned = MongoCatalog("mongodb://mongo/assets?serverSelectionTimeoutMS=800&timeoutMS=9000")
    client = tuned._make_client()
    try:
        assert client.options.server_selection_timeout == 0.8
        assert client.options.timeout == 9.0
    finally:
        client.close()
    assert "pw" not in repr(catalog)


async def test_the_stored_document_is_the_seed_record_field_for_field(mongomock_catalog) -> None:
    asset = make_asset(folder="/a/b")
    await mongomock_catalog.insert(asset)
    raw = await mongomock_catalog._call(lambda db: db.assets.find_one({"asset_id": asset.asset_id}))
    search = raw.pop("_search")
    raw.pop("_id")
    assert raw == asset.to_document()
    assert set(search) == {"tokens", "tags", "name", "format", "duration", "duration_sum"}
    assert "ünïcode" not in search["tokens"] and "unicode" in search["tokens"]  # folded
    assert await mongomock_catalog.get(asset.asset_id) == asset


async def test_every_index_is_created(mongomock_catalog) -> None:
    indexes = await mongomock_catalog._call(lambda db: db.assets.index_information())
    for model in ASSET_INDEXES:
        spec = model.document
        assert spec["name"] in indexes
        assert list(indexes[spec["name"]]["key"]) == list(spec["key"].items())
    assert indexes["asset_id_unique"].get("unique") is True
    folders = await mongomock_catalog._call(lambda db: db.folders.index_information())
    assert folders["folder_unique"].get("unique") is True


async def test_opening_twice_is_idempotent_and_close_is_counted(mongomock_catalog) -> None:
    await mongomock_catalog.open()  # indexes already there: nothing fails
    await mongomock_catalog.close()
    assert await mongomock_catalog.get("nothing") is None  # still open


async def test_use_before_open_is_an_error() -> None:
    catalog = mongomock_catalog_on(mongomock.MongoClient(), trio.CapacityLimiter(1))
    with pytest.raises(RuntimeError):
        await catalog.get("x")


async def test_an_injected_client_is_not_closed() -> None:
    client = mongomock.MongoClient()
    catalog = mongomock_catalog_on(client, trio.CapacityLimiter(1))
    await catalog.open()
    await catalog.close()
    assert client.assets.list_collection_names()  # still usable by its owner


async def test_an_unreachable_server_is_a_clear_connection_error() -> None:
    from tests.backends import free_port

    port = free_port()  # nothing listens there
    catalog = MongoCatalog(f"mongodb://127.0.0.1:{port}/assets?serverSelectionTimeoutMS=500")
    started = time.monotonic()
    with pytest.raises(ConnectionError) as error:
        await catalog.open()
    assert time.monotonic() - started < 5  # not timeoutMS (30 s): the first contact is short
    message = str(error.value)
    assert f"MongoDB catalog at mongodb://127.0.0.1:{port}/assets" in message
    assert "unreachable" in message and "\n" not in message


async def test_lease_upsert_race_is_decided_by_the_unique_id(mongomock_catalog) -> None:
    """The losing upsert of a live lease collides with the holder's ``_id``: ``False``, and
    the holder keeps it."""
    assert await mongomock_catalog.acquire_lease("job", "one", 60)
    assert not await mongomock_catalog.acquire_lease("job", "two", 60)
    lease = await mongomock_catalog._call(lambda db: db.leases.find_one({"_id": "job"}))
    assert lease["holder"] == "one"


# --- nx-27017: the wire protocol -------------------------------------------------------------


async def test_wire_protocol_smoke_against_nx_27017(nx_url: str) -> None:
    """A real pymongo client over TCP: connect (ping, create the indexes), insert, find, and a
    duplicate key refused by the unique index."""
    catalog = MongoCatalog(f"{nx_url}/assetsmoke?serverSelectionTimeoutMS=5000")
    await catalog.open()
    try:
        asset = make_asset()
        await catalog.insert(asset)
        found = await catalog.get(asset.asset_id)
        assert isinstance(found, Asset)
        assert (found.asset_id, found.customer_id, found.name) == (
            asset.asset_id,
            asset.customer_id,
            asset.name,
        )
        assert await catalog.get("no-such-asset") is None
        with pytest.raises(KeyError):
            await catalog.insert(asset)
    finally:
        await catalog.close()

    def raw_duplicate() -> None:
        with pymongo.MongoClient(nx_url, serverSelectionTimeoutMS=5000) as client:
            collection = client.assetsmoke.assets
            with pytest.raises(pymongo.errors.DuplicateKeyError):
                collection.insert_one({"asset_id": asset.asset_id})

    await trio.to_thread.run_sync(raw_duplicate)
