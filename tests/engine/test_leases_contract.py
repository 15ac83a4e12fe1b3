"""The ``Leases`` contract, run against every catalog adapter (``conftest.CATALOGS``): a lease
is taken, refused to another holder while unexpired, renewed by its holder, and released."""

from __future__ import annotations

import time

import pytest

from asset_service.engine.catalog import Leases


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Wall-clock time as the adapters read it (``time.time``), moved by hand."""
    fake = FakeClock(1_700_000_000.0)
    monkeypatch.setattr(time, "time", fake)
    return fake


async def test_lease_take_refuse_renew_expire(catalog: Leases, clock: FakeClock) -> None:
    assert await catalog.acquire_lease("cleanup", "one", ttl=10) is True
    clock.now += 5
    assert await catalog.acquire_lease("cleanup", "two", ttl=10) is False
    assert await catalog.acquire_lease("cleanup", "one", ttl=10) is True  # renewed to +15
    clock.now += 8  # past the first expiry, before the renewed one
    assert await catalog.acquire_lease("cleanup", "two", ttl=10) is False
    clock.now += 2.5  # renewed lease has run out
    assert await catalog.acquire_lease("cleanup", "two", ttl=10) is True
    assert await catalog.acquire_lease("cleanup", "one", ttl=10) is False
    # Leases are independent by name.
    assert await catalog.acquire_lease("other-job", "one", ttl=10) is True


async def test_lease_release(catalog: Leases, clock: FakeClock) -> None:
    assert await catalog.acquire_lease("cleanup", "one", ttl=60) is True
    await catalog.release_lease("cleanup", "two")  # not the holder: no effect
    assert await catalog.acquire_lease("cleanup", "two", ttl=60) is False
    await catalog.release_lease("cleanup", "one")
    assert await catalog.acquire_lease("cleanup", "two", ttl=60) is True
    await catalog.release_lease("never-taken", "one")  # not an error
