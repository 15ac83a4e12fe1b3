"""tus commits across instance deaths (issue 15), in one process: a commit whose instance died
is taken over by the next ``HEAD`` or ``PATCH`` and makes the asset whose id the session fixed
beforehand — or, when the dead commit had made it already, answers with it: one upload, one
asset. A live commit makes ``DELETE`` and a repeated last ``PATCH`` a 409; a final upload sent
again after its commit died answers 201 with the same ``Location``.

A death is reproduced exactly: the commit's test checkpoint saves the stored state (the session
record, its parts, a final's partials) at a point of the commit, which then fails (or finishes);
``revive`` puts that state back, as a SIGKILL at that point would have left it, without the lease
(it lapsed). The real SIGKILL of a real server is in ``tests/test_two_instances_tus.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import trio

from asset_service.engine import AssetEngine
from asset_service.engine.errors import EngineStopped
from asset_service.engine.model import TEMP_BUCKET, UploadSession
from asset_service.engine.tus_commit import TusCommits
from asset_service.engine.tus_storage import part_keys

from .helpers import TEXT_BYTES, assert_problem
from .test_tus import create, head, patch, temp_files
from .test_tus_concatenation import asset_count, final, partial


@dataclass
class Saved:
    """The stored state of an upload at a commit's checkpoint."""

    session: UploadSession | None = None
    partials: list[UploadSession] = field(default_factory=list)
    parts: dict[str, bytes] = field(default_factory=dict)


def commits(engine: AssetEngine) -> TusCommits:
    return engine._tus._commits  # the test checkpoint lives there


async def read_blob(engine: AssetEngine, key: str) -> bytes:
    return b"".join([chunk async for chunk in engine.store.read(TEMP_BUCKET, key)])


def die_at(engine: AssetEngine, point: str, *, fail: bool) -> Saved:
    """At ``point`` of the next commit, save what is stored; then fail the commit (``fail``)
    or let it finish."""
    saved = Saved()

    async def checkpoint(at: str, session: UploadSession) -> None:
        if at != point or saved.session is not None:
            return
        saved.session = session
        for upload_id in session.partials:
            stored = await engine.catalog.get_upload(upload_id)
            assert stored is not None
            saved.partials.append(stored)
        for record in (session, *saved.partials):
            for key in part_keys(record):
                saved.parts[key] = await read_blob(engine, key)
        if fail:
            raise EngineStopped("the instance died here")

    commits(engine).checkpoint = checkpoint
    return saved


async def revive(engine: AssetEngine, saved: Saved) -> None:
    """Put the saved state back, as the dead instance left it."""
    commits(engine).checkpoint = None
    catalog = engine.catalog
    records = [saved.session, *saved.partials] if saved.session is not None else []
    for record in records:
        current = await catalog.get_upload(record.upload_id)
        if current is None:
            await catalog.insert_upload(record)
        else:
            again = replace(record, revision=current.revision + 1)
            assert await catalog.replace_upload(again, current.revision)
    for key, content in saved.parts.items():
        writer = await engine.store.open_writer(TEMP_BUCKET, key)
        await writer.write(content)
        await writer.complete()


async def committed(client, url: str, headers) -> dict:
    """The progress once the upload is no longer being committed (a takeover runs in the
    background of the ``HEAD`` that started it)."""
    with trio.fail_after(20):
        while True:
            progress = (await client.get(url, headers=headers)).json()
            if progress["state"] != "committing":
                return progress
            await trio.sleep(0.02)


async def test_head_takes_over_a_commit_whose_instance_died(client, auth, engine, settings):
    headers = auth()
    url = await create(client, headers, len(TEXT_BYTES), filename="notes.txt")
    saved = die_at(engine, "lease-taken", fail=True)
    died = await patch(client, url, headers, 0, TEXT_BYTES)
    assert_problem(died, 503)
    await revive(engine, saved)
    asset_id = saved.session.commit_asset_id
    assert asset_id and await engine.catalog.get(asset_id) is None
    # tus's HEAD answers the offset at once; the commit continues behind it
    looked = await head(client, url, headers)
    assert looked.status_code == 200
    assert looked.headers["Upload-Offset"] == str(len(TEXT_BYTES))
    progress = await committed(client, url, headers)
    assert progress["state"] == "committed" and progress["asset_id"] == asset_id
    assert (await head(client, url, headers)).headers["Asset-Id"] == asset_id
    assert await asset_count(client, headers) == 1
    assert temp_files(settings) == []


async def test_a_commit_that_died_after_making_the_asset_is_answered_with_it(
    client, auth, engine, settings
):
    headers = auth()
    url = await create(client, headers, len(TEXT_BYTES), filename="notes.txt")
    saved = die_at(engine, "asset-created", fail=False)
    first = await patch(client, url, headers, 0, TEXT_BYTES)
    assert first.status_code == 204, first.text
    asset_id = first.headers["Asset-Id"]
    assert saved.session.commit_asset_id == asset_id
    await revive(engine, saved)  # the asset exists; the session still says "committing"
    # the asset exists: the upload can't be terminated any more
    assert_problem(await client.delete(url, headers={**headers, "Tus-Resumable": "1.0.0"}), 409)
    # the last PATCH again (the client never heard back): the same asset, not a second one
    again = await patch(client, url, headers, len(TEXT_BYTES), b"")
    assert again.status_code == 204, again.text
    assert again.headers["Asset-Id"] == asset_id
    assert await asset_count(client, headers) == 1
    record = (await client.get(f"/api/assets/{asset_id}", headers=headers)).json()
    assert record["current_version"] == 1 and len(record["versions"]) == 1
    content = await client.get(f"/api/assets/{asset_id}/download", headers=headers)
    assert content.content == TEXT_BYTES
    assert temp_files(settings) == []


async def test_a_live_commit_makes_delete_and_the_last_patch_again_409(
    client, auth, engine, settings, nursery
):
    headers = auth()
    url = await create(client, headers, len(TEXT_BYTES), filename="notes.txt")
    reached, go_on = trio.Event(), trio.Event()

    async def hold(at: str, session: UploadSession) -> None:
        if at == "lease-taken":
            reached.set()
            await go_on.wait()

    commits(engine).checkpoint = hold
    answers: list = []
    answered = trio.Event()

    async def last_patch() -> None:
        answers.append(await patch(client, url, headers, 0, TEXT_BYTES))
        answered.set()

    nursery.start_soon(last_patch)
    with trio.fail_after(10):
        await reached.wait()
    deleted = await client.delete(url, headers={**headers, "Tus-Resumable": "1.0.0"})
    assert "being committed" in assert_problem(deleted, 409)["detail"]
    assert_problem(await patch(client, url, headers, len(TEXT_BYTES), b""), 409)
    looked = await head(client, url, headers)  # a live commit is not taken over
    assert looked.status_code == 200 and "Asset-Id" not in looked.headers
    go_on.set()
    with trio.fail_after(10):
        await answered.wait()
    assert answers[0].status_code == 204, answers[0].text
    assert await asset_count(client, headers) == 1
    assert temp_files(settings) == []


async def test_a_final_upload_sent_again_after_its_commit_died_keeps_its_location(
    client, auth, engine, settings
):
    headers = auth()
    urls = [await partial(client, headers, half) for half in (TEXT_BYTES[:600], TEXT_BYTES[600:])]
    saved = die_at(engine, "lease-taken", fail=True)
    died = await final(client, headers, urls, filename="notes.txt")
    assert_problem(died, 503)
    await revive(engine, saved)
    again = await final(client, headers, urls, filename="notes.txt")
    assert again.status_code == 201, again.text
    assert again.headers["Location"] == f"/api/uploads/{saved.session.upload_id}"
    assert again.headers["Asset-Id"] == saved.session.commit_asset_id
    assert await asset_count(client, headers) == 1
    assert temp_files(settings) == []


async def test_parts_a_dead_commit_left_after_its_record_are_the_cleanups(
    client, auth, engine, settings
):
    """Its instance died between the record (committed) and the tidy-up: the parts are
    garbage, swept like any stale temp blob — not kept until the session expires."""
    headers = auth()
    url = await create(client, headers, len(TEXT_BYTES), filename="notes.txt")
    assert (await patch(client, url, headers, 0, TEXT_BYTES[:500])).status_code == 204
    saved = die_at(engine, "asset-created", fail=False)
    assert (await patch(client, url, headers, 500, TEXT_BYTES[500:])).status_code == 204
    await revive(engine, Saved(parts=saved.parts, session=None))
    assert len(temp_files(settings)) == 2
    engine._cleanup._policy = type(engine._cleanup._policy)(0.0, 3600.0, 3600.0)
    report = await engine.run_cleanup()
    assert report.temp_removed == 2
    assert temp_files(settings) == []
    assert (await head(client, url, headers)).status_code == 200  # the session stays
