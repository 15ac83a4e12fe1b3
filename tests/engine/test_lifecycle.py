"""``lifecycle.OpenCount``: the shared open/close of the adapters that connect (S3, MongoDB)."""

from __future__ import annotations

import pytest
import trio

from asset_service.engine.lifecycle import OpenCount


class Backend:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.connects = 0
        self.disconnects = 0

    async def connect(self) -> None:
        await trio.lowlevel.checkpoint()  # as a real connect has: another open may run now
        if self.failures:
            self.failures -= 1
            raise ConnectionError("unreachable")
        self.connects += 1

    async def disconnect(self) -> None:
        self.disconnects += 1


async def test_connects_on_the_first_open_and_disconnects_on_the_last_close() -> None:
    count, backend = OpenCount(), Backend()
    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(count.open, backend.connect)
    assert (backend.connects, count.holders) == (1, 3)
    await count.close(backend.disconnect)
    await count.close(backend.disconnect)
    assert backend.disconnects == 0
    await count.close(backend.disconnect)
    await count.close(backend.disconnect)  # one close too many: nothing happens
    assert (backend.disconnects, count.holders) == (1, 0)


async def test_a_failed_connect_counts_nobody() -> None:
    count, backend = OpenCount(), Backend(failures=1)
    with pytest.raises(ConnectionError):
        await count.open(backend.connect)
    assert count.holders == 0
    await count.close(backend.disconnect)
    assert backend.disconnects == 0
    await count.open(backend.connect)
    assert (backend.connects, count.holders) == (1, 1)
