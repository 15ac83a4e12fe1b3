"""The upload actor, through the engine: streaming, commit, and nothing left behind on any
failure. Runs over every blob store and catalog adapter."""

from __future__ import annotations

import hashlib

import pytest
import trio

from asset_service.engine import AssetEngine, AssetQuery, NewAssetFields, NewUpload, UploadSpec
from asset_service.engine.errors import (
    AssetServiceError,
    Forbidden,
    InvalidInput,
    PayloadTooLarge,
    UnprocessableContent,
    UnsupportedContent,
)
from asset_service.engine.model import TEMP_BUCKET, UploadState

from .conftest import EDITOR, VIEWER


def spec(**changes: object) -> UploadSpec:
    values: dict[str, object] = {"principal": EDITOR, "filename": "a.txt", "max_bytes": 1 << 20}
    values.update(changes)
    return UploadSpec(**values)  # type: ignore[arg-type]


async def upload(engine, chunks: list[bytes], fields=None, **spec_changes):
    async with await engine.begin_upload(spec(**spec_changes)) as handle:
        for chunk in chunks:
            await handle.write(chunk)
        return await handle.commit(fields)


async def leftovers(engine) -> list[str]:
    """Temp blobs and records: what a failed upload must not leave."""
    temp = [blob.key async for blob in engine.store.list(TEMP_BUCKET)]
    page = await engine.catalog.list(AssetQuery(customer_id="acme", deleted=None))
    return temp + [asset.asset_id for asset in page.items]


async def test_commit_streams_hashes_and_promotes(open_test_engine):
    chunks = [b"TXT:", b"line one\n" * 1000, b"x" * 100_000]
    async with open_test_engine() as engine:
        fields = NewAssetFields(name="Notes", tags=("a",), folder="/docs/2026")
        asset = await upload(engine, chunks, fields)
        body = b"".join(chunks)
        assert asset.checksum == hashlib.sha256(body).hexdigest()
        assert asset.size == len(body)
        assert asset.type == "document"
        assert asset.mime_type == "text/plain"
        assert asset.name == "Notes"
        assert asset.metadata.folder == "/docs/2026"
        assert asset.extracted == {"format": "txt", "lines": 1000}
        assert asset.storage.bucket == "document-assets"
        assert asset.storage.key == f"acme/{asset.asset_id}/v1"
        assert [v.version for v in asset.versions] == [1]
        stored = b"".join([c async for c in engine.read(asset, asset.versions[0])])
        assert stored == body
        assert await engine.catalog.get(asset.asset_id) == asset
        assert [blob.key async for blob in engine.store.list(TEMP_BUCKET)] == []
        folders = await engine.catalog.folders("acme", "document")
        assert "/docs/2026" in {f.path for f in folders}


async def test_leaving_without_commit_removes_the_temp_blob(open_test_engine):
    async with open_test_engine() as engine:
        async with await engine.begin_upload(spec()) as handle:
            await handle.write(b"TXT: half of it")
        assert await leftovers(engine) == []
        assert engine.upload_progress("acme", handle.upload_id) is None


async def test_cancelled_upload_leaves_nothing(open_test_engine):
    async with open_test_engine() as engine:
        with trio.move_on_after(5) as scope:
            async with await engine.begin_upload(spec()) as handle:
                await handle.write(b"TXT: start")
                scope.cancel()
                await handle.write(b"never")
        assert scope.cancelled_caught
        assert await leftovers(engine) == []


async def test_over_the_limit_fails_while_streaming(open_test_engine):
    async with open_test_engine() as engine:
        with pytest.raises(PayloadTooLarge):
            async with await engine.begin_upload(spec(max_bytes=1000)) as handle:
                for _ in range(10):
                    await handle.write(b"TXT:" + b"x" * 400)
        assert await leftovers(engine) == []


@pytest.mark.parametrize(
    ("chunks", "changes", "error"),
    [
        ([], {}, InvalidInput),
        ([b"\x00\x01 what is this"], {}, UnsupportedContent),
        ([b"TXT: text"], {"declared_type": "image"}, UnsupportedContent),
        ([b"TXT: BROKEN"], {}, UnprocessableContent),
        ([b"TXT: BUG"], {}, AssetServiceError),
    ],
    ids=["empty", "unknown-bytes", "declared-mismatch", "invalid", "plugin-bug"],
)
async def test_rejected_content_leaves_nothing_and_the_actor_keeps_serving(
    open_test_engine, chunks, changes, error
):
    async with open_test_engine() as engine:
        with pytest.raises(error):
            await upload(engine, chunks, **changes)
        assert await leftovers(engine) == []
        asset = await upload(engine, [b"TXT: fine"])
        assert asset.size == 9


async def test_declared_type_at_commit_is_checked(open_test_engine):
    async with open_test_engine() as engine:
        async with await engine.begin_upload(spec()) as handle:
            await handle.write(b"IMG: pixels")
            with pytest.raises(UnsupportedContent, match="expected audio"):
                await handle.commit(None, declared_type="audio")
        assert await leftovers(engine) == []


async def test_a_viewer_cannot_upload(open_test_engine):
    async with open_test_engine() as engine:
        with pytest.raises(Forbidden):
            await engine.begin_upload(spec(principal=VIEWER))


async def test_catalog_failure_removes_the_promoted_blob(open_test_engine, catalog, monkeypatch):
    async def refuse(asset):
        raise RuntimeError("catalog down")

    async with open_test_engine() as engine:
        monkeypatch.setattr(catalog, "insert", refuse)
        with pytest.raises(AssetServiceError):
            await upload(engine, [b"TXT: doomed"])
        blobs = [blob.key async for blob in engine.store.list("document-assets")]
        assert blobs == []
        assert [blob.key async for blob in engine.store.list(TEMP_BUCKET)] == []


async def test_progress_is_published_and_ends_committed(open_test_engine):
    async with open_test_engine() as engine, engine.hub.subscribe() as events:
        asset = await upload(engine, [b"TXT:", b"y" * 70_000, b"z" * 70_000])
        progress = []
        while True:
            with trio.move_on_after(1):
                event = await events.receive()
            if event.name == "upload.progress":
                progress.append(event.data)
            if event.name == "asset.created":
                break
    received = [p["received_bytes"] for p in progress]
    assert received == sorted(received)
    assert progress[-1]["state"] == "committed"
    assert progress[-1]["asset_id"] == asset.asset_id
    assert progress[-1]["received_bytes"] == asset.size


async def test_concurrent_uploads_are_independent(open_test_engine):
    async with open_test_engine() as engine:
        results: dict[int, str] = {}

        async def one(n: int) -> None:
            asset = await upload(engine, [b"TXT:", str(n).encode() * 1000])
            results[n] = asset.checksum

        async with trio.open_nursery() as nursery:
            for n in range(8):
                nursery.start_soon(one, n)
        for n, checksum in results.items():
            assert checksum == hashlib.sha256(b"TXT:" + str(n).encode() * 1000).hexdigest()
        page = await engine.catalog.list(AssetQuery(customer_id="acme"))
        assert len(page.items) == 8


async def test_a_failure_behind_a_queued_commit_still_answers_the_commit(open_test_engine):
    """The last chunks and the commit are queued before the session sees the chunk that
    breaks the limit: the commit must get that error, not wait for ever."""
    async with open_test_engine() as engine:
        with trio.fail_after(5):
            async with await engine.begin_upload(spec(max_bytes=10)) as handle:
                await handle.write(b"TXT:abc")
                await handle.write(b"defgh")  # over the limit, still only queued
                with pytest.raises(PayloadTooLarge):
                    await handle.commit()
        assert await leftovers(engine) == []


async def test_a_store_failing_during_cleanup_still_answers_and_keeps_the_actor(
    open_test_engine, blob_store, monkeypatch
):
    real_delete = blob_store.delete

    async def failing_temp_delete(bucket, key):
        if bucket == TEMP_BUCKET:
            raise OSError("EIO: the disk said no")
        await real_delete(bucket, key)

    async with open_test_engine() as engine:
        monkeypatch.setattr(blob_store, "delete", failing_temp_delete)
        with trio.fail_after(5):
            with pytest.raises(UnsupportedContent):
                await upload(engine, [b"\x00 unknown bytes"])
            monkeypatch.setattr(blob_store, "delete", real_delete)
            asset = await upload(engine, [b"TXT: the actor is still serving"])
        assert asset.size == len(b"TXT: the actor is still serving")


async def test_client_upload_ids_are_labels_not_storage_keys(open_test_engine):
    """Two customers may pick the same X-Upload-Id: each gets their own bytes."""
    from .conftest import OUTSIDER

    async with open_test_engine() as engine:
        handles = [
            await engine.begin_upload(spec(upload_id="same-label-123")),
            await engine.begin_upload(spec(principal=OUTSIDER, upload_id="same-label-123")),
        ]
        with pytest.raises(InvalidInput):
            await engine.begin_upload(spec(upload_id="same-label-123"))
        await handles[0].write(b"TXT: alice's text")
        await handles[1].write(b"TXT: mallory's text")
        mine = await handles[0].commit()
        theirs = await handles[1].commit()
        assert b"".join([c async for c in engine.read(mine, mine.versions[0])]) == (
            b"TXT: alice's text"
        )
        assert theirs.checksum == hashlib.sha256(b"TXT: mallory's text").hexdigest()
        assert engine.upload_progress("acme", "same-label-123") is None


async def test_concurrent_unpinned_edits_of_one_asset_all_land(open_test_engine):
    """Edits without If-Match take turns per asset: none is refused for contention."""
    async with open_test_engine() as engine:
        asset = await upload(engine, [b"TXT: edited by many"])

        async def edit(n: int) -> None:
            await engine.update_metadata(EDITOR, asset.asset_id, {"title": f"t{n}"})

        async with trio.open_nursery() as nursery:
            for n in range(30):
                nursery.start_soon(edit, n)
        final = await engine.catalog.get(asset.asset_id)
        assert final.revision == asset.revision + 30
        assert engine._edit_turns._locks == {}


async def test_a_resumable_upload_commits_down_the_actors_not_through_the_facade(
    open_test_engine, monkeypatch
):
    """A tus commit replays its parts into an upload actor session of its own: the facade's
    ``begin_upload`` is never called back."""

    async def called_back(*args: object) -> None:
        raise AssertionError("the facade was called back")

    async def body():
        yield b"TXT: resumed"

    monkeypatch.setattr(AssetEngine, "begin_upload", called_back)
    async with open_test_engine() as engine:
        new = NewUpload(EDITOR, 12, NewAssetFields(name="Resumed"), "r.txt")
        session = await engine.create_upload_session(new)
        session, asset = await engine.append_upload(
            EDITOR, session.upload_id, 0, body(), content_length=12
        )
        assert session.state is UploadState.COMMITTED
        assert asset is not None and asset.name == "Resumed" and asset.current_version == 1
        assert await engine.catalog.get(asset.asset_id) == asset
        assert engine.in_flight.upload_sessions.snapshot() == frozenset()
        assert await leftovers(engine) == [asset.asset_id]
