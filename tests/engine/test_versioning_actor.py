"""The versioning actor: numbers never skip or repeat, pruning, restore, the compare-and-set
retry when the record changes underneath, and the version reservation that keeps several
instances off each other's ``v{n}`` (see also ``test_two_engines.py``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest
import trio

from asset_service.engine import Asset, versioning_actor
from asset_service.engine.actor import Request, ask
from asset_service.engine.errors import Conflict, NotFound, UnsupportedContent
from asset_service.engine.model import TEMP_BUCKET
from asset_service.engine.versioning_actor import reservation_name

from .conftest import EDITOR, OUTSIDER, VIEWER
from .test_upload_actor import spec, upload


async def add_version(engine, asset_id: str, body: bytes, principal=EDITOR):
    return await upload(engine, [body], target_asset_id=asset_id, principal=principal)


async def blob_keys(engine, bucket: str = "document-assets") -> list[str]:
    return sorted([blob.key async for blob in engine.store.list(bucket)])


async def test_new_version_becomes_current(open_test_engine):
    async with open_test_engine() as engine:
        first = await upload(engine, [b"TXT: one"])
        second = await add_version(engine, first.asset_id, b"TXT: two\n")
        assert second.current_version == 2
        assert [v.version for v in second.versions] == [1, 2]
        assert second.checksum == hashlib.sha256(b"TXT: two\n").hexdigest()
        assert second.storage.key.endswith("/v2")
        assert second.revision == first.revision + 1
        assert second.extracted == {"format": "txt", "lines": 1}
        assert await blob_keys(engine) == [
            f"acme/{first.asset_id}/v1",
            f"acme/{first.asset_id}/v2",
        ]
        old = b"".join([c async for c in engine.read(second, second.version(1))])
        assert old == b"TXT: one"


async def test_versions_past_the_limit_are_pruned_with_their_blobs(open_test_engine):
    async with open_test_engine(max_versions=3) as engine:
        asset = await upload(engine, [b"TXT: v1"])
        for n in range(2, 7):
            asset = await add_version(engine, asset.asset_id, f"TXT: v{n}".encode())
        assert [v.version for v in asset.versions] == [4, 5, 6]
        assert await blob_keys(engine) == [f"acme/{asset.asset_id}/v{n}" for n in (4, 5, 6)]


async def test_concurrent_versions_get_consecutive_numbers(open_test_engine):
    async with open_test_engine(max_versions=50) as engine:
        asset = await upload(engine, [b"TXT: base"])

        async def one(n: int) -> None:
            await add_version(engine, asset.asset_id, f"TXT: {n}".encode())

        async with trio.open_nursery() as nursery:
            for n in range(12):
                nursery.start_soon(one, n)
        final = await engine.catalog.get(asset.asset_id)
        assert [v.version for v in final.versions] == list(range(1, 14))
        assert final.current_version == 13
        assert len({v.checksum for v in final.versions}) == 13


async def test_restore_copies_an_old_version_into_a_new_one(open_test_engine):
    async with open_test_engine() as engine:
        asset = await upload(engine, [b"TXT: original"])
        await add_version(engine, asset.asset_id, b"TXT: changed")
        restored = await engine.restore_version(EDITOR, asset.asset_id, 1)
        assert restored.current_version == 3
        assert restored.checksum == asset.checksum
        body = b"".join([c async for c in engine.read(restored, restored.version(3))])
        assert body == b"TXT: original"
        with pytest.raises(NotFound):
            await engine.restore_version(EDITOR, asset.asset_id, 42)


async def test_a_new_version_must_keep_the_type(open_test_engine):
    async with open_test_engine() as engine:
        asset = await upload(engine, [b"TXT: text"])
        with pytest.raises(UnsupportedContent):
            await add_version(engine, asset.asset_id, b"IMG: pixels")
        assert await blob_keys(engine, "image-assets") == []
        assert await blob_keys(engine) == [f"acme/{asset.asset_id}/v1"]
        assert [blob.key async for blob in engine.store.list(TEMP_BUCKET)] == []


async def test_other_customers_and_viewers_cannot_add_versions(open_test_engine):
    async with open_test_engine() as engine:
        asset = await upload(engine, [b"TXT: mine"])
        with pytest.raises(NotFound):
            await engine.begin_upload(spec(principal=OUTSIDER, target_asset_id=asset.asset_id))
        with pytest.raises(Exception, match="editor"):
            await engine.begin_upload(spec(principal=VIEWER, target_asset_id=asset.asset_id))


async def test_a_concurrent_edit_keeps_the_reserved_number(open_test_engine, catalog, monkeypatch):
    """Another instance edits the record between our read and our write: the compare-and-set
    fails, and we publish the same number again on top of its edit (the blob stays put)."""
    async with open_test_engine() as engine:
        asset = await upload(engine, [b"TXT: base"])
        real_replace = catalog.replace
        raced = False

        async def replace_after_a_rival(record, expected):
            nonlocal raced
            if not raced:
                raced = True
                rival = await catalog.get(record.asset_id)
                rival.name = "renamed meanwhile"
                rival.revision += 1
                assert await real_replace(rival, expected)
            return await real_replace(record, record.revision - 1)

        monkeypatch.setattr(catalog, "replace", replace_after_a_rival)
        final = await add_version(engine, asset.asset_id, b"TXT: mine")
        assert raced
        assert final.current_version == 2
        assert [v.version for v in final.versions] == [1, 2]
        assert final.storage.key.endswith("/v2")
        assert final.name == "renamed meanwhile"  # the rival's edit is kept
        stored = await catalog.get(asset.asset_id)
        assert stored == final
        body = b"".join([c async for c in engine.read(final, final.version(2))])
        assert body == b"TXT: mine"


async def test_a_rival_that_took_the_number_is_never_overwritten(
    open_test_engine, catalog, monkeypatch
):
    """A version number taken by someone who did not hold the reservation (ours ran out) is
    theirs: we fail and leave their ``v{n}`` alone — we never move it to the next number."""
    async with open_test_engine() as engine:
        asset = await upload(engine, [b"TXT: base"])
        real_replace = catalog.replace
        rival_body = b"TXT: the rival's version 2"

        async def replace_after_a_rival(record, expected):
            rival = await catalog.get(record.asset_id)
            theirs = record.versions[-1]
            theirs.checksum = hashlib.sha256(rival_body).hexdigest()
            rival.versions.append(theirs)
            rival.current_version = theirs.version
            rival.revision += 1
            writer = await engine.store.open_writer("document-assets", theirs.storage_key)
            await writer.write(rival_body)
            await writer.complete()
            assert await real_replace(rival, expected)
            monkeypatch.setattr(catalog, "replace", real_replace)
            return await real_replace(record, expected)

        monkeypatch.setattr(catalog, "replace", replace_after_a_rival)
        with pytest.raises(Conflict):
            await add_version(engine, asset.asset_id, b"TXT: mine")
        final = await catalog.get(asset.asset_id)
        assert [v.version for v in final.versions] == [1, 2]
        body = b"".join([c async for c in engine.read(final, final.version(2))])
        assert body == rival_body
        assert await blob_keys(engine) == [f"acme/{asset.asset_id}/v1", f"acme/{asset.asset_id}/v2"]
        assert [blob.key async for blob in engine.store.list(TEMP_BUCKET)] == []


async def test_a_version_waits_for_another_instances_reservation(open_test_engine, catalog):
    async with open_test_engine() as engine:
        asset = await upload(engine, [b"TXT: base"])
        name = reservation_name(asset.asset_id)
        assert await catalog.acquire_lease(name, "another-instance", 60)
        done = trio.Event()
        results = []

        async def add() -> None:
            results.append(await add_version(engine, asset.asset_id, b"TXT: mine"))
            done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(add)
            await trio.sleep(0.3)
            assert not done.is_set()  # still waiting for the other instance
            await catalog.release_lease(name, "another-instance")
            with trio.fail_after(10):
                await done.wait()
        assert results[0].current_version == 2
        # The reservation is given back once the version is published.
        assert await catalog.acquire_lease(name, "another-instance", 60)


async def test_a_crashed_instances_reservation_runs_out(open_test_engine, catalog):
    async with open_test_engine() as engine:
        asset = await upload(engine, [b"TXT: base"])
        assert await catalog.acquire_lease(reservation_name(asset.asset_id), "crashed", 0.3)
        with trio.fail_after(10):
            final = await add_version(engine, asset.asset_id, b"TXT: after the crash")
        assert final.current_version == 2


async def test_waiting_for_a_reservation_is_bounded(open_test_engine, catalog, monkeypatch):
    monkeypatch.setattr(versioning_actor, "RESERVATION_WAIT", 0.2)
    async with open_test_engine() as engine:
        asset = await upload(engine, [b"TXT: base"])
        assert await catalog.acquire_lease(reservation_name(asset.asset_id), "busy", 60)
        with pytest.raises(Conflict, match="another instance"):
            await add_version(engine, asset.asset_id, b"TXT: mine")
        assert [blob.key async for blob in engine.store.list(TEMP_BUCKET)] == []
        assert (await catalog.get(asset.asset_id)).current_version == 1


async def test_the_reservation_is_renewed_while_a_slow_placement_runs(
    open_test_engine, catalog, monkeypatch
):
    """A short lease (so that a crashed holder's runs out soon) must not run out under a live
    holder whose blob placement (a server-side copy on S3) takes longer than the lease."""
    # A lease ten renewals long: a worker thread stalled on a busy machine must not lose it.
    monkeypatch.setattr(versioning_actor, "RESERVATION_TTL", 1.0)
    monkeypatch.setattr(versioning_actor, "RESERVATION_RENEW_EVERY", 0.1)
    async with open_test_engine() as engine:
        asset = await upload(engine, [b"TXT: base"])
        name = reservation_name(asset.asset_id)
        moving = trio.Event()
        real_move = engine.store.move

        async def slow_move(*args):
            moving.set()
            await trio.sleep(2.5)  # two and a half lease lengths: a copy of a big blob
            await real_move(*args)

        monkeypatch.setattr(engine.store, "move", slow_move)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(add_version, engine, asset.asset_id, b"TXT: slow")
            await moving.wait()
            for _ in range(7):
                await trio.sleep(0.3)
                assert not await catalog.acquire_lease(name, "another-instance", 60)
        # Published and given back; the keeper stopped renewing.
        assert (await catalog.get(asset.asset_id)).current_version == 2
        assert await catalog.acquire_lease(name, "another-instance", 60)


async def test_creation_goes_through_the_versioning_actor(open_test_engine, monkeypatch):
    """A new asset is the versioning actor's work too: a creation committed while the actor
    places a new version waits in its mailbox until that version is done."""
    async with open_test_engine() as engine:
        asset = await upload(engine, [b"TXT: base"])
        placing, release = trio.Event(), trio.Event()
        real_move = engine.store.move

        async def held_move(bucket, key, to_bucket, to_key):
            if to_key.endswith("/v2"):
                placing.set()
                await release.wait()
            await real_move(bucket, key, to_bucket, to_key)

        monkeypatch.setattr(engine.store, "move", held_move)
        created = []

        async def create() -> None:
            created.append(await upload(engine, [b"TXT: new asset"]))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(add_version, engine, asset.asset_id, b"TXT: two")
            await placing.wait()
            nursery.start_soon(create)
            with trio.fail_after(10):
                while engine.queue_depths()["versioning"] == 0:  # noqa: ASYNC110 - no event to wait for
                    await trio.sleep(0.01)
            assert created == []
            release.set()
        assert (await engine.catalog.get(asset.asset_id)).current_version == 2
        assert created[0].current_version == 1
        assert await engine.catalog.get(created[0].asset_id) == created[0]


async def test_an_unknown_request_is_answered_and_the_actor_keeps_serving(open_test_engine):
    @dataclass(frozen=True)
    class Unknown(Request[Asset]):
        pass

    async with open_test_engine() as engine:
        with pytest.raises(TypeError, match="not a request"):
            await ask(engine._versioning_mailbox, Unknown())
        asset = await upload(engine, [b"TXT: still served"])
        assert (await add_version(engine, asset.asset_id, b"TXT: two")).current_version == 2


async def test_an_asset_being_created_is_in_flight(open_test_engine, monkeypatch):
    """The orphan sweep must not take a new asset's blob for an orphan before its record is
    written: the asset is registered in flight from the placement to the record."""
    async with open_test_engine() as engine:
        seen = []
        real_insert = engine.catalog.insert

        async def insert(asset):
            seen.append(asset.asset_id in engine.in_flight.assets)
            await real_insert(asset)

        monkeypatch.setattr(engine.catalog, "insert", insert)
        asset = await upload(engine, [b"TXT: new"])
        assert seen == [True]
        assert asset.asset_id not in engine.in_flight.assets


async def test_a_fixed_asset_id_made_already_is_the_answer_never_a_second_asset(
    open_test_engine,
):
    """A tus commit fixes the asset id beforehand: an attempt after one that made the asset
    gets that asset back (its blob untouched, nothing left in temp); the same id with other
    content is a Conflict, and also leaves the existing asset as it was."""
    async with open_test_engine() as engine:
        fixed = "0b7c3a4e-5d6f-4a1b-8c9d-0e1f2a3b4c5d"
        first = await upload(engine, [b"TXT: the content"], asset_id=fixed)
        assert first.asset_id == fixed
        again = await upload(engine, [b"TXT: the content"], asset_id=fixed)
        assert again.asset_id == fixed and again.revision == first.revision
        with pytest.raises(Conflict):
            await upload(engine, [b"TXT: other content"], asset_id=fixed)
        assert await blob_keys(engine) == [f"acme/{fixed}/v1"]
        kept = b"".join([c async for c in engine.read(first, first.version(1))])
        assert kept == b"TXT: the content"
        assert [blob.key async for blob in engine.store.list(TEMP_BUCKET)] == []
