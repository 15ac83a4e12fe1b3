"""The ``UploadSessions`` contract, run against every catalog adapter (``conftest.CATALOGS``):
what lets any instance continue a tus upload (docs/architecture.md) — a record that
round-trips, compare-and-set on its revision, the expiry query of the cleanup, and the query of
the takeover pass for commits whose instance died."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
import trio

from asset_service.engine.catalog import UploadSessions
from asset_service.engine.model import UploadPart, UploadSession, UploadState, utc_now


def session(**changes: object) -> UploadSession:
    now = utc_now()
    made = UploadSession(
        upload_id=uuid.uuid4().hex,
        customer_id="acme",
        user_id="alice",
        roles=("editor",),
        length=1000,
        created_at=now,
        expires_at=now + timedelta(hours=1),
        metadata="filename bm90ZXMudHh0",
        filename="notes.txt",
        fields={"title": "Nötes", "tags": ["a"], "folder": "/x", "custom": {"k": 1}},
        declared_type="document",
    )
    return replace(made, **changes)


async def test_a_session_round_trips(catalog: UploadSessions):
    original = session(
        offset=300,
        parts=[UploadPart(100, "aa"), UploadPart(200, "bb")],
        error={"kind": "UnsupportedContent", "reason": "no"},
        commit_asset_id="6f1c0b52-2d8e-4b8a-9d7e-0e3c4b5a6d7f",
        committing_since=utc_now() - timedelta(seconds=5),
        state=UploadState.COMMITTING,
    )
    await catalog.insert_upload(original)
    assert await catalog.get_upload(original.upload_id) == original
    assert await catalog.get_upload(uuid.uuid4().hex) is None
    deferred = session(length=None)
    await catalog.insert_upload(deferred)
    assert (await catalog.get_upload(deferred.upload_id)).length is None


async def test_inserting_an_existing_id_is_a_key_error(catalog: UploadSessions):
    first = session()
    await catalog.insert_upload(first)
    with pytest.raises(KeyError):
        await catalog.insert_upload(replace(first, user_id="mallory"))
    assert (await catalog.get_upload(first.upload_id)).user_id == "alice"


async def test_replace_is_compare_and_set_on_the_revision(catalog: UploadSessions):
    stored = session()
    await catalog.insert_upload(stored)
    advanced = replace(stored, offset=100, parts=[UploadPart(100, "n1")], revision=2)
    assert await catalog.replace_upload(advanced, expected_revision=1)
    # another instance that read revision 1 loses
    rival = replace(stored, offset=50, parts=[UploadPart(50, "n2")], revision=2)
    assert not await catalog.replace_upload(rival, expected_revision=1)
    assert await catalog.get_upload(stored.upload_id) == advanced
    # a session that is not there is not created
    assert not await catalog.replace_upload(session(revision=2), expected_revision=1)


async def test_concurrent_appends_at_one_revision_one_wins(catalog: UploadSessions):
    stored = session()
    await catalog.insert_upload(stored)
    wins: list[str] = []

    async def append(nonce: str) -> None:
        mine = replace(stored, offset=10, parts=[UploadPart(10, nonce)], revision=2)
        if await catalog.replace_upload(mine, expected_revision=1):
            wins.append(nonce)

    async with trio.open_nursery() as nursery:
        for n in range(8):
            nursery.start_soon(append, f"n{n}")
    assert len(wins) == 1
    assert (await catalog.get_upload(stored.upload_id)).parts == [UploadPart(10, wins[0])]


async def test_delete_with_and_without_a_revision(catalog: UploadSessions):
    stored = session()
    await catalog.insert_upload(stored)
    assert not await catalog.delete_upload(stored.upload_id, expected_revision=2)
    assert await catalog.get_upload(stored.upload_id) is not None
    assert await catalog.delete_upload(stored.upload_id, expected_revision=1)
    assert await catalog.get_upload(stored.upload_id) is None
    assert not await catalog.delete_upload(stored.upload_id)
    other = session()
    await catalog.insert_upload(other)
    assert await catalog.delete_upload(other.upload_id)


async def test_expired_uploads_soonest_first_across_customers(catalog: UploadSessions):
    now = utc_now()
    old = session(expires_at=now - timedelta(hours=2))
    older = session(customer_id="globex", expires_at=now - timedelta(hours=3))
    just = session(expires_at=now)
    live = session(expires_at=now + timedelta(minutes=1))
    for made in (old, live, just, older):
        await catalog.insert_upload(made)
    expired = await catalog.expired_uploads(now)
    assert [s.upload_id for s in expired] == [older.upload_id, old.upload_id, just.upload_id]
    assert [s.upload_id for s in await catalog.expired_uploads(now, limit=1)] == [older.upload_id]
    # extended by a request: no longer expired
    extended = replace(old, expires_at=now + timedelta(hours=1), revision=2)
    assert await catalog.replace_upload(extended, expected_revision=1)
    assert old.upload_id not in {s.upload_id for s in await catalog.expired_uploads(now)}


async def test_committing_uploads_oldest_commit_first_across_customers(catalog: UploadSessions):
    now = utc_now()
    committing = UploadState.COMMITTING
    old = session(state=committing, committing_since=now - timedelta(seconds=30))
    older = session(
        customer_id="globex", state=committing, committing_since=now - timedelta(minutes=5)
    )
    just = session(state=committing, committing_since=now)
    fresh = session(state=committing, committing_since=now + timedelta(seconds=1))
    # written before the field existed: may be anyone's, so it is listed (first)
    unknown = session(state=committing)
    receiving = session(committing_since=now - timedelta(hours=1))
    committed = session(state=UploadState.COMMITTED, committing_since=now - timedelta(hours=1))
    for made in (old, fresh, receiving, just, committed, older, unknown):
        await catalog.insert_upload(made)
    listed = await catalog.committing_uploads(now)
    assert [s.upload_id for s in listed] == [
        unknown.upload_id,
        older.upload_id,
        old.upload_id,
        just.upload_id,
    ]
    assert listed[1] == older
    limited = await catalog.committing_uploads(now, limit=2)
    assert [s.upload_id for s in limited] == [unknown.upload_id, older.upload_id]
    # its commit finished: no longer listed
    done = replace(old, state=UploadState.COMMITTED, revision=2)
    assert await catalog.replace_upload(done, expected_revision=1)
    assert old.upload_id not in {s.upload_id for s in await catalog.committing_uploads(now)}


async def test_open_sessions_are_counted_per_customer(catalog: UploadSessions):
    now = utc_now()
    for changes in (
        {},
        {"state": UploadState.COMMITTING},
        {"concat": "partial", "length": 10},
        # not open: finished, refused, ended, expired, or another customer's
        {"state": UploadState.COMMITTED, "asset_id": "a1"},
        {"state": UploadState.FAILED},
        {"state": UploadState.TERMINATED},
        {"expires_at": now - timedelta(seconds=1)},
        {"customer_id": "globex"},
    ):
        await catalog.insert_upload(session(**changes))
    assert await catalog.count_open_uploads("acme", now) == 3
    assert await catalog.count_open_uploads("globex", now) == 1
    assert await catalog.count_open_uploads("initech", now) == 0


async def test_a_concatenation_round_trips(catalog: UploadSessions):
    final = session(concat="final", partials=["p1", "p2"], length=20, offset=20)
    partial = session(concat="partial", final_id=final.upload_id, length=10, offset=10)
    for stored in (final, partial):
        await catalog.insert_upload(stored)
        assert await catalog.get_upload(stored.upload_id) == stored
