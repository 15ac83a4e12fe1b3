"""``/readyz`` reports each backend: both answering, one failing, one hanging."""

from __future__ import annotations

import trio

from asset_service.http.routes import health


async def test_ready_with_each_backend_named(client, settings):
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] == {"catalog": "ok", "blob_store": "ok"}
    expected_store = "MinioBlobStore" if settings.blob_store else "FilesystemBlobStore"
    assert body["backends"] == {"catalog": "SqliteCatalog", "blob_store": expected_store}


async def test_a_failing_backend_is_reported_by_name(client, engine, monkeypatch):
    async def refuse(*args):
        raise ConnectionError("the blob store went away")

    monkeypatch.setattr(engine.store, "stat", refuse)
    response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"] == {"catalog": "ok", "blob_store": "error: the blob store went away"}


async def test_a_hanging_backend_times_out_without_hiding_the_other(client, engine, monkeypatch):
    async def hang(*args):
        await trio.sleep_forever()

    monkeypatch.setattr(health, "READY_TIMEOUT", 0.3)
    monkeypatch.setattr(engine.catalog, "get", hang)
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"catalog": "timeout", "blob_store": "ok"}
