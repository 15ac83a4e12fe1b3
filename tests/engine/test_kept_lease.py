"""``engine.leases.kept_lease`` on every catalog adapter: refused while another holder has the
lease, renewed while the work runs however long it takes, the work cancelled (``LeaseLost``)
once another holder took it, the block's own error raised as itself and the lease given back.

Time: Trio's mock clock drives the renewals' sleeps, and the adapters' wall clock
(``time.time``) follows it, so a lease's expiry and its renewals share one timeline. The
autojump waits a little real time before jumping, so that a renewal running in a worker thread
is not overtaken by a jump to its own deadline.
"""

from __future__ import annotations

import time

import pytest
import trio
import trio.testing

from asset_service.engine.catalog import Leases
from asset_service.engine.leases import LeaseHeld, LeaseLost, kept_lease

TTL, RENEW = 10.0, 3.0


@pytest.fixture
def timeline(mock_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch):
    mock_clock.autojump_threshold = 0.05
    base = 1_700_000_000.0
    monkeypatch.setattr(time, "time", lambda: base + mock_clock.current_time())
    return mock_clock


async def test_another_holders_lease_is_refused(catalog: Leases) -> None:
    assert await catalog.acquire_lease("job", "other", TTL)
    with pytest.raises(LeaseHeld):
        async with kept_lease(catalog, "job", "me", ttl=TTL, renew_every=RENEW):
            raise AssertionError("not reached")


async def test_the_blocks_error_is_raised_as_itself_and_the_lease_given_back(
    catalog: Leases,
) -> None:
    with pytest.raises(ValueError, match="the work's own"):
        async with kept_lease(catalog, "job", "me", ttl=TTL, renew_every=RENEW):
            raise ValueError("the work's own error")
    assert await catalog.acquire_lease("job", "other", TTL)


async def test_the_lease_is_kept_while_the_work_runs(catalog: Leases, timeline) -> None:
    async with kept_lease(catalog, "job", "me", ttl=TTL, renew_every=RENEW) as lease:
        await trio.sleep(4 * TTL)  # far past the first expiry: renewals kept it
        assert not await catalog.acquire_lease("job", "other", TTL)
    assert not lease.lost
    assert await catalog.acquire_lease("job", "other", TTL)  # given back at the end


async def test_a_lease_taken_by_another_holder_cancels_the_work(catalog: Leases, timeline) -> None:
    reached_the_end = False
    with pytest.raises(LeaseLost):
        async with kept_lease(catalog, "job", "me", ttl=TTL, renew_every=RENEW) as lease:
            # As if ours had run out unrenewed (a stalled process) and another took it over.
            await catalog.release_lease("job", "me")
            assert await catalog.acquire_lease("job", "other", TTL)
            await trio.sleep(2 * TTL)
            reached_the_end = True
    assert lease.lost and not reached_the_end
    # the successor's lease is left alone
    assert not await catalog.acquire_lease("job", "me", TTL)
