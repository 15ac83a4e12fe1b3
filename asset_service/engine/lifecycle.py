"""Opening a backend that several owners share, for the adapters whose ``open`` connects.

A test fixture and the engine, or two engines, may open and close the same adapter: the port
says ``open`` after ``open`` and ``close`` after ``close`` are harmless. ``OpenCount`` keeps
that promise once for every adapter: it connects on the first open, disconnects on the last
close, and a failed connect counts nobody.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio


class OpenCount:
    """How many owners hold an adapter open. Concurrent first opens connect once."""

    def __init__(self) -> None:
        self.holders = 0
        self._connecting = trio.Lock()

    async def open(self, connect: Callable[[], Awaitable[None]]) -> None:
        """Count one more owner, calling ``connect`` first if there was none."""
        async with self._connecting:
            if self.holders == 0:
                await connect()  # raises: nobody is counted, the next open tries again
            self.holders += 1

    async def close(self, disconnect: Callable[[], Awaitable[None]]) -> None:
        """Count one owner fewer, calling ``disconnect`` once the last is gone. Idempotent
        once nobody holds it; takes no lock, so it works under cancellation (shutdown)."""
        if self.holders == 0:
            return
        self.holders -= 1
        if self.holders == 0:
            await disconnect()
