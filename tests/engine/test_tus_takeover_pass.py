"""The takeover pass of tus commits (``TusCommits.take_over_abandoned``, every
``commit_takeover_interval`` s): a commit whose instance died and whose client never comes back
is taken over once its lease lapsed, making the asset its session fixed; a live commit, however
long it runs, is left alone; a failing pass is logged and the next one runs.

Time: Trio's autojump clock drives the passes, the commit leases (the cleanup tests'
``ThreadFreeLeases``: the catalog's lease semantics on Trio's clock, as the real lease is
covered by the contract suites) and ``committing_since`` (``tus_commit.utc_now`` follows the
clock). The autojump waits a little real time before jumping, so that the engine's catalog and
store calls in worker threads are not overtaken by a jump (as in ``test_kept_lease.py``).

A death is reproduced as in ``tests/api/test_tus_takeover.py``: the commit's checkpoint keeps
the session record as the commit wrote it and fails the commit; that record is put back, and the
dead instance's lease is held by a holder that stops renewing it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest
import trio
import trio.testing

from asset_service.engine import AssetEngine, AssetQuery, NewAssetFields, NewUpload, tus_commit
from asset_service.engine.errors import EngineStopped
from asset_service.engine.model import UploadSession, UploadState, utc_now
from asset_service.engine.tus_commit import (
    COMMIT_LEASE_RENEW,
    COMMIT_LEASE_TTL,
    TusCommits,
    commit_lease,
)

from .conftest import EDITOR
from .test_cleanup_actor import ThreadFreeLeases, with_leases

INTERVAL = 30.0
CONTENT = b"TXT: committed by nobody's request"
#: the dead instance's holder of a commit lease
DEAD = "dead-instance"


class RecordedLeases(ThreadFreeLeases):
    """Every lease granted: (name, holder, Trio time)."""

    def __init__(self) -> None:
        super().__init__()
        self.granted: list[tuple[str, str, float]] = []

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        granted = await super().acquire_lease(name, holder, ttl)
        if granted:
            self.granted.append((name, holder, trio.current_time()))
        return granted


@pytest.fixture
def leases(catalog) -> RecordedLeases:
    recorded = RecordedLeases()
    with_leases(catalog, recorded)
    return recorded


@pytest.fixture
def clock(autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch):
    """The autojump clock, with ``committing_since`` and the pass's cut-off on it. A test names
    it among its own arguments: pytest-trio runs the test on a clock it is given directly."""
    autojump_clock.autojump_threshold = 0.05
    base = utc_now()

    def now():
        moved = base + timedelta(seconds=autojump_clock.current_time())
        return moved.replace(microsecond=moved.microsecond // 1000 * 1000)

    monkeypatch.setattr(tus_commit, "utc_now", now)
    return autojump_clock


@pytest.fixture
async def engine(open_test_engine, leases, clock) -> AsyncIterator[AssetEngine]:
    # A slow event-log poll: fewer worker-thread calls for the clock to wait out.
    async with open_test_engine(commit_takeover_interval=INTERVAL, event_poll_interval=10) as eng:
        yield eng


def commits(engine: AssetEngine) -> TusCommits:
    return engine._tus._commits


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def new_session(engine: AssetEngine) -> UploadSession:
    new = NewUpload(EDITOR, len(CONTENT), NewAssetFields(name="Abandoned"), "a.txt")
    return await engine.create_upload_session(new)


async def died_committing(engine: AssetEngine) -> UploadSession:
    """An upload whose commit's instance died just after taking it: the record says
    ``committing`` with its asset id fixed, the parts are stored, and nobody holds the lease
    (the caller gives it to the dead instance)."""
    session = await new_session(engine)
    taken: list[UploadSession] = []

    async def die(at: str, session: UploadSession) -> None:
        if at == "lease-taken":
            taken.append(session)
            raise EngineStopped("the instance died here")

    commits(engine).checkpoint = die
    with pytest.raises(EngineStopped):
        await engine.append_upload(
            EDITOR, session.upload_id, 0, body(CONTENT), content_length=len(CONTENT)
        )
    commits(engine).checkpoint = None
    # The failed commit handed the upload back; the dead one would have left its own record.
    current = await engine.catalog.get_upload(session.upload_id)
    assert current is not None and current.state is UploadState.RECEIVING
    dead = replace(taken[0], revision=current.revision + 1)
    assert await engine.catalog.replace_upload(dead, current.revision)
    return dead


async def until_settled(engine: AssetEngine, upload_id: str) -> UploadSession:
    while True:
        session = await engine.catalog.get_upload(upload_id)
        assert session is not None
        if session.state is not UploadState.COMMITTING:
            return session
        await trio.sleep(1)


async def assets(engine: AssetEngine) -> list[str]:
    page = await engine.catalog.list(AssetQuery(customer_id="acme", deleted=None))
    return [asset.asset_id for asset in page.items]


def watch_passes(engine: AssetEngine) -> list[tuple[float, list[str]]]:
    """Each pass: when it started, and the uploads it handed to ``take_over_soon``."""
    passes: list[tuple[float, list[str]]] = []
    pass_commits = commits(engine)
    take_over_soon = pass_commits.take_over_soon
    take_over_abandoned = pass_commits.take_over_abandoned

    def recorded_take_over_soon(session: UploadSession) -> None:
        if passes:
            passes[-1][1].append(session.upload_id)
        take_over_soon(session)

    async def recorded_take_over_abandoned() -> int:
        passes.append((trio.current_time(), []))
        return await take_over_abandoned()

    pass_commits.take_over_soon = recorded_take_over_soon  # type: ignore[method-assign]
    pass_commits.take_over_abandoned = recorded_take_over_abandoned  # type: ignore[method-assign]
    return passes


async def test_an_abandoned_commit_is_taken_over_once_its_lease_lapsed(engine, leases, clock):
    passes = watch_passes(engine)
    dead = await died_committing(engine)
    lease = commit_lease(dead.upload_id)
    before = len(leases.granted)  # the commit that died took it too
    # The dead instance kept its commit alive a while (renewals), then died: its last renewal
    # at ``died``, its lease lapses a lease's time later.
    assert await leases.acquire_lease(lease, DEAD, COMMIT_LEASE_TTL)
    while trio.current_time() + COMMIT_LEASE_RENEW < INTERVAL - 5:
        await trio.sleep(COMMIT_LEASE_RENEW)
        assert await leases.acquire_lease(lease, DEAD, COMMIT_LEASE_TTL)
    died = trio.current_time()
    lapsed = died + COMMIT_LEASE_TTL
    assert dead.committing_since is not None
    taken: list[UploadSession] = []

    async def record(at: str, session: UploadSession) -> None:
        if at == "lease-taken":
            taken.append(session)

    commits(engine).checkpoint = record
    with trio.fail_after(10 * INTERVAL):
        done = await until_settled(engine, dead.upload_id)
    # the first pass listed it while the dead lease still ran, and left it alone
    first_start, first_listed = passes[0]
    assert died < first_start < lapsed and first_listed == [dead.upload_id]
    # the first pass after the lease lapsed took it over, within the interval
    takeovers = [(holder, at) for name, holder, at in leases.granted[before:] if name == lease]
    takeovers = [(holder, at) for holder, at in takeovers if holder != DEAD]
    assert len(takeovers) == 1
    holder, at = takeovers[0]
    assert holder.startswith(engine.instance_id)
    assert lapsed <= at <= lapsed + INTERVAL + 1
    assert len(taken) == 1 and taken[0].committing_since > dead.committing_since
    # one asset, the one the session fixed
    assert done.state is UploadState.COMMITTED
    assert done.asset_id == dead.commit_asset_id
    assert await assets(engine) == [dead.commit_asset_id]
    asset = await engine.catalog.get(dead.commit_asset_id)
    assert asset is not None and asset.size == len(CONTENT) and asset.name == "Abandoned"
    # later passes find nothing more to do
    await trio.sleep(2 * INTERVAL)
    assert all(listed == [] for _, listed in passes[2:])
    assert await assets(engine) == [dead.commit_asset_id]


async def test_a_live_commit_is_left_alone_however_long_it_runs(engine, leases, clock):
    passes = watch_passes(engine)
    session = await new_session(engine)
    reached, go_on = trio.Event(), trio.Event()
    held: list[UploadSession] = []

    async def hold(at: str, live: UploadSession) -> None:
        if at == "lease-taken":
            held.append(live)
            reached.set()
            await go_on.wait()

    commits(engine).checkpoint = hold
    answers: list = []

    async def last_patch() -> None:
        answers.append(
            await engine.append_upload(
                EDITOR, session.upload_id, 0, body(CONTENT), content_length=len(CONTENT)
            )
        )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(last_patch)
        with trio.fail_after(INTERVAL):
            await reached.wait()
        live = held[0]
        # three passes, each finding the commit older than a lease's time
        await trio.sleep(3 * INTERVAL + 1)
        assert [listed for _, listed in passes] == [[session.upload_id]] * 3
        assert len(held) == 1
        holders = {
            holder for name, holder, _ in leases.granted if name == commit_lease(live.upload_id)
        }
        assert len(holders) == 1  # the live commit's renewals only
        assert await engine.catalog.get_upload(session.upload_id) == live
        go_on.set()
    done, asset = answers[0]
    assert done.state is UploadState.COMMITTED and asset is not None
    assert asset.asset_id == live.commit_asset_id
    assert await assets(engine) == [live.commit_asset_id]


async def test_a_failing_pass_is_logged_and_the_next_one_runs(engine, caplog, clock):
    catalog = engine.catalog
    committing_uploads = catalog.committing_uploads
    calls = 0

    async def failing_once(started_before, limit=50):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("catalog hiccup")
        return await committing_uploads(started_before, limit)

    catalog.committing_uploads = failing_once
    with caplog.at_level(logging.ERROR, logger=tus_commit.__name__):
        await trio.sleep(3 * INTERVAL + 1)
    assert calls == 3
    failures = [r for r in caplog.records if "takeover pass" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None
    # the engine goes on
    session = await new_session(engine)
    assert session.state is UploadState.RECEIVING
