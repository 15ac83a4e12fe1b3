"""The cleanup actor: temp uploads past their TTL, trash past retention, orphan blobs; the
schedule (on Trio's autojump clock) and the lease that lets one instance run per period."""

from __future__ import annotations

import itertools

import pytest
import trio

from asset_service.engine import AssetQuery, EngineConfig, open_engine
from asset_service.engine.adapters.sqlite import SqliteCatalog
from asset_service.engine.cleanup_actor import PASS_LEASE, PASS_LEASE_TTL, CleanupActor
from asset_service.engine.model import TEMP_BUCKET

from .conftest import ADMIN, EDITOR
from .test_upload_actor import spec, upload


async def put(store, bucket: str, key: str, data: bytes = b"x") -> None:
    writer = await store.open_writer(bucket, key)
    await writer.write(data)
    await writer.complete()


async def keys(store, bucket: str) -> list[str]:
    return sorted([blob.key async for blob in store.list(bucket)])


async def test_stale_temp_uploads_go_but_uploads_in_flight_stay(open_test_engine):
    async with open_test_engine(temp_ttl=0) as engine:
        await put(engine.store, TEMP_BUCKET, "abandoned-by-a-crash")
        async with await engine.begin_upload(spec()) as handle:
            await handle.write(b"TXT: still coming")
            report = await engine.run_cleanup()
            asset = await handle.commit()
        assert report.temp_removed == 1
        assert await keys(engine.store, TEMP_BUCKET) == []
        assert asset.size == len(b"TXT: still coming")


async def test_young_temp_uploads_are_kept(open_test_engine):
    async with open_test_engine(temp_ttl=3600) as engine:
        await put(engine.store, TEMP_BUCKET, "someone-is-still-uploading")
        report = await engine.run_cleanup()
        assert report.temp_removed == 0
        assert await keys(engine.store, TEMP_BUCKET) == ["someone-is-still-uploading"]


async def test_trash_past_retention_is_purged_blobs_first(open_test_engine):
    async with open_test_engine(trash_retention=0, max_versions=5) as engine:
        doomed = await upload(engine, [b"TXT: v1"])
        await upload(engine, [b"TXT: v2"], target_asset_id=doomed.asset_id)
        kept = await upload(engine, [b"TXT: keep me"])
        await engine.soft_delete(EDITOR, doomed.asset_id)
        async with engine.hub.subscribe() as events:
            report = await engine.run_cleanup()
            event = events.receive_nowait()
        assert report.purged == 1
        assert event.name == "asset.purged"
        assert await engine.catalog.get(doomed.asset_id) is None
        assert await keys(engine.store, "document-assets") == [f"acme/{kept.asset_id}/v1"]


async def test_trash_within_retention_is_kept_and_restorable_by_admins(open_test_engine):
    async with open_test_engine(trash_retention=3600) as engine:
        asset = await upload(engine, [b"TXT: oops"])
        await engine.soft_delete(EDITOR, asset.asset_id)
        report = await engine.run_cleanup()
        assert report.purged == 0
        seen = await engine.get(ADMIN, asset.asset_id, include_deleted=True)
        assert seen.deleted_at is not None


async def test_orphan_blobs_are_removed_and_foreign_keys_left_alone(open_test_engine):
    async with open_test_engine(temp_ttl=0) as engine:
        asset = await upload(engine, [b"TXT: referenced"])
        orphan = "acme/00000000-0000-4000-8000-000000000000/v1"
        stale_version = f"acme/{asset.asset_id}/v7"
        await put(engine.store, "document-assets", orphan)
        await put(engine.store, "document-assets", stale_version)
        await put(engine.store, "document-assets", "not-ours/readme")
        report = await engine.run_cleanup()
        assert report.orphans_removed == 2
        assert await keys(engine.store, "document-assets") == [
            f"acme/{asset.asset_id}/v1",
            "not-ours/readme",
        ]


async def test_young_orphans_are_given_the_grace_period(open_test_engine):
    """Another instance may have promoted a blob and not yet written its record."""
    async with open_test_engine(temp_ttl=3600) as engine:
        key = "acme/00000000-0000-4000-8000-000000000000/v1"
        await put(engine.store, "document-assets", key)
        report = await engine.run_cleanup()
        assert report.orphans_removed == 0
        assert await keys(engine.store, "document-assets") == [key]


# --- the schedule and the lease -------------------------------------------------------------
#
# Worker threads count as "blocked" for the autojump clock, so a pass doing real I/O would let
# virtual time leap while it runs. These tests replace the pass's three steps and the catalog's
# lease with thread-free stand-ins (the real lease is covered by the catalog contract suite),
# so what they check — when passes run and who runs them — is exact.


class ThreadFreeLeases:
    """The catalog's lease semantics on Trio's clock, shared by several "instances"."""

    def __init__(self) -> None:
        self.holders: dict[str, tuple[str, float]] = {}

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        await trio.lowlevel.checkpoint()
        current = self.holders.get(name)
        now = trio.current_time()
        if current is not None and current[0] != holder and current[1] > now:
            return False
        self.holders[name] = (holder, now + ttl)
        return True

    async def release_lease(self, name: str, holder: str) -> None:
        await trio.lowlevel.checkpoint()
        if self.holders.get(name, ("", 0))[0] == holder:
            del self.holders[name]


@pytest.fixture
def recorded_passes(monkeypatch) -> list[tuple[float, str]]:
    """Replace a pass's work with a record of (time, instance) — no I/O, no threads."""
    passes: list[tuple[float, str]] = []

    async def remove_temp(self, report):
        await trio.lowlevel.checkpoint()
        passes.append((trio.current_time(), self._holder))

    async def nothing(self, report):
        await trio.lowlevel.checkpoint()

    monkeypatch.setattr(CleanupActor, "_sweep_spool", nothing)
    monkeypatch.setattr(CleanupActor, "_remove_expired_uploads", nothing)
    monkeypatch.setattr(CleanupActor, "_remove_temp", remove_temp)
    monkeypatch.setattr(CleanupActor, "_purge_trash", nothing)
    monkeypatch.setattr(CleanupActor, "_remove_orphans", nothing)
    return passes


def with_leases(catalog, leases: ThreadFreeLeases):
    catalog.acquire_lease = leases.acquire_lease
    catalog.release_lease = leases.release_lease
    return catalog


async def test_the_schedule_runs_a_pass_every_interval(
    open_test_engine, catalog, recorded_passes, autojump_clock
):
    with_leases(catalog, ThreadFreeLeases())
    async with open_test_engine(cleanup_interval=600):
        start = trio.current_time()
        await trio.sleep(600 * 3 + 1)
    assert [round(t - start) for t, _ in recorded_passes] == [600, 1200, 1800]


async def test_a_failing_pass_is_logged_and_the_schedule_goes_on(
    open_test_engine, catalog, recorded_passes, autojump_clock, monkeypatch
):
    with_leases(catalog, ThreadFreeLeases())
    failures = 0

    async def failing_once(self, report):
        nonlocal failures
        if failures == 0:
            failures += 1
            raise RuntimeError("catalog hiccup")

    monkeypatch.setattr(CleanupActor, "_purge_trash", failing_once)
    async with open_test_engine(cleanup_interval=60) as engine:
        await trio.sleep(60 * 3 + 1)
        assert failures == 1
        assert len(recorded_passes) == 3
        report = await engine.run_cleanup(wait_for_lease=False)
        assert not report.skipped


@pytest.mark.parametrize("blob_store", ["filesystem_blob_store"], indirect=True)
async def test_two_instances_run_one_scheduled_pass_per_period(
    blob_store, tmp_path, inspector, recorded_passes, autojump_clock
):
    """Two engines on one catalog and one blob store are two service instances."""
    leases = ThreadFreeLeases()
    config = EngineConfig(cleanup_interval=100)
    async with (
        open_engine(
            blob_store, with_leases(SqliteCatalog(tmp_path / "a.db"), leases), inspector, config
        ),
        open_engine(
            blob_store, with_leases(SqliteCatalog(tmp_path / "b.db"), leases), inspector, config
        ),
    ):
        start = trio.current_time()
        await trio.sleep(100 * 5 + 1)
    # Opening the second engine runs worker threads, during which the autojump clock may let
    # the first one's schedule tick: judge the spacing of all passes, and count a fixed window.
    times = [t for t, _ in recorded_passes]
    assert all(later - earlier >= 90 for earlier, later in itertools.pairwise(times))
    assert len([t for t in times if start < t <= start + 501]) == 5


@pytest.mark.parametrize("blob_store", ["filesystem_blob_store"], indirect=True)
async def test_an_on_demand_pass_ignores_the_period_but_not_a_running_pass(
    blob_store, tmp_path, inspector, recorded_passes, autojump_clock
):
    """``cleanup --once`` next to a live server runs at once, unless a pass is running —
    or a process died during one, whose lease then runs out within PASS_LEASE_TTL."""
    leases = ThreadFreeLeases()
    scheduled = EngineConfig(cleanup_interval=100)
    on_demand = EngineConfig(cleanup_interval=100, scheduled_cleanup=False)
    catalog_a = with_leases(SqliteCatalog(tmp_path / "a.db"), leases)
    catalog_b = with_leases(SqliteCatalog(tmp_path / "b.db"), leases)
    async with open_engine(blob_store, catalog_a, inspector, scheduled):
        await trio.sleep(101)  # a scheduled pass ran at 100; its instance owns the period
        async with open_engine(blob_store, catalog_b, inspector, on_demand) as other:
            assert not (await other.run_cleanup(wait_for_lease=False)).skipped
            # A process that died in the middle of a pass still holds the pass lease.
            assert await leases.acquire_lease(PASS_LEASE, "crashed-instance", PASS_LEASE_TTL)
            assert (await other.run_cleanup(wait_for_lease=False)).skipped
            started = trio.current_time()
            report = await other.run_cleanup(wait_for_lease=True)
            waited = trio.current_time() - started
    assert not report.skipped
    assert PASS_LEASE_TTL - 2 <= waited <= PASS_LEASE_TTL + 1
    assert [who for _, who in recorded_passes].count(other.instance_id) == 2


async def test_list_after_cleanup_only_shows_live_assets(open_test_engine):
    async with open_test_engine(trash_retention=0) as engine:
        gone = await upload(engine, [b"TXT: gone"])
        live = await upload(engine, [b"TXT: live"])
        await engine.soft_delete(EDITOR, gone.asset_id)
        await engine.run_cleanup()
        page = await engine.list(ADMIN, AssetQuery(customer_id="acme", deleted=None))
        assert [a.asset_id for a in page.items] == [live.asset_id]


async def test_a_pass_that_loses_its_lease_stops(open_test_engine, catalog, monkeypatch):
    leases = ThreadFreeLeases()
    with_leases(catalog, leases)
    later_steps = []

    async def lease_taken_over(self, report):
        await trio.lowlevel.checkpoint()
        leases.holders[PASS_LEASE] = ("another-instance", trio.current_time() + 600)

    async def later_step(self, report):
        later_steps.append(report)

    monkeypatch.setattr(CleanupActor, "_remove_temp", lease_taken_over)
    monkeypatch.setattr(CleanupActor, "_purge_trash", later_step)
    monkeypatch.setattr(CleanupActor, "_remove_orphans", later_step)
    async with open_test_engine() as engine:
        report = await engine.run_cleanup(wait_for_lease=False)
    assert later_steps == []
    assert report.errors == ["the cleanup lease was lost; the pass stopped"]
    assert leases.holders[PASS_LEASE][0] == "another-instance"  # not released by the loser
